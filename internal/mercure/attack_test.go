package mercure

import (
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
)

// A private update reaches only granted subscribers, whatever the value of
// its private field: its presence makes it private.
func TestPublish_privateAnyValue(t *testing.T) {
	f := newFixture(t, true)
	granted := f.token(map[string]any{"subscribe": []string{"*"}})
	_, anon := f.stream("match=t", nil)
	_, member := f.stream("match=t", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+granted) })
	for _, v := range []string{"on", "true", "1", "", "false", "off", "0"} {
		f.mustPost(url.Values{"topic": {"t"}, "data": {"private " + v}, "private": {v}})
	}
	f.mustPost(url.Values{"topic": {"t"}, "data": {"public"}})
	if e := anon(); e.Data != "public" {
		t.Errorf("the anonymous subscriber got %q first, want only the public update", e.Data)
	}
	for _, v := range []string{"on", "true", "1", "", "false", "off", "0"} {
		if e := member(); e.Data != "private "+v {
			t.Errorf("the granted subscriber got %q, want %q", e.Data, "private "+v)
		}
	}
}

// A publish with the token in the cookie comes from the hub's origin or a
// listed one, or it is refused as a forged cross-site request; with the
// Authorization header, the origin does not matter.
func TestPublish_cookieOrigin(t *testing.T) {
	const app = "https://app.example.com"
	f := newFixture(t, true, func(h *Handler) { h.PublishOrigins = []string{app} })
	tok := f.token(publisher)
	post := func(setup func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader("topic=t&data=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		setup(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: DefaultCookie, Value: tok}) }
	host := strings.TrimPrefix(f.srv.URL, "http://")
	for _, tc := range []struct {
		name   string
		setup  func(*http.Request)
		status int
	}{
		{"cookie, no origin", cookie, 400},
		{"cookie, another site", func(r *http.Request) { cookie(r); r.Header.Set("Origin", "https://evil.example") }, 400},
		{"cookie, another site's referer", func(r *http.Request) { cookie(r); r.Header.Set("Referer", "https://evil.example/page") }, 400},
		{"cookie, the listed origin", func(r *http.Request) { cookie(r); r.Header.Set("Origin", app) }, 200},
		{"cookie, the hub's origin", func(r *http.Request) { cookie(r); r.Header.Set("Origin", "http://"+host) }, 200},
		{"cookie, the hub's referer", func(r *http.Request) { cookie(r); r.Header.Set("Referer", "http://"+host+"/page") }, 200},
		{"header, another site", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Origin", "https://evil.example")
		}, 200},
	} {
		status, challenge := post(tc.setup)
		if status != tc.status || (status == 400 && challenge != `Bearer error="invalid_request"`) {
			t.Errorf("%s: %d %q, want %d", tc.name, status, challenge, tc.status)
		}
	}
}

// Mercure's reservations hold whatever the token grants: the hub's
// namespace however it is spelled, the wildcard as a topic, the hub's
// event type, control and format characters, ids of the hub's shape.
func TestPublish_reserved(t *testing.T) {
	f := newFixture(t, true)
	for _, topic := range []string{
		"/.well-known/mercure", "/.well-known/mercure/subscriptions/exact/a/b",
		"https://hub.example.com/.well-known/mercure/subscriptions/x", "http://other/.well-known/mercure",
		"mercure", "mercure/subscriptions/x", "./mercure/x", // relative to the hub's URL
		"/.well-known/%6Dercure/x", "/.well-known/%6dercure", "/.well-known/foo/../mercure/x", "/.well-known/foo/%2e%2e/mercure/x",
		`https://h\.well-known\mercure\x`, "/.well-known/mercure/%zz", "//h/.well-known/mercure", "HTTPS://h/.well-known/mercure",
		"/.well-known/mercure?x", "/.well-known/mercure#x",
	} {
		status, _, body := f.post(f.token(publisher), url.Values{"topic": {topic}, "data": {"forged"}})
		if status != 400 || !strings.Contains(body, "reserved namespace") {
			t.Errorf("topic %q: %d %q, want 400 for the reserved namespace", topic, status, body)
		}
	}
	for _, topic := range []string{"https://example.com/.well-known/mercurex", "urn:mercure", "/.well-known/Mercure/x", "mercure.rocks", "a/.well-known/mercure"} {
		if status, _, body := f.post(f.token(publisher), url.Values{"topic": {topic}, "data": {"x"}}); status != 200 {
			t.Errorf("topic %q: %d %q, want it published", topic, status, body)
		}
	}
	for _, tc := range []struct {
		name string
		form url.Values
		body string
	}{
		{"the wildcard", url.Values{"topic": {"*"}}, `"*" is the wildcard`},
		{"the hub's type", url.Values{"topic": {"t"}, "type": {"mercure"}}, `"mercure" is reserved`},
		{"a control character in a topic", url.Values{"topic": {"a\u0085b"}}, `Invalid "topic" parameter`},
		{"a format character in a topic", url.Values{"topic": {"a\u200bb"}}, `Invalid "topic" parameter`},
		{"a format character in an id", url.Values{"topic": {"t"}, "id": {"a\u202eb"}}, `Invalid "id" parameter`},
		{"DEL in a type", url.Values{"topic": {"t"}, "type": {"a\x7fb"}}, `Invalid "type" parameter`},
		{"an id of the hub's shape", url.Values{"topic": {"t"}, "id": {generatedID(1, "x")}}, "the ids the hub generates"},
		{"the same, in capitals", url.Values{"topic": {"t"}, "id": {strings.ToUpper(generatedID(1, "x"))}}, "the ids the hub generates"},
		{"earliest", url.Values{"topic": {"t"}, "id": {"earliest"}}, `Invalid "id" parameter`},
		{"data not UTF-8", url.Values{"topic": {"t"}, "data": {"\xff"}}, `Invalid "data" parameter`},
		{"too many topics", url.Values{"topic": strings.Split(strings.Repeat("t,", maxPublishTopics+1), ",")}, "more than 100 topics"},
	} {
		if status, _, body := f.post(f.token(publisher), tc.form); status != 400 || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want 400 with %q", tc.name, status, body, tc.body)
		}
	}
}

// retry is digits, in range, checked before it could overflow.
func TestPublish_retry(t *testing.T) {
	f := newFixture(t, true)
	for _, v := range []string{"-1", "+5", "1.5", "1e3", "soon", "2147483648", "9223372036854775807", "9223372036854776", "18446744073709551616", "99999999999999999999999999"} {
		if status, _, body := f.post(f.token(publisher), url.Values{"topic": {"t"}, "retry": {v}}); status != 400 || !strings.Contains(body, `Invalid "retry" parameter`) {
			t.Errorf("retry %q: %d %q, want 400", v, status, body)
		}
	}
	_, next := f.stream("match=t", nil)
	f.mustPost(url.Values{"topic": {"t"}, "data": {"x"}, "retry": {"2147483647"}})
	if e := next(); e.Retry != herd.MaxRetry {
		t.Errorf("retry %v, want %v", e.Retry, herd.MaxRetry)
	}
}

// costlyPattern is a 850-byte URL pattern whose regexp Go compiles to
// 200 MB of allocations (40 MB kept) when nothing bounds it.
var costlyPattern = "https://example.com/:id((?:" + strings.Repeat("((((a*)*)*)*)*", 60) + "){1000})"

// One small anonymous request with a few dozen costly patterns costs
// little: patterns are measured before they compile, and refused.
func TestSubscribe_patternCost(t *testing.T) {
	f := newFixture(t, true)
	q := url.Values{"match_urlpattern": make([]string, 40)}
	for i := range q["match_urlpattern"] {
		q["match_urlpattern"][i] = costlyPattern + strings.Repeat("x", i) // distinct: no cache hits
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := http.Get(f.srv.URL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a request with %d costly patterns: %d KB allocated", len(q["match_urlpattern"]), allocated>>10)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "too costly") {
		t.Errorf("answer %d %q, want 400: too costly", resp.StatusCode, body)
	}
	if allocated > 16<<20 {
		t.Errorf("%d MB allocated serving one request", allocated>>20)
	}
	// Within bounds, many patterns compile, each once, and the cache
	// stays bounded.
	var ok []string
	for i := range 5000 {
		ok = append(ok, "https://example.com/"+strings.Repeat("n", i%50)+"/:id/"+url.PathEscape(string(rune('a'+i%26)))+"/"+strings.Repeat("x", i/50))
	}
	b := newBudget()
	for _, p := range ok {
		if b.left < maxProgram {
			b = newBudget()
		}
		if _, err := parseSelector(kindURLPattern, p, b); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
	}
	if entries, weight := compiled.len(); entries > 4096 || weight > 256<<10 {
		t.Errorf("the cache holds %d entries, %d instructions", entries, weight)
	}
}

// Subscription events are never stored: subscribers coming and going
// leave the store's log as it was, so they cannot push real history out of
// retention.
func TestSubscriptions_notStored(t *testing.T) {
	f := newFixture(t, true, func(h *Handler) { h.Subscriptions = true })
	mh := f.handler
	f.mustPost(url.Values{"topic": {"t"}, "data": {"history"}})
	before, err := mh.Store.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		resp, err := http.Get(f.srv.URL + "?match=a&match=b&topic=c")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	after, err := mh.Store.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the log went from %+v to %+v", before, after)
	}
}
