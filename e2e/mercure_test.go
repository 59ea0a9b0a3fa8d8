//go:build linux && integration

package e2e

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/sse"
)

// mercureKey is the key Mercure's conformance suite signs its publisher
// token with (Mercure's own default).
const mercureKey = "!ChangeThisMercureHubJWTSecretKey!"

// mercureSuite finds Mercure's conformance suite (AGPL: run against
// herd, never copied into it): HERD_MERCURE_CONFORMANCE, or the shared
// directory beside the repository.
func mercureSuite(t *testing.T) string {
	candidates := []string{os.Getenv("HERD_MERCURE_CONFORMANCE"),
		filepath.Join(repoRoot(t), "..", "shared", "mercure-conformance"), "/work/shared/mercure-conformance"}
	for _, dir := range candidates {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "run.sh")); err == nil {
			return dir
		}
	}
	lacking(t, fmt.Sprintf("Mercure's conformance suite not found (tried %q)", candidates), "set HERD_MERCURE_CONFORMANCE to its directory")
	return ""
}

// runMercureSuite runs the suite against base in Chromium.
func runMercureSuite(t *testing.T, base string) {
	t.Helper()
	dir := mercureSuite(t)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = t.TempDir()
	}
	cmd := exec.Command(filepath.Join(dir, "run.sh"), base)
	// Playwright installs once into the cache (without a browser: it
	// drives Debian's Chromium).
	cmd.Env = append(os.Environ(), "MERCURE_CONFORMANCE_DIR="+filepath.Join(cache, "herd", "mercure-conformance"))
	if bin := os.Getenv("HERD_CHROMIUM"); bin != "" {
		cmd.Env = append(cmd.Env, "CHROMIUM="+bin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Mercure's conformance suite against %s: %v\n%s", base, err, out)
	}
	t.Logf("%s", lastLines(string(out), 3))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestMercureConformance runs Mercure's own conformance suite against
// herd serve: one node on its default store, then three nodes on one
// Redis, and on one NATS, behind a balancer that sends each request to the
// next node, so that every update is published on one node and received
// on another.
func TestMercureConformance(t *testing.T) {
	t.Parallel()
	mercure := []string{"--mercure-publisher-jwt-key", mercureKey, "--mercure-anonymous"}
	t.Run("one node", func(t *testing.T) {
		h := startHerd(t, append([]string{"--store", "bolt:" + filepath.Join(t.TempDir(), "herd.db")}, mercure...)...)
		runMercureSuite(t, h.URL)
	})
	for _, engine := range []string{"redis", "nats"} {
		t.Run("three nodes on "+engine, func(t *testing.T) {
			store := sharedStore(t, engine)
			var backends []*url.URL
			for range 3 {
				h := startHerd(t, append([]string{"--store", store}, mercure...)...)
				u, _ := url.Parse(h.URL)
				backends = append(backends, u)
			}
			var next atomic.Uint64
			lb := httptest.NewServer(&httputil.ReverseProxy{
				Rewrite: func(r *httputil.ProxyRequest) {
					r.SetURL(backends[next.Add(1)%uint64(len(backends))])
					r.Out.Host = r.In.Host
				},
				FlushInterval: -1, // events as they come
			})
			defer lb.Close()
			runMercureSuite(t, lb.URL)
		})
	}
}

// TestMercureResume_nats: a publisher's id published on one node resumes
// on another even while that node's store statistics are cached (NATS's
// are, for seconds): a resume that missed the id would be live only and
// lose the update after it.
func TestMercureResume_nats(t *testing.T) {
	store := sharedStore(t, "nats")
	a := startHerd(t, "--store", store, "--mercure-publisher-jwt-key", mercureKey, "--mercure-anonymous")
	b := startHerd(t, "--store", store, "--mercure-publisher-jwt-key", mercureKey, "--mercure-anonymous")
	signer, err := jwt.HMACSigner(mercureKey)
	if err != nil {
		t.Fatal(err)
	}
	publisher, err := signer.SignPayload(map[string]any{"mercure": map[string]any{"publish": []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	// b reads its statistics now, before the publishes, and keeps them.
	resp, err := http.Get(b.URL + "/topics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /topics: %v %v", err, resp)
	}
	resp.Body.Close()
	subscribe := func(lastID string) *sse.Reader {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", b.URL+"/.well-known/mercure?topic=t", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("subscribe: %v %v", err, resp)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return sse.NewReader(resp.Body)
	}
	publish := func(form url.Values) {
		req, _ := http.NewRequest("POST", a.URL+"/.well-known/mercure", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+publisher)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("publish on a: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	live := subscribe("")
	publish(url.Values{"topic": {"t"}, "data": {"one"}, "id": {"custom-1"}})
	publish(url.Values{"topic": {"t"}, "data": {"two"}})
	for _, want := range []string{"one", "two"} { // b has both
		if e, err := live.Next(); err != nil || e.Data != want {
			t.Fatalf("live on b: %+v, %v; want %q", e, err, want)
		}
	}
	resumed := subscribe("custom-1")
	publish(url.Values{"topic": {"t"}, "data": {"three"}}) // what a live-only resume gets first
	if e, err := resumed.Next(); err != nil || e.Data != "two" {
		t.Fatalf("resumed on b after custom-1: %+v, %v; want the update after it", e, err)
	}
}

// mercurePage is the subscribing code of Mercure's documentation: an
// EventSource with credentials, the token in the mercureAuthorization
// cookie the application's backend set.
var mercurePage = template.Must(template.New("mercure").Parse(`<!doctype html>
<html><head><meta charset="utf-8"></head><body data-state="connecting"><ul id="out"></ul>
<script>
  const url = new URL({{.Hub}} + "/.well-known/mercure");
  url.searchParams.append("topic", "https://example.com/books/{id}");
  const eventSource = new EventSource(url, { withCredentials: true });
  eventSource.onopen = () => document.body.dataset.state = "open";
  eventSource.onmessage = (e) => {
    const li = document.createElement("li");
    li.textContent = JSON.parse(e.data).title;
    document.getElementById("out").append(li);
  };
</script></body></html>`))

// TestBrowser_mercureCookie: a page of the application's origin follows
// Mercure's documentation to subscribe to herd on another origin, its
// token in the mercureAuthorization cookie, and receives a private update
// and a public one; anonymous subscribers are refused.
func TestBrowser_mercureCookie(t *testing.T) {
	browser := browsertest.Start(t)
	signer, err := jwt.HMACSigner(mercureKey)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claim map[string]any) string {
		tok, err := signer.SignPayload(map[string]any{"mercure": claim})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	subscriber := sign(map[string]any{"subscribe": []string{"https://example.com/books/{id}"}})
	publisher := sign(map[string]any{"publish": []string{"*"}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := "http://" + ln.Addr().String()
	h := startHerd(t, "--store", "memory", "--mercure-publisher-jwt-key", mercureKey, "--cors-origins", app)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "mercureAuthorization", Value: subscriber, Path: "/.well-known/mercure",
			HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		mercurePage.Execute(w, map[string]string{"Hub": h.URL})
	})}
	go srv.Serve(ln)
	defer srv.Close()

	tab := openTab(t, browser, app+"/")
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "open"`); err != nil {
		t.Fatalf("the page never connected: %v\n%s", err, h.stderr)
	}
	for _, form := range []url.Values{
		{"topic": {"https://example.com/books/1"}, "data": {`{"title": "private"}`}, "private": {"on"}},
		{"topic": {"https://example.com/books/2"}, "data": {`{"title": "public"}`}},
	} {
		req, _ := http.NewRequest("POST", h.URL+"/.well-known/mercure", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+publisher)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("publish: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#out li").length === 2`); err != nil {
		t.Fatalf("updates never arrived: %v", err)
	}
	if got, _ := browsertest.Eval[string](tab, `document.getElementById("out").textContent`); got != "privatepublic" {
		t.Errorf("page shows %q", got)
	}
	resp, err := http.Get(h.URL + "/.well-known/mercure?topic=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("anonymous subscriber with --mercure-anonymous off: %d, want 401", resp.StatusCode)
	}
}
