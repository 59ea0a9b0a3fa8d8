package mercure

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

const secret = "!ChangeThisMercureHubJWTSecretKey!"

type fixture struct {
	t       testing.TB
	srv     *httptest.Server
	signer  *jwt.Signer
	handler *Handler
}

func newFixture(t testing.TB, anonymous bool, options ...func(*Handler)) *fixture {
	return newFixtureHub(t, hub.Config{}, anonymous, options...)
}

// newFixtureHub is newFixture on a hub configured by cfg (its store is
// set here).
func newFixtureHub(t testing.TB, cfg hub.Config, anonymous bool, options ...func(*Handler)) *fixture {
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // last: the clients' kept-alive connections
	store := memory.New(memory.Options{})
	t.Cleanup(func() { store.Close() })
	cfg.Store = store
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.Close(ctx)
	})
	keys, _ := jwt.HMACKey(secret)
	mh := &Handler{Hub: h, Store: store, Anonymous: anonymous, MaxDataSize: 1000}
	mh.SetKeys(Keys{Publisher: keys, Subscriber: keys})
	for _, o := range options {
		o(mh)
	}
	srv := httptest.NewServer(mh)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	signer, _ := jwt.HMACSigner(secret)
	return &fixture{t: t, srv: srv, signer: signer, handler: mh}
}

// token signs a Mercure claim.
func (f *fixture) token(claim map[string]any) string {
	tok, err := f.signer.SignPayload(map[string]any{"mercure": claim})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

var publisher = map[string]any{"publish": []string{"*"}}

// post publishes a form with a token and returns the status and body.
func (f *fixture) post(token string, form url.Values) (int, string, string) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func (f *fixture) mustPost(form url.Values) string {
	f.t.Helper()
	status, _, body := f.post(f.token(publisher), form)
	if status != 200 {
		f.t.Fatalf("publish %v: %d %s", form, status, body)
	}
	return body
}

// stream subscribes with a query and request options.
func (f *fixture) stream(query string, setup func(*http.Request)) (*http.Response, func() sse.Event) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.t.Context())
	f.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"?"+query, nil)
	if setup != nil {
		setup(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	r := sse.NewReader(resp.Body)
	return resp, func() sse.Event {
		f.t.Helper()
		e, err := r.Next()
		if err != nil {
			f.t.Fatalf("reading the stream: %v", err)
		}
		return e
	}
}

func TestPublish_errors(t *testing.T) {
	f := newFixture(t, true)
	ok := url.Values{"topic": {"https://example.com/books/1"}, "data": {"x"}}
	for _, tc := range []struct {
		name   string
		token  string
		form   url.Values
		status int
		body   string
	}{
		{"no token", "", ok, 401, "Unauthorized"},
		{"bad token", "a.b.c", ok, 401, "Unauthorized"},
		{"wrong key", func() string {
			s, _ := jwt.HMACSigner(strings.Repeat("k", 40))
			tok, _ := s.SignPayload(map[string]any{"mercure": publisher})
			return tok
		}(), ok, 401, "Unauthorized"},
		{"no Mercure claim", f.signerToken(map[string]any{"herd": map[string]any{"publish": []string{"**"}}}), ok, 403, "Forbidden"},
		{"topic not granted", f.token(map[string]any{"publish": []string{"https://example.com/books/2"}}), ok, 403, "Forbidden"},
		{"one topic of two not granted", f.token(map[string]any{"publish": []string{"https://example.com/books/{id}"}}),
			url.Values{"topic": {"https://example.com/books/1", "https://example.com/authors/1"}, "data": {"x"}}, 403, "Forbidden"},
		{"no topic", f.token(publisher), url.Values{"data": {"x"}}, 400, `Missing "topic" parameter`},
		{"bad retry", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "retry": {"soon"}}, 400, `Invalid "retry" parameter`},
		{"negative retry", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "retry": {"-1"}}, 400, `Invalid "retry" parameter`},
		{"id with a newline", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "id": {"1\nevent: evil"}}, 400, `Invalid "id" parameter`},
		{"id not UTF-8", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "id": {"0\xe8"}}, 400, `Invalid "id" parameter`},
		{"id with a control character", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "id": {"a\x03b"}}, 400, `Invalid "id" parameter`},
		{"id starting with #", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "id": {"#1"}}, 400, `Invalid "id" parameter`},
		{"type with a newline", f.token(publisher), url.Values{"topic": {"a"}, "data": {"x"}, "type": {"t\r\ndata: evil"}}, 400, `Invalid "type" parameter`},
		{"too much data", f.token(publisher), url.Values{"topic": {"a"}, "data": {strings.Repeat("x", 1001)}}, 413, "Request Entity Too Large"},
		{"topic too long", f.token(publisher), url.Values{"topic": {strings.Repeat("t", 300)}, "data": {"x"}}, 400, `Invalid "topic" parameter`},
	} {
		status, ctype, body := f.post(tc.token, tc.form)
		if status != tc.status || !strings.HasPrefix(ctype, "text/plain") || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q %q, want %d with %q", tc.name, status, ctype, body, tc.status, tc.body)
		}
	}
	req, _ := http.NewRequest("PUT", f.srv.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("PUT: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
}

func (f *fixture) signerToken(payload map[string]any) string {
	tok, err := f.signer.SignPayload(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func TestSubscribe_errors(t *testing.T) {
	f := newFixture(t, false)
	subscriber := "Bearer " + f.token(map[string]any{"subscribe": []string{"*"}})
	for _, tc := range []struct {
		query, auth string
		status      int
		body        string
	}{
		{"match=a", "", 401, "Unauthorized"}, // anonymous off
		{"match=a", "Bearer not.a.token", 401, "Unauthorized"},
		{"match=a", "Basic dXNlcjpwYXNz", 400, "invalid_request"},
		{"", subscriber, 400, `Missing "match" parameter`},
		{"match_urlpattern=https://x/:a([", subscriber, 400, `Invalid "match_urlpattern" parameter`},
		{"topic=https://x/{id", subscriber, 400, `Invalid "topic" parameter`},
		{"match_regexp=a", subscriber, 400, `Invalid "match_regexp" parameter: no such matcher type`},
		{"Match=a", subscriber, 400, `Invalid "Match" parameter`},
		{"match=a%00b", subscriber, 400, `Invalid "match" parameter`},
		{"match=a%E2%80%AEb", subscriber, 400, `Invalid "match" parameter`}, // U+202E, a format character
		{"match=", subscriber, 400, `Invalid "match" parameter: "": empty value`},
		{"match=" + strings.Repeat("a", maxSelector+1), subscriber, 400, `Invalid "match" parameter`},
		{strings.Repeat("match=a&", maxSelectors) + "match_urlpattern=b", subscriber, 400, "more than 100 matchers"},
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+"?"+tc.query, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b)+resp.Header.Get("WWW-Authenticate"), tc.body) {
			t.Errorf("GET ?%.80s: %d %q, want %d with %q", tc.query, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}

// A subscriber gets what its selectors match, with the publisher's id,
// type and retry; private updates only with a token granting them,
// carried in the header, the cookie or the query.
func TestSubscribe(t *testing.T) {
	f := newFixture(t, true)
	anon, nextAnon := f.stream("topic=https://example.com/books/{id}&match=other", nil)
	if anon.StatusCode != 200 {
		t.Fatalf("anonymous subscribe: %d", anon.StatusCode)
	}
	subscriber := f.token(map[string]any{"subscribe": []string{"https://example.com/books/{id}"}})
	var private []func() sse.Event
	for _, setup := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+subscriber) },
		func(r *http.Request) { r.AddCookie(&http.Cookie{Name: DefaultCookie, Value: subscriber}) },
		func(r *http.Request) { r.AddCookie(&http.Cookie{Name: LegacyCookie, Value: subscriber}) },
		func(r *http.Request) { r.Header.Set("Authorization", "bearer "+subscriber) }, // the scheme in any case
		func(r *http.Request) { r.URL.RawQuery += "&authorization=" + subscriber },
	} {
		_, next := f.stream("match_urlpattern=https://example.com/books/:id", setup)
		private = append(private, next)
	}

	f.mustPost(url.Values{"topic": {"https://example.com/authors/1"}, "data": {"not matched"}})
	f.mustPost(url.Values{"topic": {"https://example.com/books/1"}, "data": {"secret"}, "private": {"on"}})
	id := f.mustPost(url.Values{"topic": {"https://example.com/books/1", "https://example.com/books"}, "data": {"line 1\nline 2"},
		"id": {"urn:uuid:1"}, "type": {"book"}, "retry": {"1500"}})
	if id != "urn:uuid:1" {
		t.Errorf("publish answered %q, want the publisher's id", id)
	}
	if e := nextAnon(); e.ID != "urn:uuid:1" || e.Type != "book" || e.Data != "line 1\nline 2" {
		t.Errorf("anonymous subscriber got %+v, want the public update", e)
	}
	for i, next := range private {
		if e := next(); e.Data != "secret" {
			t.Errorf("subscriber %d got %+v first, want the private update", i, e)
		}
		if e := next(); e.ID != "urn:uuid:1" {
			t.Errorf("subscriber %d got %+v second", i, e)
		}
	}
}

// Resume: after a publisher's id, after a generated id, from the
// earliest, with the header or either query parameter; each answered with
// Mercure-Last-Event-ID. An id published twice is two updates, and a
// resume after it starts after the first. A publisher's id is found in
// the hub's replay cache, or without it through the store.
func TestResume(t *testing.T) {
	t.Run("replay cache", func(t *testing.T) { testResume(t, newFixture(t, true)) })
	t.Run("store", func(t *testing.T) { testResume(t, newFixtureHub(t, hub.Config{ReplayCache: -1}, true)) })
}

func testResume(t *testing.T, f *fixture) {
	topic := url.Values{"topic": {"t"}}
	with := func(data, id string) url.Values {
		v := url.Values{"topic": topic["topic"], "data": {data}}
		if id != "" {
			v.Set("id", id)
		}
		return v
	}
	f.mustPost(with("one", "id-1"))
	generated := f.mustPost(with("two", ""))
	if _, _, ok := parseGenerated(generated); !ok {
		t.Errorf("generated id %q is not of herd's urn:uuid shape", generated)
	}
	f.mustPost(with("three", "id-3"))
	if again := f.mustPost(with("three again", "id-3")); again != "id-3" {
		t.Errorf("a repeated id answered %q", again)
	}
	for _, tc := range []struct {
		name   string
		setup  func(*http.Request)
		query  string
		want   []string
		answer string
	}{
		{"header, publisher's id", func(r *http.Request) { r.Header.Set("Last-Event-ID", "id-1") }, "match=t", []string{"two", "three", "three again"}, "id-1"},
		{"last_event_id, generated id", nil, "match=t&last_event_id=" + url.QueryEscape(generated), []string{"three", "three again"}, generated},
		{"0.x lastEventID", nil, "topic=t&lastEventID=" + url.QueryEscape(generated), []string{"three"}, generated},
		{"earliest", nil, "match=t&last_event_id=earliest", []string{"one", "two", "three"}, "earliest"},
		{"header wins", func(r *http.Request) { r.Header.Set("Last-Event-ID", "id-1") }, "match=t&last_event_id=earliest", []string{"two"}, "id-1"},
	} {
		resp, next := f.stream(tc.query, tc.setup)
		if got := resp.Header.Get("Mercure-Last-Event-ID"); got != tc.answer {
			t.Errorf("%s: Mercure-Last-Event-ID %q, want %q", tc.name, got, tc.answer)
		}
		for _, want := range tc.want {
			if e := next(); e.Data != want {
				t.Errorf("%s: got %q, want %q", tc.name, e.Data, want)
				break
			}
		}
	}
	// A live update after a resume arrives too; after a repeated id, the
	// resume starts after its first update.
	_, next := f.stream("match=t", func(r *http.Request) { r.Header.Set("Last-Event-ID", "id-3") })
	f.mustPost(with("four", "")) // the subscription is open once its response has begun
	for _, w := range []string{"three again", "four"} {
		if e := next(); e.Data != w {
			t.Errorf("after id-3: %q, want %q", e.Data, w)
		}
	}
}

// An unknown id resumes live only, and says so: Mercure-Last-Event-ID is
// earliest, not the id echoed back.
func TestResume_unknown(t *testing.T) {
	f := newFixture(t, true)
	_, first := f.stream("match=t", nil)
	f.mustPost(url.Values{"topic": {"t"}, "data": {"old"}})
	first() // dispatched: a live subscription starts after it
	for _, id := range []string{"never-published", generatedID(999, "other-store-1"), "urn:uuid:00000000-0000-4000-8000-000000000000"} {
		resp, next := f.stream("match=t", func(r *http.Request) { r.Header.Set("Last-Event-ID", id) })
		if got := resp.Header.Get("Mercure-Last-Event-ID"); got != "earliest" {
			t.Errorf("%q: Mercure-Last-Event-ID %q, want earliest", id, got)
		}
		f.mustPost(url.Values{"topic": {"t"}, "data": {"live " + id}})
		if e := next(); e.Data != "live "+id {
			t.Errorf("%q: got %q, want the live update only", id, e.Data)
		}
	}
	resp, _ := f.stream("match=t&last_event_id=", nil)
	if got := resp.Header.Get("Mercure-Last-Event-ID"); got != "earliest" {
		t.Errorf("an empty last_event_id: Mercure-Last-Event-ID %q, want earliest", got)
	}
	resp, _ = f.stream("match=t", nil)
	if got, ok := resp.Header["Mercure-Last-Event-Id"]; ok {
		t.Errorf("no resume asked: Mercure-Last-Event-ID %q", got)
	}
}

// laggingStats is a store whose Stats lag behind its log, as NATS's do
// (it caches them for seconds): here they never show any topic.
type laggingStats struct{ herd.Store }

func (laggingStats) Stats(context.Context) ([]herd.TopicStats, error) { return nil, nil }

// A publisher's id resumes where it was published, however far the
// store's Stats lag: it was resumed live only, losing what followed it.
func TestResume_laggingStats(t *testing.T) {
	f := newFixture(t, true, func(h *Handler) { h.Store = laggingStats{h.Store} })
	_, watch := f.stream("match=t", nil)
	f.mustPost(url.Values{"topic": {"t"}, "data": {"one"}, "id": {"id-1"}})
	f.mustPost(url.Values{"topic": {"t"}, "data": {"two"}})
	watch()
	watch() // both dispatched, so in the replay cache
	_, next := f.stream("topic=t", func(r *http.Request) { r.Header.Set("Last-Event-ID", "id-1") })
	f.mustPost(url.Values{"topic": {"t"}, "data": {"three"}})
	for _, want := range []string{"two", "three"} {
		if e := next(); e.Data != want {
			t.Fatalf("after id-1: got %q, want %q", e.Data, want)
		}
	}
}

// Mercure 1.0's token form: RFC 9396 authorization details.
func TestAuthorizationDetails(t *testing.T) {
	f := newFixture(t, false)
	detail := func(action string, topics ...map[string]string) map[string]any {
		return map[string]any{"type": jwt.MercureDetailType, "actions": []string{action}, "topics": topics}
	}
	tok := f.signerToken(map[string]any{"authorization_details": []any{
		detail("publish", map[string]string{"match": "*"}),
		detail("subscribe", map[string]string{"match": "https://example.net/foo/:id", "match_type": "urlpattern"}),
	}})
	_, next := f.stream("match=https://example.net/foo/1", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	if status, _, body := f.post(tok, url.Values{"topic": {"https://example.net/foo/1"}, "data": {"private"}, "private": {"on"}}); status != 200 {
		t.Fatalf("publish with authorization details: %d %s", status, body)
	}
	if e := next(); e.Data != "private" {
		t.Errorf("got %+v", e)
	}
}

// With subscriptions on, a subscription's start and end are private
// updates to its subscription IRI, and the API lists what is open, to
// tokens granting it.
func TestSubscriptions(t *testing.T) {
	f := newFixture(t, true, func(h *Handler) { h.Subscriptions = true })
	watcher := f.token(map[string]any{"subscribe": []string{subscriptionsPath + "{/topic}{/subscriber}"}})
	_, next := f.stream("topic="+url.QueryEscape(subscriptionsPath+"{/topic}{/subscriber}"), func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+watcher)
	})
	// The watcher's own subscription is announced first.
	if e := next(); !strings.Contains(e.Data, `"active":true`) {
		t.Fatalf("the watcher's own subscription: %q", e.Data)
	}

	ctx, cancel := context.WithCancel(t.Context())
	payload := f.token(map[string]any{"subscribe": []string{"books/1"}, "payload": map[string]string{"user": "ann"}})
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"?topic=books/1", nil)
	req.Header.Set("Authorization", "Bearer "+payload)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started subscription
	if err := json.Unmarshal([]byte(next().Data), &started); err != nil || !started.Active || started.Topic != "books/1" ||
		!strings.HasPrefix(started.Subscriber, "urn:uuid:") || string(started.Payload) != `{"user":"ann"}` ||
		started.ID != subscriptionsPath+"/books%2F1/"+escapeSegment(started.Subscriber) || started.Type != "Subscription" {
		t.Fatalf("subscription started: %+v %v", started, err)
	}

	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, list := get(subscriptionsPath, watcher)
	if status != 200 || list["type"] != "subscriptions" || len(list["subscriptions"].([]any)) != 2 {
		t.Errorf("the subscriptions: %d %v", status, list)
	}
	status, one := get(started.ID, watcher)
	if status != 200 || one["subscriber"] != started.Subscriber {
		t.Errorf("one subscription: %d %v", status, one)
	}
	status, one = get(subscriptionsPath+"/books%2F1", watcher) // 0.x: the collection for a topic
	if status != 200 || len(one["subscriptions"].([]any)) != 1 {
		t.Errorf("the subscriptions of a topic: %d %v", status, one)
	}
	if status, _ := get(subscriptionsPath, ""); status != 401 {
		t.Errorf("without a token: %d", status)
	}
	if status, _ := get(subscriptionsPath, payload); status != 403 {
		t.Errorf("with a token not granting it: %d", status)
	}

	cancel() // the subscriber leaves
	resp.Body.Close()
	var ended subscription
	if err := json.Unmarshal([]byte(next().Data), &ended); err != nil || ended.Active || ended.ID != started.ID {
		t.Fatalf("subscription ended: %+v %v", ended, err)
	}
	if status, _ := get(started.ID, watcher); status != 404 {
		t.Errorf("an ended subscription: %d, want 404", status)
	}
}
