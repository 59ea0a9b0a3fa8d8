package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/internal/mercure"
	"github.com/herd-sse/herd/internal/metrics"
	"github.com/herd-sse/herd/internal/web"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

// tableHub is a hub with every face of herd serve on, and every guard
// configured: token auth, a publish key, a listed origin, a publish rate
// that one request from an address exhausts.
func tableHub(t *testing.T) (*hub.Hub, []hub.Route, http.Handler) {
	t.Helper()
	store := memory.New(memory.Options{})
	t.Cleanup(func() { store.Close() })
	keys, err := jwt.HMACKey(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{Store: store, Auth: jwt.NewAuthenticator(keys), PublishKey: "the-publish-key",
		AllowedOrigins: []string{"https://app.example"}, PublishRate: 0.001, PublishBurst: 1,
		UnlistedTopics: mercure.Unlisted})
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
	mh := &mercure.Handler{Hub: h, Store: store, Subscriptions: true, MaxDataSize: 1000}
	mh.SetKeys(mercure.Keys{Publisher: keys, Subscriber: keys})
	var drain sse.Drain
	routes := routeTable(h, faces{
		demo:    &demo.Handler{Publisher: &demo.Publisher{Hub: h}, Drain: &drain},
		metrics: metrics.Handler(h, func() int { return 0 }),
		mercure: mh,
		ui:      &dashboard{page: web.Index(web.UI{Auth: true, Store: "memory"}), stats: web.Stats(h, web.Peers{})},
	})
	handler, err := h.Mount(routes...)
	if err != nil {
		t.Fatal(err)
	}
	return h, routes, handler
}

// probe is one request to a route, from a client address of its own (so
// that rate buckets never mix), canceled at once if it streams.
type probe struct {
	t       *testing.T
	handler http.Handler
	addrs   atomic.Int64
}

func (p *probe) do(method, target string, headers ...string) *httptest.ResponseRecorder {
	return p.body(method, target, "", headers...)
}

func (p *probe) body(method, target, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.RemoteAddr = fmt.Sprintf("192.0.2.%d:4000", p.addrs.Add(1)%250+1)
	req.Host = "hub.example"
	for i := 0; i+1 < len(headers); i += 2 {
		switch headers[i] {
		case "RemoteAddr":
			req.RemoteAddr = headers[i+1]
		case "Host":
			req.Host = headers[i+1]
		default:
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	// Streams end at once: the probes look at the head only.
	ctx, cancel := context.WithCancel(req.Context())
	cancel()
	req = req.WithContext(ctx)
	w := httptest.NewRecorder()
	p.handler.ServeHTTP(w, req)
	return w
}

// target is a path a route's pattern matches, and a query that makes a
// valid request of it.
func target(pattern string) (method, path, sample string) {
	method, path, _ = strings.Cut(pattern, " ")
	if method == "GET" && (path == "/events" || path == mercure.Path) {
		sample = "topic=a"
	}
	path = strings.TrimSuffix(path, "{$}")
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "x"
	}
	if path == "/static/x" {
		path = "/static/herd.css"
	}
	return method, path, sample
}

// inFormat reports whether a refusal is written as the route says.
func inFormat(w *httptest.ResponseRecorder, f hub.ErrorFormat) bool {
	ct := w.Header().Get("Content-Type")
	if f == hub.JSON {
		return strings.HasPrefix(ct, "application/json") && strings.HasPrefix(w.Body.String(), `{"error":`)
	}
	return strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(w.Body.String(), "{")
}

// TestRouteTable walks every route of herd serve, with every face on, and
// proves each guard the route declares: a route added to the table
// without one fails here (Mount refuses an undeclared guard; the probes
// below refuse a guard that does not hold).
func TestRouteTable(t *testing.T) {
	_, routes, handler := tableHub(t)
	p := &probe{t: t, handler: handler}
	token := "Bearer the-publish-key"
	for _, rt := range routes {
		method, path, sample := target(rt.Pattern)
		// The probes of other guards pass the caller guard.
		var as []string
		if rt.Caller == hub.Local {
			as = []string{"Authorization", token}
		}
		with := func(query string) string {
			if sample != "" {
				return path + "?" + sample + "&" + query
			}
			return path + "?" + query
		}
		refused := func(what string, w *httptest.ResponseRecorder, status int, contains string) {
			t.Helper()
			if w.Code != status || !inFormat(w, rt.Errors) || !strings.Contains(w.Body.String(), contains) {
				t.Errorf("%s: %s: %d %q (Content-Type %q), want %d in the route's format, saying %q",
					rt.Pattern, what, w.Code, w.Body.String(), w.Header().Get("Content-Type"), status, contains)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: %s: no X-Content-Type-Options: nosniff", rt.Pattern, what)
			}
		}
		// Every route: DNS rebinding is refused.
		refused("a local request naming another host", p.do(method, path, "RemoteAddr", "127.0.0.1:5000", "Host", "evil.example"), 403, "DNS rebinding")
		// Every route: pages of unlisted origins are refused.
		refused("an unlisted origin", p.do(method, path, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 403, "evil.example")
		// Listed origins: served (CORS) or refused (the hub's own pages).
		w := p.do(method, path, "Origin", "https://app.example", "Sec-Fetch-Site", "cross-site", "Authorization", token)
		switch rt.Origins {
		case hub.CORS:
			if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
				t.Errorf("%s: a listed origin got %d %q, no CORS headers", rt.Pattern, w.Code, w.Body)
			}
		case hub.SameOrigin:
			refused("a listed origin on a same-origin route", w, 403, "own pages only")
		default:
			t.Errorf("%s: unknown Origins %v", rt.Pattern, rt.Origins)
		}
		// Every state-changing route: a cross-site request carrying a
		// cookie is refused, whatever the cookie (CSRF).
		if method != http.MethodGet {
			refused("a cross-site request with a cookie", p.do(method, path, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example",
				"Cookie", "herdAuthorization=x; mercureAuthorization=x"), 403, "")
		}
		// The query is parsed strictly.
		refused("a malformed escape in a parameter's name", p.do(method, with("x%zz=1"), as...), 400, "malformed")
		refused("a semicolon", p.do(method, with("a=1;b=2"), as...), 400, "semicolon")
		for _, q := range rt.Query {
			if q != hub.AnyParam {
				refused("a malformed escape in "+q, p.do(method, with(q+"=x%zz"), as...), 400, q)
			}
			if q != hub.AnyParam && !slices.Contains(rt.Repeat, q) {
				refused(q+" given twice", p.do(method, with(q+"=1&"+q+"=2"), as...), 400, "given twice")
			}
		}
		if !slices.Contains(rt.Query, hub.AnyParam) {
			refused("an unknown parameter", p.do(method, with("bogus=1"), as...), 400, "bogus")
		}
		// Who may call.
		full := path
		if sample != "" {
			full += "?" + sample
		}
		anonymous := p.do(method, full)
		switch rt.Caller {
		case hub.Local:
			refused("a stranger", anonymous, 403, "this machine only")
			if w := p.do(method, path, "Authorization", token); w.Code == 403 {
				t.Errorf("%s: the publish key was refused: %q", rt.Pattern, w.Body)
			}
			if w := p.do(method, path, "RemoteAddr", "127.0.0.1:5000", "Host", "localhost"); w.Code == 403 {
				t.Errorf("%s: this machine was refused: %q", rt.Pattern, w.Body)
			}
		case hub.Credential:
			if anonymous.Code != 401 && anonymous.Code != 403 {
				t.Errorf("%s: a stranger without credentials got %d %q", rt.Pattern, anonymous.Code, anonymous.Body)
			}
			if anonymous.Code == 401 && anonymous.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", rt.Pattern)
			}
		case hub.Anyone:
			if anonymous.Code == 401 || anonymous.Code == 403 {
				t.Errorf("%s: anyone may call it, but a stranger got %d %q", rt.Pattern, anonymous.Code, anonymous.Body)
			}
		default:
			t.Errorf("%s: unknown Caller %v", rt.Pattern, rt.Caller)
		}
		// The body is bounded.
		if rt.Body == hub.NoBody {
			refused("a body where none is taken", p.body(method, path, "x=1", as...), 413, "no request body")
		} else {
			big := strings.Repeat("x", int(rt.Body)+1)
			refused("a body over the bound", p.body(method, path, big, "Authorization", token), 413, "larger than")
		}
		// The rate: a second publish from one address is refused.
		if rt.Rate == hub.PublishRate {
			addr := "RemoteAddr"
			p.body(method, path, "x=1", addr, "198.51.100.7:1", "Content-Type", "application/x-www-form-urlencoded")
			refused("a second publish at once", p.body(method, path, "x=1", addr, "198.51.100.7:1", "Content-Type", "application/x-www-form-urlencoded"), 429, "")
			p.addrs.Add(0)
		}
		// Other methods: 405 in the route's format.
		refused("another method", p.do("DELETE", path, as...), 405, "not allowed")
		// Pages: no inline script, no framing.
		if rt.Page {
			w := p.do(method, path)
			csp := w.Header().Get("Content-Security-Policy")
			if w.Code != 200 || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src") ||
				strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s: a page answered %d with Content-Security-Policy %q", rt.Pattern, w.Code, csp)
			}
		}
	}
	// Paths no route claims: 404 in JSON.
	if w := p.do("GET", "/nowhere"); w.Code != 404 || !inFormat(w, hub.JSON) {
		t.Errorf("an unknown path: %d %q", w.Code, w.Body)
	}
}

// The publish rate is charged per sender once: a second rate route (Mercure's
// publish) shares the bucket of herd's own publish.
func TestRouteTable_rateShared(t *testing.T) {
	_, _, handler := tableHub(t)
	p := &probe{t: t, handler: handler}
	form := "Content-Type"
	p.body("POST", "/events", "topic=a&data=x", "RemoteAddr", "198.51.100.9:1", form, "application/x-www-form-urlencoded")
	w := p.body("POST", mercure.Path, "topic=a&data=x", "RemoteAddr", "198.51.100.9:1", form, "application/x-www-form-urlencoded")
	if w.Code != 429 {
		t.Errorf("a Mercure publish after a herd publish from one address: %d %q, want 429", w.Code, w.Body)
	}
}

// SECURITY.md lists the routes and their guards: the list is the table's.
func TestRouteTable_documented(t *testing.T) {
	_, routes, _ := tableHub(t)
	want := routesMarkdown(routes)
	doc, err := os.ReadFile(filepath.Join(sourceDir, "../../SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), want) {
		t.Errorf("SECURITY.md does not list the routes as they are; its table should read:\n%s", want)
	}
}

// routesMarkdown is the route table as SECURITY.md shows it.
func routesMarkdown(routes []hub.Route) string {
	var b strings.Builder
	b.WriteString("| route | what | who may call | other origins | query | body | rate | errors |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, rt := range routes {
		caller := map[hub.Caller]string{hub.Anyone: "anyone", hub.Local: "this machine or the publish key",
			hub.Credential: "a credential (checked by the handler)"}[rt.Caller]
		origins := map[hub.Origins]string{hub.CORS: "`--cors-origins`", hub.SameOrigin: "none (same origin only)"}[rt.Origins]
		query := "none"
		if len(rt.Query) > 0 {
			var names []string
			for _, q := range rt.Query {
				name := "`" + q + "`"
				if slices.Contains(rt.Repeat, q) {
					name += " (repeatable)"
				}
				names = append(names, name)
			}
			query = strings.Join(names, ", ")
		}
		body := "none"
		if rt.Body > 0 {
			body = "bounded"
		}
		rate := map[hub.Rate]string{hub.NoRate: "", hub.PublishRate: "`--publish-rate`"}[rt.Rate]
		errs := map[hub.ErrorFormat]string{hub.JSON: "JSON", hub.Plain: "text"}[rt.Errors]
		if rt.Page {
			errs += ", page: CSP"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", rt.Pattern, rt.Doc, caller, origins, query, body, rate, errs)
	}
	return b.String()
}
