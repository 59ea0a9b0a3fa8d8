package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

func newServer(t *testing.T, cfg hub.Config) (*hub.Hub, *httptest.Server) {
	h := newHub(t, cfg, herd.Retention{})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return h, srv
}

type answer struct {
	status int
	header http.Header
	body   map[string]string
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Fatalf("%s %s: answer %d is not a JSON object: %q", req.Method, req.URL.Path, resp.StatusCode, b)
		}
	}
	return a
}

func postForm(t *testing.T, base string, form url.Values, headers ...string) answer {
	req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func postJSON(t *testing.T, base, body string) answer {
	req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func TestHTTP_publishForms(t *testing.T) {
	h, srv := newServer(t, hub.Config{})
	s := subscribe(t, h, "", "**")

	a := postForm(t, srv.URL, url.Values{"topic": {"a"}, "data": {"line 1\nline 2"}, "event": {"note"}, "retry": {"2500"}})
	if a.status != 200 || a.body["id"] == "" {
		t.Fatalf("form publish: %d %v", a.status, a.body)
	}
	e := next(t, s)
	if e.ID != a.body["id"] || e.Data != "line 1\nline 2" || e.Type != "note" || e.Retry != 2500*time.Millisecond {
		t.Errorf("form publish stored %+v", e)
	}

	a = postJSON(t, srv.URL, `{"topic": ["b", "c"], "data": {"n": 1, "ok": true}, "event": "json"}`)
	if a.status != 200 {
		t.Fatalf("JSON publish: %d %v", a.status, a.body)
	}
	if e := next(t, s); e.Data != `{"n":1,"ok":true}` || strings.Join(e.Topics, ",") != "b,c" {
		t.Errorf("JSON publish stored %+v", e)
	}
	postJSON(t, srv.URL, `{"topic": "d", "data": "plain string"}`)
	if e := next(t, s); e.Data != "plain string" {
		t.Errorf("JSON string data stored as %q", e.Data)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("topic", "m")
	mw.WriteField("data", "from curl -F")
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/events", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if a := do(t, req); a.status != 200 {
		t.Fatalf("multipart publish: %d %v", a.status, a.body)
	}
	if e := next(t, s); e.Data != "from curl -F" {
		t.Errorf("multipart publish stored %+v", e)
	}

	// close, with and without data
	if a := postForm(t, srv.URL, url.Values{"topic": {"x"}, "close": {"true"}}); a.status != 200 {
		t.Errorf("close-only publish: %d %v", a.status, a.body)
	}
	if a := postJSON(t, srv.URL, `{"topic": "y", "data": "last", "close": true}`); a.status != 200 {
		t.Errorf("JSON close: %d %v", a.status, a.body)
	}
	if e := next(t, s); !e.Close || e.Data != "last" {
		t.Errorf("wildcard subscriber got %+v, want the data of the closing publish", e)
	}
}

func TestHTTP_idempotencyKey(t *testing.T) {
	_, srv := newServer(t, hub.Config{})
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	a1 := postForm(t, srv.URL, form, "Idempotency-Key", "order-1")
	a2 := postForm(t, srv.URL, form, "Idempotency-Key", "order-1")
	if a1.body["id"] != a2.body["id"] || a2.header.Get("Idempotent-Replayed") != "true" || a1.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first %v %v, replay %v %v", a1.body, a1.header, a2.body, a2.header)
	}
}

// TestHTTP_publishErrors answers every bad publish with its status and a
// message that says what is wrong, and stores nothing.
func TestHTTP_publishErrors(t *testing.T) {
	h, srv := newServer(t, hub.Config{MaxEventSize: 1000, MaxPublishTopics: 2, SettingNames: map[string]string{"MaxEventSize": "--max-event-size"}})
	s := subscribe(t, h, "", "**")
	big := strings.Repeat("x", 1001)
	tests := []struct {
		name   string
		ctype  string
		body   string
		status int
		want   string
	}{
		{"no topic", "form", "data=x", 400, "topic is required"},
		{"empty topic", "form", "topic=&data=x", 400, "empty topic"},
		{"wildcard topic", "form", "topic=a/*&data=x", 400, "wildcards are for subscribing"},
		{"bad segment", "form", "topic=a//b&data=x", 400, "empty segment"},
		{"space in topic", "form", "topic=a+b&data=x", 400, "no spaces"},
		{"no data", "form", "topic=a", 400, "data is required"},
		{"data twice", "form", "topic=a&data=1&data=2", 400, "data given 2 times"},
		{"oversize data", "form", "topic=a&data=" + big, 413, "more than the 1000 allowed (the hub's --max-event-size)"},
		{"oversize body", "form", "topic=a&data=" + strings.Repeat("y", 100<<10), 413, "data may be at most 1000 bytes (the hub's --max-event-size)"},
		{"too many topics", "form", "topic=a&topic=b&topic=c&data=x", 400, "at most 2 per publish (the hub's Config.MaxPublishTopics)"},
		{"bad UTF-8", "form", "topic=a&data=%FF", 400, "not valid UTF-8"},
		{"CR LF in event type", "form", "topic=a&data=x&event=t%0D%0Aevent:%20evil", 400, "event type: contains CR, LF or NUL"},
		{"NUL in event type", "form", "topic=a&data=x&event=t%00", 400, "event type: contains CR, LF or NUL"},
		{"reserved close type", "form", "topic=a&data=x&event=close", 400, "reserved by the hub"},
		{"reserved gap type", "form", "topic=a&data=x&event=gap", 400, "reserved by the hub"},
		{"bad retry", "form", "topic=a&data=x&retry=soon", 400, "retry must be"},
		{"negative retry", "form", "topic=a&data=x&retry=-1", 400, "retry must be"},
		{"bad close", "form", "topic=a&data=x&close=maybe", 400, "close must be true or false"},
		{"bad JSON", "json", `{"topic": "a", "data": `, 400, "bad JSON"},
		{"JSON unknown field", "json", `{"topics": ["a"], "data": "x"}`, 400, `unknown field "topics"`},
		{"JSON topic type", "json", `{"topic": 5, "data": "x"}`, 400, "topic: want a string or an array of strings"},
		{"JSON two values", "json", `{"topic": "a", "data": "x"} {}`, 400, "more than one value"},
		{"JSON negative retry", "json", `{"topic": "a", "data": "x", "retry": -5}`, 400, "retry must be"},
		// One range for retry, from a form and from JSON alike.
		{"retry too long", "form", "topic=a&data=x&retry=2147483648", 400, "from 0 to 2147483647, got \"2147483648\""},
		{"JSON retry too long", "json", `{"topic": "a", "data": "x", "retry": 2147483648}`, 400, "from 0 to 2147483647, got \"2147483648\""},
		{"JSON retry overflowing", "json", `{"topic": "a", "data": "x", "retry": 9223372036854775807}`, 400, "retry must be"},
		{"JSON retry beyond int64", "json", `{"topic": "a", "data": "x", "retry": 99999999999999999999999}`, 400, "retry must be"},
		{"JSON fractional retry", "json", `{"topic": "a", "data": "x", "retry": 1.5}`, 400, "retry must be a whole number"},
		{"JSON exponent retry", "json", `{"topic": "a", "data": "x", "retry": 1e3}`, 400, "retry must be a whole number"},
		{"JSON string retry", "json", `{"topic": "a", "data": "x", "retry": "1500"}`, 400, "retry must be a whole number"},
		{"form plus retry", "form", "topic=a&data=x&retry=%2B5", 400, "retry must be"},
		{"bad UTF-8 event type", "form", "topic=a&data=x&event=%FF", 400, "event type is not valid UTF-8"},
		{"JSON wildcard", "json", `{"topic": ["a", "b/**"], "data": "x"}`, 400, "wildcards are for subscribing"},
		{"no content type", "", "topic=a&data=x", 415, "Content-Type required"},
		// JSON sent as a form (curl -d) or untyped is read as JSON, and
		// so refused as JSON, not as a form without a topic.
		{"JSON as a form, unknown field", "form", `{"topics": ["a"], "data": "x"}`, 400, `bad JSON: json: unknown field "topics"`},
		{"untyped JSON without topic", "", ` {"data": "x"}`, 400, "topic is required"},
		{"text content type", "text/plain", "hello", 415, `Content-Type "text/plain" not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/events", strings.NewReader(tc.body))
			switch tc.ctype {
			case "form":
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			case "json":
				req.Header.Set("Content-Type", "application/json")
			case "":
			default:
				req.Header.Set("Content-Type", tc.ctype)
			}
			a := do(t, req)
			if a.status != tc.status || !strings.Contains(a.body["error"], tc.want) {
				t.Errorf("%d %q, want %d with %q", a.status, a.body["error"], tc.status, tc.want)
			}
			if a.header.Get("Content-Type") != "application/json" {
				t.Errorf("error answered as %q, want JSON", a.header.Get("Content-Type"))
			}
		})
	}
	expectNothing(t, h, s, "a") // nothing half-done
}

// JSON posted as a form (what curl -d sends) or with no Content-Type is
// understood as JSON.
func TestHTTP_publishJSONUntyped(t *testing.T) {
	h, srv := newServer(t, hub.Config{})
	s := subscribe(t, h, "", "a")
	for _, ctype := range []string{"application/x-www-form-urlencoded", ""} {
		req, _ := http.NewRequest("POST", srv.URL+"/events", strings.NewReader(`{"topic": "a", "event": "e", "data": "x+y&z=1 via `+ctype+`"}`))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if a := do(t, req); a.status != 200 || a.body["id"] == "" {
			t.Fatalf("JSON sent as %q: %d %v", ctype, a.status, a.body)
		}
		if e := next(t, s); e.Type != "e" || e.Data != "x+y&z=1 via "+ctype {
			t.Errorf("JSON sent as %q arrived as %+v", ctype, e)
		}
	}
}

func TestHTTP_publishPolicy(t *testing.T) {
	// Without a key: loopback only. httptest requests come from 192.0.2.1.
	h, _ := newServer(t, hub.Config{})
	form := "topic=a&data=x"
	remote := func(h http.Handler, addr string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "http://localhost/events", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = addr
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := remote(h, "192.0.2.1:1234"); w.Code != 403 || !strings.Contains(w.Body.String(), "--publish-key") {
		t.Errorf("remote publish without a key: %d %s", w.Code, w.Body)
	}
	if w := remote(h, "[::1]:1234"); w.Code != 200 {
		t.Errorf("loopback publish: %d %s", w.Code, w.Body)
	}
	// Through a proxy on this machine, a client is not local.
	for _, hdr := range []string{"X-Forwarded-For", "Forwarded"} {
		if w := remote(h, "127.0.0.1:1234", hdr, "203.0.113.9"); w.Code != 403 {
			t.Errorf("publish forwarded by a local proxy (%s): %d %s", hdr, w.Code, w.Body)
		}
	}
	// A page of another origin cannot publish through a trusting hub.
	if w := remote(h, "127.0.0.1:1", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); w.Code != 403 {
		t.Errorf("cross-site browser publish: %d %s", w.Code, w.Body)
	}

	// With a key: the key, from anywhere.
	hk := newHub(t, hub.Config{PublishKey: "s3cret"}, herd.Retention{})
	if w := remote(hk, "127.0.0.1:1"); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), "Authorization: Bearer") {
		t.Errorf("no key: %d %s", w.Code, w.Body)
	}
	if w := remote(hk, "127.0.0.1:1", "Authorization", "Bearer wrong"); w.Code != 401 || !strings.Contains(w.Body.String(), "wrong publish key") {
		t.Errorf("wrong key: %d %s", w.Code, w.Body)
	}
	if w := remote(hk, "127.0.0.1:1", "Authorization", "Basic czNjcmV0"); w.Code != 401 {
		t.Errorf("basic auth: %d %s", w.Code, w.Body)
	}
	if w := remote(hk, "192.0.2.1:1234", "Authorization", "Bearer s3cret"); w.Code != 200 {
		t.Errorf("right key from afar: %d %s", w.Code, w.Body)
	}
}

func TestHTTP_methods(t *testing.T) {
	_, srv := newServer(t, hub.Config{})
	req, _ := http.NewRequest("PUT", srv.URL+"/events", nil)
	if a := do(t, req); a.status != 405 || a.header.Get("Allow") != "GET, HEAD, POST" || a.body["error"] == "" {
		t.Errorf("PUT /events: %d %v %v", a.status, a.header, a.body)
	}
}

func get(t *testing.T, url string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestHTTP_subscribeErrors(t *testing.T) {
	_, srv := newServer(t, hub.Config{MaxSubscribeTopics: 2})
	for path, want := range map[string]string{
		"/events":                         "topic is required",
		"/events?topic=a**":               "whole segments",
		"/events?topic=a/**/b":            "last segment",
		"/events?topic=a&topic=b&topic=c": "too many topics",
	} {
		resp := get(t, srv.URL+path)
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != 400 || !strings.Contains(body["error"], want) {
			t.Errorf("GET %s: %d %v, want 400 with %q", path, resp.StatusCode, body, want)
		}
	}
}

// TestHTTP_stream follows a stream with the sse client: retry hint,
// events with ids, the close ending it, and 204 on a resume after it.
func TestHTTP_stream(t *testing.T) {
	for _, engine := range []bool{true, false} {
		t.Run(map[bool]string{true: "engine", false: "net/http"}[engine], func(t *testing.T) { testHTTP_stream(t, engine) })
	}
}

func testHTTP_stream(t *testing.T, engine bool) {
	h, srv := newServer(t, hub.Config{Retry: 2 * time.Second, NoEngine: !engine})
	resp := get(t, srv.URL+"/events?topic=job/7")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("subscribe: %d %q", resp.StatusCode, ct)
	}
	r := sse.NewReader(resp.Body)
	first := publish(t, h, herd.Message{Topics: []string{"job/7"}, Type: "progress", Data: "50%"})
	end := publish(t, h, herd.Message{Topics: []string{"job/7"}, Data: "100%", Close: true})
	var got []sse.Event
	for e, err := range r.Events() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	want := []sse.Event{
		{ID: first.ID, Type: "progress", Data: "50%"},
		{ID: end.ID, Data: "100%"},
		{ID: end.ID, Type: "close", Data: `{"topics":["job/7"]}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stream:\n%+v\nwant\n%+v", got, want)
	}
	if d := r.Retry(); d < 1500*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("retry hint %v, want 2s ±25%%", d)
	}
	// Resuming from the close or after: 204, which stops browsers.
	if resp := get(t, srv.URL+"/events?topic=job/7", "Last-Event-ID", end.ID); resp.StatusCode != 204 {
		t.Errorf("resume at the close: %d", resp.StatusCode)
	}
	if resp := get(t, srv.URL+"/events?topic=job/7&last_event_id="+url.QueryEscape(end.ID)); resp.StatusCode != 204 {
		t.Errorf("resume at the close (query): %d", resp.StatusCode)
	}
	// From before it: the rest, then the close.
	resp = get(t, srv.URL+"/events?topic=job/7&last_event_id="+url.QueryEscape(first.ID))
	n := 0
	for _, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("resume before the close: %d events, want 2", n)
	}
}

func TestHTTP_headerBeatsQuery(t *testing.T) {
	for _, engine := range []bool{true, false} {
		t.Run(map[bool]string{true: "engine", false: "net/http"}[engine], func(t *testing.T) { testHTTP_headerBeatsQuery(t, engine) })
	}
}

func testHTTP_headerBeatsQuery(t *testing.T, engine bool) {
	h, srv := newServer(t, hub.Config{NoEngine: !engine})
	a := publish(t, h, msg("a", "t"))
	b := publish(t, h, msg("b", "t"))
	publish(t, h, msg("c", "t"))
	resp := get(t, srv.URL+"/events?topic=t&last_event_id="+url.QueryEscape(a.ID), "Last-Event-ID", b.ID)
	e, err := sse.NewReader(resp.Body).Next()
	if err != nil || e.Data != "c" {
		t.Errorf("first event %+v, %v; the Last-Event-ID header must win", e, err)
	}
}

func TestHTTP_heartbeat(t *testing.T) {
	for _, engine := range []bool{true, false} {
		t.Run(map[bool]string{true: "engine", false: "net/http"}[engine], func(t *testing.T) { testHTTP_heartbeat(t, engine) })
	}
}

func testHTTP_heartbeat(t *testing.T, engine bool) {
	_, srv := newServer(t, hub.Config{Heartbeat: 20 * time.Millisecond, NoEngine: !engine})
	resp := get(t, srv.URL+"/events?topic=quiet")
	r := sse.NewReader(resp.Body)
	beats := make(chan string, 10)
	r.OnComment = func(s string) { beats <- s }
	go r.Next()
	for range 3 {
		select {
		case <-beats:
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat")
		}
	}
}

func TestHTTP_topicsAndHealth(t *testing.T) {
	h, srv := newServer(t, hub.Config{})
	s := subscribe(t, h, "", "a")
	_ = subscribe(t, h, "", "*")
	_ = subscribe(t, h, "", "waiting")
	publish(t, h, msg("1", "a"))
	last := publish(t, h, msg("2", "a", "b"))
	closeB := publish(t, h, herd.Message{Topics: []string{"b"}, NoData: true, Close: true})
	expect(t, s, "1", "2")

	resp := get(t, srv.URL+"/topics")
	var topics []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&topics); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(topics)
	want := fmt.Sprint([]map[string]any{
		{"topic": "a", "subscribers": 2.0, "last_id": last.ID, "closed": false, "retained": 2.0},
		{"topic": "b", "subscribers": 1.0, "last_id": closeB.ID, "closed": true, "retained": 2.0},
		{"topic": "waiting", "subscribers": 2.0, "last_id": "", "closed": false, "retained": 0.0},
	})
	if got != want {
		t.Errorf("/topics:\n%s\nwant\n%s", got, want)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp := get(t, srv.URL+path); resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestHTTP_readyz(t *testing.T) {
	store := memory.New(memory.Options{})
	h, srv := newServer(t, hub.Config{Store: store})
	if resp := get(t, srv.URL+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	store.Close()
	resp := get(t, srv.URL+"/readyz")
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 503 || !strings.Contains(body["error"], "store unavailable") {
		t.Errorf("readyz with the store down: %d %v", resp.StatusCode, body)
	}
	if a := postForm(t, srv.URL, url.Values{"topic": {"a"}, "data": {"x"}}); a.status != 503 || !strings.Contains(a.body["error"], "event not acknowledged") {
		t.Errorf("publish with the store down: %d %v", a.status, a.body)
	}
	if resp := get(t, srv.URL+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz with the store down: %d (liveness must not fail)", resp.StatusCode)
	}
	h.Close(t.Context())
	if resp := get(t, srv.URL+"/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz after Close: %d", resp.StatusCode)
	}
}

// TestHTTP_stuckReaders checks that clients that never read are cut off
// with their memory bounded, while a healthy client gets every event.
func TestHTTP_stuckReaders(t *testing.T) {
	for _, engine := range []bool{true, false} {
		t.Run(map[bool]string{true: "engine", false: "net/http"}[engine], func(t *testing.T) { testHTTP_stuckReaders(t, engine) })
	}
}

func testHTTP_stuckReaders(t *testing.T, engine bool) {
	h, srv := newServer(t, hub.Config{QueueBytes: 256 << 10, WriteTimeout: 500 * time.Millisecond, NoEngine: !engine})
	const stuck = 20
	addr := srv.Listener.Addr().String()
	for range stuck {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(conn, "GET /events?topic=big HTTP/1.1\r\nHost: localhost\r\n\r\n")
	}
	healthy := get(t, srv.URL+"/events?topic=big")
	r := sse.NewReader(healthy.Body)
	waitFor(t, func() bool { return countSubs(t, srv.URL, "big") == stuck+1 })

	// The publisher goes at the healthy client's pace; the stuck clients'
	// queues fill and they are cut off, without holding either back.
	payload := strings.Repeat("z", 32<<10)
	for i := range 200 {
		publish(t, h, msg(payload, "big"))
		e, err := r.Next()
		if err != nil || e.Data != payload {
			t.Fatalf("healthy client, event %d: %v", i, err)
		}
	}
	waitFor(t, func() bool { return countSubs(t, srv.URL, "big") == 1 })
}

func countSubs(t *testing.T, base, topic string) int {
	resp := get(t, base+"/topics")
	var topics []struct {
		Topic       string
		Subscribers int
	}
	json.NewDecoder(resp.Body).Decode(&topics)
	for _, ts := range topics {
		if ts.Topic == topic {
			return ts.Subscribers
		}
	}
	return 0
}

// waitFor polls cond until it holds, failing after 20 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 400 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met within 20s")
}

// TestStats counts open subscriptions, those the engine holds, publishes
// and why subscriptions ended.
func TestStats(t *testing.T) {
	for _, engine := range []bool{true, false} {
		t.Run(map[bool]string{true: "engine", false: "net/http"}[engine], func(t *testing.T) {
			h, srv := newServer(t, hub.Config{NoEngine: !engine})
			a := get(t, srv.URL+"/events?topic=a")
			b := get(t, srv.URL+"/events?topic=b")
			waitFor(t, func() bool { return h.Stats().Subscribers == 2 })
			parked := 0
			if engine && runtime.GOOS == "linux" {
				parked = 2
			}
			// The engine adopts a stream after its headers are out.
			waitFor(t, func() bool { return h.Stats().Parked == parked })
			publish(t, h, herd.Message{Topics: []string{"b"}, Data: "x", Close: true})
			for range sse.Read(b.Body) {
			}
			a.Body.Close()
			waitFor(t, func() bool { return h.Stats().Subscribers == 0 })
			st := h.Stats()
			if st.Parked != 0 || st.Published != 1 || st.Ended["client"] != 1 || st.Ended["topic_closed"] != 1 || st.Ended["slow"] != 0 {
				t.Errorf("stats %+v: want nothing parked, 1 published, 1 ended by the client, 1 by a close", st)
			}
			// b got the event and the close; a resumed stream replays both.
			// The event is 'id: …\ndata: x\n\n', the close carries data too.
			if st.Delivered != 2 || st.Replayed != 0 || st.BytesWritten < 20 || st.QueueHighWater < 1 {
				t.Errorf("stats %+v: want 2 delivered, none replayed, some bytes, a queue of 1", st)
			}
			if l := st.PublishLatency; l.Count != 1 || l.Buckets[len(l.Buckets)-1] != 1 || l.Sum <= 0 {
				t.Errorf("publish latency %+v: want one observation", l)
			}
			r := get(t, srv.URL+"/events?topic=b&last_event_id=earliest")
			for range sse.Read(r.Body) {
			}
			if st := h.Stats(); st.Replayed != 2 || st.Delivered != 4 {
				t.Errorf("after a replay: %+v", st)
			}
		})
	}
}

// TestHTTP_dnsRebinding: a page whose domain was rebound to 127.0.0.1
// sends its own domain as Host. From this machine such a request is
// refused for everything, not only publishing; names of this machine,
// and requests a proxy forwards, pass.
func TestHTTP_dnsRebinding(t *testing.T) {
	h := newHub(t, hub.Config{AllowedHosts: []string{"Hub.Test"}}, herd.Retention{})
	send := func(method, host, path, body string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://"+host+path, strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:4321"
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, host := range []string{"rebind.evil.example", "rebind.evil.example:8080", "localhost.evil.example"} {
		for _, r := range [][2]string{{"POST", "/events"}, {"GET", "/topics"}, {"GET", "/healthz"}} {
			body := ""
			if r[0] == "POST" {
				body = "topic=a&data=x"
			}
			if w := send(r[0], host, r[1], body); w.Code != 403 || !strings.Contains(w.Body.String(), "--allowed-hosts") {
				t.Errorf("%s %s with Host %s from loopback: %d %s", r[0], r[1], host, w.Code, w.Body)
			}
		}
	}
	for _, host := range []string{"localhost:8080", "LOCALHOST.", "app.localhost", "127.0.0.1:8080", "[::1]:8080", "hub.test", "HUB.TEST:9"} {
		if w := send("POST", host, "/events", "topic=a&data=x"); w.Code != 200 {
			t.Errorf("publish with Host %s from loopback: %d %s", host, w.Code, w.Body)
		}
	}
	// A proxy forwards the public name: the request is served, as a
	// remote one (not trusted to publish without a key).
	if w := send("GET", "hub.example.com", "/topics", "", "X-Forwarded-For", "203.0.113.9"); w.Code != 200 {
		t.Errorf("forwarded request: %d %s", w.Code, w.Body)
	}
	if w := send("POST", "hub.example.com", "/events", "topic=a&data=x", "X-Forwarded-For", "203.0.113.9"); w.Code != 403 || !strings.Contains(w.Body.String(), "this machine only") {
		t.Errorf("forwarded publish: %d %s", w.Code, w.Body)
	}
	if _, err := hub.New(hub.Config{Store: memory.New(memory.Options{}), AllowedHosts: []string{"http://x"}}); err == nil {
		t.Error("an allowed host with a scheme was accepted")
	}
}

// TestHTTP_closedTopic: a publish to a closed topic is refused with 409.
func TestHTTP_closedTopic(t *testing.T) {
	_, srv := newServer(t, hub.Config{})
	if a := postForm(t, srv.URL, url.Values{"topic": {"job/1"}, "close": {"true"}}); a.status != 200 {
		t.Fatalf("close: %d %v", a.status, a.body)
	}
	for _, form := range []url.Values{{"topic": {"job/1"}, "data": {"late"}}, {"topic": {"job/2", "job/1"}, "data": {"late"}}} {
		if a := postForm(t, srv.URL, form); a.status != 409 || a.body["error"] != `topic "job/1" is closed: a closed topic takes no more events (publish to a new topic, or reopen this one: herd reopen job/1)` {
			t.Errorf("publish %v to a closed topic: %d %v", form["topic"], a.status, a.body)
		}
	}
	if a := postJSON(t, srv.URL, `{"topic": "job/2", "data": "open"}`); a.status != 200 {
		t.Errorf("job/2 is open: %d %v", a.status, a.body)
	}
}

// TestLocalCaller: a Local route (herd serve's /metrics) serves this
// machine (loopback, not forwarded, naming this machine) or the publish
// key's bearer.
func TestLocalCaller(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := newHub(t, hub.Config{PublishKey: "key", AllowedHosts: []string{"hub.test"}}, herd.Retention{})
	guarded, err := h.Mount(hub.Route{Pattern: "GET /metrics", Caller: hub.Local, Origins: hub.SameOrigin, Query: hub.NoQuery,
		Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.JSON, Doc: "metrics", Handler: ok})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, auth, host string
		want               int
	}{
		{"127.0.0.1:1", "forwarded", "localhost", 403},
		{"192.0.2.1:1", "", "localhost", 403},
		{"192.0.2.1:1", "Bearer wrong", "localhost", 403},
		{"192.0.2.1:1", "Bearer key", "localhost", 200},
		{"[::1]:1", "", "localhost", 200},
		{"[::1]:1", "", "[::1]:8080", 200},
		{"127.0.0.1:1", "", "127.0.0.1", 200},
		{"127.0.0.1:1", "", "app.localhost:8080", 200},
		{"127.0.0.1:1", "", "HUB.test:8080", 200},
		{"127.0.0.1:1", "", "rebind.evil.example", 403},           // DNS rebinding
		{"127.0.0.1:1", "Bearer key", "rebind.evil.example", 403}, // every route refuses a rebound host
	} {
		req := httptest.NewRequest("GET", "http://"+tc.host+"/metrics", nil)
		req.RemoteAddr = tc.remote
		switch tc.auth {
		case "":
		case "forwarded":
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
		default:
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%+v: %d %s", tc, rec.Code, rec.Body)
		}
	}
}
