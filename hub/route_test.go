package hub_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
}

func fullRoute() hub.Route {
	return hub.Route{Pattern: "GET /x", Caller: hub.Anyone, Origins: hub.SameOrigin, Query: hub.NoQuery,
		Body: hub.NoBody, Rate: hub.NoRate, Errors: hub.JSON, Doc: "a test route", Handler: okHandler()}
}

// A route that forgets a guard is refused when mounted: no surface can be
// added beside the guards.
func TestMount_undeclaredGuard(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	for field, unset := range map[string]func(*hub.Route){
		"Caller":  func(r *hub.Route) { r.Caller = 0 },
		"Origins": func(r *hub.Route) { r.Origins = 0 },
		"Query":   func(r *hub.Route) { r.Query = nil },
		"Body":    func(r *hub.Route) { r.Body = 0 },
		"Rate":    func(r *hub.Route) { r.Rate = 0 },
		"Errors":  func(r *hub.Route) { r.Errors = 0 },
		"Doc":     func(r *hub.Route) { r.Doc = "" },
		"Handler": func(r *hub.Route) { r.Handler = nil },
		"pattern": func(r *hub.Route) { r.Pattern = "/x" },
	} {
		rt := fullRoute()
		unset(&rt)
		if _, err := h.Mount(rt); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("a route without %s: Mount said %v", field, err)
		}
	}
	if _, err := h.Mount(fullRoute(), fullRoute()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a pattern declared twice: Mount said %v", err)
	}
	if _, err := h.Mount(fullRoute()); err != nil {
		t.Errorf("a complete route: %v", err)
	}
}

// The hub's own routes are the table's: nothing it serves is outside it.
func TestMount_hubRoutes(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	for _, rt := range h.Routes() {
		if err := rt.Check(); err != nil {
			t.Error(err)
		}
	}
	for _, tc := range []struct{ target, want string }{
		{"/events?topic=x%zz", `query parameter \"topic\": malformed value`},
		{"/events?topic=a&last_event_id=%G1", `query parameter \"last_event_id\": malformed value`},
		{"/events?topics=a", `query parameter \"topics\": unknown here; this path takes topic, last_event_id, authorization, datastar, _`},
		{"/events?topic=a;last_event_id=1", "semicolon"},
		{"/topics?x", `query parameter \"x\": unknown here`},
		{"/healthz?probe=1", "takes no query parameter"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tc.target, nil))
		if w.Code != 400 || !strings.Contains(w.Body.String(), tc.want) || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, want 400 in JSON saying %s", tc.target, w.Code, w.Body, tc.want)
		}
	}
}

// A plain-text route answers its refusals in text, a JSON route in JSON,
// the cross-site refusal included (it used to answer text/plain on JSON
// routes).
func TestMount_errorFormats(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	plain := fullRoute()
	plain.Pattern, plain.Errors, plain.Body, plain.Origins = "POST /plain", hub.Plain, 10, hub.CORS
	js := fullRoute()
	js.Pattern, js.Body, js.Origins = "POST /json", 10, hub.CORS
	mux, err := h.Mount(plain, js)
	if err != nil {
		t.Fatal(err)
	}
	for path, ct := range map[string]string{"/plain": "text/plain; charset=utf-8", "/json": "application/json"} {
		req := httptest.NewRequest("POST", path, strings.NewReader("x"))
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 403 || w.Header().Get("Content-Type") != ct || !strings.Contains(w.Body.String(), "cross-site POST refused") {
			t.Errorf("cross-site POST %s: %d %q %s", path, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
}

// TestMount_unknownPathHost: a path no route claims is behind the host
// check too (DNS rebinding): a page on a rebound name gets 403, not 404.
func TestMount_unknownPathHost(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	mux, err := h.Mount(fullRoute())
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"evil.example": 403, "evil.example:8080": 403, "localhost:8080": 404} {
		req := httptest.NewRequest("GET", "/no/such/path", nil)
		req.Host, req.RemoteAddr = host, "127.0.0.1:5000"
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("Host %s: %d %s, want %d", host, w.Code, w.Body, want)
		}
	}
}

// FuzzQuery: any query either reaches the handler exactly as strict
// parsing reads it, with only the parameters the route takes, or is
// refused with 400; it never panics and is never half-read (a malformed
// last_event_id silently dropped would turn a resume into a live stream).
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{"", "topic=a", "topic=a&last_event_id=12", "topic=x%zz", "last_event_id=%", "a;b",
		"topic=%E2%82%AC", "topic=a+b&topic=c", "&&", "=", "topic", "%", "topic=a%00b", "bogus=1",
		"last_event_id=1&last_event_id=2", "topic=a&last_event_id=earliest&topic=b&last_event_id=9"} {
		f.Add(seed)
	}
	h := newHub(f, hub.Config{}, herd.Retention{})
	var got url.Values
	rt := fullRoute()
	rt.Query = []string{"topic", "last_event_id"}
	rt.Repeat = []string{"topic"}
	rt.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		w.WriteHeader(http.StatusNoContent)
	})
	mux, err := h.Mount(rt)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.URL.RawQuery = raw
		got = nil
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		strict, perr := url.ParseQuery(raw)
		switch w.Code {
		case http.StatusNoContent:
			if perr != nil {
				t.Fatalf("%q reached the handler, but does not parse strictly: %v", raw, perr)
			}
			for k, v := range strict {
				if !slices.Contains(rt.Query, k) {
					t.Fatalf("%q reached the handler with parameter %q", raw, k)
				}
				if len(v) > 1 && !slices.Contains(rt.Repeat, k) {
					t.Fatalf("%q reached the handler with %s given %d times", raw, k, len(v))
				}
			}
			if len(got) != len(strict) {
				t.Fatalf("%q: the handler read %v, strict parsing %v", raw, got, strict)
			}
			for k, v := range strict {
				if !slices.Equal(got[k], v) {
					t.Fatalf("%q: the handler read %s=%q, strict parsing %q", raw, k, got[k], v)
				}
			}
		case http.StatusBadRequest:
			if perr == nil {
				for k, v := range strict {
					if !slices.Contains(rt.Query, k) {
						return // refused for an unknown parameter
					}
					if len(v) > 1 && !slices.Contains(rt.Repeat, k) {
						return // refused for a parameter given twice
					}
				}
				t.Fatalf("%q was refused (%s), but parses strictly with known parameters", raw, w.Body)
			}
		default:
			t.Fatalf("%q: %d %s", raw, w.Code, w.Body)
		}
	})
}

// Unlisted topics (herd serve's Mercure namespace) are named by /topics
// only to this machine or the publish key, even without token auth: a
// Mercure topic, its ids and its subscribers may be private.
func TestTopics_unlisted(t *testing.T) {
	h := newHub(t, hub.Config{PublishKey: "k", UnlistedTopics: []string{"mercure/**", "mercure-id/**"}}, herd.Retention{})
	publish(t, h, msg("x", "news"))
	publish(t, h, msg("x", "mercure/https:%2F%2Fexample.com%2Fsecret", "mercure-id/urn:1"))
	for _, tc := range []struct {
		name, remote, auth string
		want               []string
	}{
		{"a stranger", "192.0.2.1:1", "", []string{"news"}},
		{"this machine", "127.0.0.1:1", "", []string{"mercure-id/urn:1", "mercure/https:%2F%2Fexample.com%2Fsecret", "news"}},
		{"the publish key", "192.0.2.1:1", "Bearer k", []string{"mercure-id/urn:1", "mercure/https:%2F%2Fexample.com%2Fsecret", "news"}},
	} {
		req := httptest.NewRequest("GET", "http://localhost/topics", nil)
		req.RemoteAddr = tc.remote
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var got []struct{ Topic string }
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", tc.name, w.Code, w.Body)
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Topic)
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.want) {
			t.Errorf("%s: /topics named %q, want %q", tc.name, names, tc.want)
		}
	}
	if _, err := hub.New(hub.Config{Store: memory.New(memory.Options{}), UnlistedTopics: []string{"a/**/b"}}); err == nil || !strings.Contains(err.Error(), "UnlistedTopics") {
		t.Errorf("a bad unlisted selector: %v", err)
	}
}
