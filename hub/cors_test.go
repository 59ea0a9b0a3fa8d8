package hub_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	listed := newHub(t, hub.Config{AllowedOrigins: []string{app, "http://localhost:3000"}, PublishKey: "k"}, herd.Retention{})
	public := newHub(t, hub.Config{AllowedOrigins: []string{"*"}, PublishKey: "k"}, herd.Retention{})
	closed := newHub(t, hub.Config{PublishKey: "k"}, herd.Retention{})
	type want struct {
		status           int
		allowOrigin      string
		credentials      bool
		methods, headers string
		errorText        string
	}
	for _, tc := range []struct {
		name    string
		h       *hub.Hub
		method  string
		path    string
		headers []string
		want    want
	}{
		{"listed subscribe", listed, "GET", "/healthz", []string{"Origin", app}, want{status: 200, allowOrigin: app, credentials: true}},
		{"listed preflight for Last-Event-ID", listed, "OPTIONS", "/events?topic=a", []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "last-event-id,hx-request"},
			want{status: 204, allowOrigin: app, credentials: true, methods: "GET, POST", headers: "last-event-id,hx-request"}},
		{"listed preflight for a JSON publish", listed, "OPTIONS", "/events", []string{"Origin", "http://localhost:3000", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,authorization"},
			want{status: 204, allowOrigin: "http://localhost:3000", credentials: true, methods: "GET, POST", headers: "content-type,authorization"}},
		{"listed preflight for Datastar", listed, "OPTIONS", "/events?topic=a", []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "datastar-request,content-type,last-event-id"},
			want{status: 204, allowOrigin: app, credentials: true, methods: "GET, POST", headers: "datastar-request,content-type,last-event-id"}},
		{"preflight asking for a malformed header", listed, "OPTIONS", "/events", []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-a\r\nx: y"},
			want{status: 204, allowOrigin: app, credentials: true, methods: "GET, POST"}},
		{"listed publish", listed, "POST", "/events", []string{"Origin", app, "Sec-Fetch-Site", "cross-site", "Authorization", "Bearer k", "Content-Type", "application/x-www-form-urlencoded"},
			want{status: 200, allowOrigin: app, credentials: true}},
		{"preflight for DELETE", listed, "OPTIONS", "/events", []string{"Origin", app, "Access-Control-Request-Method", "DELETE"}, want{status: 405, allowOrigin: app, credentials: true, errorText: "method DELETE not allowed"}},
		{"unlisted subscribe", listed, "GET", "/healthz", []string{"Origin", "https://evil.example"}, want{status: 403, errorText: "origin https://evil.example may not use this hub"}},
		{"unlisted preflight", listed, "OPTIONS", "/events", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, want{status: 403, errorText: "--cors-origins"}},
		{"same origin by Sec-Fetch-Site", listed, "GET", "/healthz", []string{"Origin", "https://hub.example", "Sec-Fetch-Site", "same-origin"}, want{status: 200}},
		{"same origin by Host", listed, "GET", "/healthz", []string{"Origin", "http://example.com"}, want{status: 200}},
		{"any origin subscribes", public, "GET", "/healthz", []string{"Origin", "https://any.example"}, want{status: 200, allowOrigin: "*"}},
		{"any origin preflight GET", public, "OPTIONS", "/events", []string{"Origin", "https://any.example", "Access-Control-Request-Method", "GET"}, want{status: 204, allowOrigin: "*", methods: "GET"}},
		{"any origin may not publish", public, "POST", "/events", []string{"Origin", "https://any.example", "Authorization", "Bearer k"}, want{status: 403, errorText: "* allows subscribing only"}},
		{"any origin preflight POST", public, "OPTIONS", "/events", []string{"Origin", "https://any.example", "Access-Control-Request-Method", "POST"}, want{status: 403, errorText: "publishing"}},
		{"no list: no CORS headers", closed, "GET", "/healthz", []string{"Origin", "https://any.example"}, want{status: 200}},
		{"no list: cross-site publish refused", closed, "POST", "/events", []string{"Origin", "https://any.example", "Sec-Fetch-Site", "cross-site", "Authorization", "Bearer k", "Content-Type", "application/x-www-form-urlencoded"}, want{status: 403}},
	} {
		body := strings.NewReader("")
		if tc.method == "POST" {
			body = strings.NewReader("topic=a&data=x")
		}
		req := httptest.NewRequest(tc.method, tc.path, body)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			req.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		req.RemoteAddr = "192.0.2.1:1"
		w := httptest.NewRecorder()
		tc.h.ServeHTTP(w, req)
		h := w.Header()
		got := want{status: w.Code, allowOrigin: h.Get("Access-Control-Allow-Origin"), credentials: h.Get("Access-Control-Allow-Credentials") == "true",
			methods: h.Get("Access-Control-Allow-Methods"), headers: h.Get("Access-Control-Allow-Headers")}
		if tc.want.errorText != "" && strings.Contains(w.Body.String(), tc.want.errorText) {
			got.errorText = tc.want.errorText
		}
		if got != tc.want {
			t.Errorf("%s: got %+v (%s), want %+v", tc.name, got, strings.TrimSpace(w.Body.String()), tc.want)
		}
		if got.allowOrigin != "" && !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("%s: no Vary: Origin", tc.name)
		}
	}
}

func TestCORS_badOrigins(t *testing.T) {
	for _, o := range []string{"app.example.com", "ftp://x", "https://x/path", "https://user@x", "https://x?q"} {
		_, err := hub.New(hub.Config{Store: memory.New(memory.Options{}), AllowedOrigins: []string{o}})
		if err == nil || !strings.Contains(err.Error(), "want scheme://host") {
			t.Errorf("origin %q: %v", o, err)
		}
	}
	if _, err := hub.New(hub.Config{Store: memory.New(memory.Options{}), AllowedOrigins: []string{"*", "http://localhost:3000"}}); err != nil {
		t.Errorf("valid origins: %v", err)
	}
}

// A page of another origin that gets nothing is named in the log, once
// per origin, with the setting that lets it in: the browser tells the page
// nothing it can show, so the hub says it.
func TestCORS_explained(t *testing.T) {
	var log strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return log.Write(p)
	}), nil))
	open := newHub(t, hub.Config{Logger: logger, SettingNames: map[string]string{"AllowedOrigins": "--cors-origins"}}, herd.Retention{})
	listed := newHub(t, hub.Config{Logger: logger, AllowedOrigins: []string{"https://app.example"}, SettingNames: map[string]string{"AllowedOrigins": "--cors-origins"}}, herd.Retention{})
	for _, tc := range []struct {
		h      *hub.Hub
		origin string
	}{
		{open, "https://page.example"}, {open, "https://page.example"}, {open, "null"},
		{listed, "https://evil.example"}, {listed, "https://evil.example"}, {listed, "https://app.example"},
		{open, "junk <script>"},
	} {
		req := httptest.NewRequest("GET", "/topics", nil)
		req.Header.Set("Origin", tc.origin)
		tc.h.ServeHTTP(httptest.NewRecorder(), req)
	}
	mu.Lock()
	got := log.String()
	mu.Unlock()
	for _, want := range []string{`origin=https://page.example path=/topics fix="--cors-origins https://page.example"`,
		`(Origin: null)`, `fix="--cors-origins '*'"`, `refused; list the origin to let it in" origin=https://evil.example`} {
		if strings.Count(got, want) != 1 {
			t.Errorf("the log should say %q once:\n%s", want, got)
		}
	}
	for _, never := range []string{"app.example", "junk"} {
		if strings.Contains(got, never) {
			t.Errorf("the log names %q:\n%s", never, got)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
