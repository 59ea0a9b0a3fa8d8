//go:build linux && integration

package e2e

import (
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/internal/web"
)

const corsSecret = "the e2e secret, which is long enough"

// appPage is a page of the application's own origin, subscribing to the
// hub on another origin with one of the clients. Its state is in
// body[data-state]; what it receives goes into #out.
var appPage = template.Must(template.New("app").Parse(`<!doctype html>
<html><head><meta charset="utf-8">
{{- if eq .Client "htmx2"}}
<script src="/static/vendor/htmx2/htmx.min.js"></script>
<script src="/static/vendor/htmx2/sse.js"></script>
{{- else if eq .Client "htmx4"}}
<meta name="htmx-config" content='{"mode":"cors"}'>
<script src="/static/vendor/htmx4/htmx.min.js"></script>
<script src="/static/vendor/htmx4/hx-sse.min.js"></script>
{{- end}}
</head><body data-state="connecting">
{{- if eq .Client "eventsource"}}
<div id="out"></div>
<script>
  const es = new EventSource({{.Stream}}, {withCredentials: true});
  window.events = [];
  es.onopen = () => document.body.dataset.state = "open";
  es.onmessage = (e) => document.getElementById("out").insertAdjacentHTML("beforeend", e.data);
  es.addEventListener("token-expired", () => window.events.push("token-expired"));
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) document.body.dataset.state = "refused"; };
</script>
{{- else if eq .Client "htmx2"}}
<div id="out" hx-ext="sse" sse-connect="{{.Stream}}" sse-swap="message" hx-swap="beforeend"></div>
<script>
  document.body.addEventListener("htmx:sseOpen", () => document.body.dataset.state = "open");
</script>
{{- else}}
<div id="out" hx-sse:connect="{{.Stream}}" hx-config='{"credentials":"include"}' hx-swap="beforeend"></div>
<script>
  document.body.addEventListener("htmx:sse:after:connection", () => document.body.dataset.state = "open");
</script>
{{- end}}
</body></html>`))

// appServer serves appPage on 127.0.0.1 (another origin than the hub's,
// same site: the cookie it sets reaches the hub) and sets the token
// cookie, as an application's backend would.
func appServer(t *testing.T, token string) (origin string, ln net.Listener) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "herdAuthorization", Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		appPage.Execute(w, map[string]string{"Client": r.URL.Query().Get("client"), "Stream": r.URL.Query().Get("stream")})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), ln
}

func mintToken(t *testing.T, c jwt.Claims) string {
	s, err := jwt.HMACSigner(corsSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func publishWith(t *testing.T, base, token string, form url.Values) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish %v: %d", form, resp.StatusCode)
	}
}

// TestBrowser_crossOrigin: pages of a listed origin subscribe to the hub
// on another origin with the token in a cookie, with EventSource, htmx 2
// and htmx 4, and receive private events; a page of an unlisted origin
// is refused.
func TestBrowser_crossOrigin(t *testing.T) {
	browser := browsertest.Start(t)
	reader := mintToken(t, jwt.Claims{Subscribe: []string{"app/**"}})
	publisher := mintToken(t, jwt.Claims{Publish: []string{"**"}})
	app, _ := appServer(t, reader)
	other, _ := appServer(t, reader)
	h := startHerd(t, "--store", "memory", "--log-level", "debug", "--jwt-key", corsSecret, "--subscribe-auth", "--cors-origins", app)

	for _, client := range []string{"eventsource", "htmx2", "htmx4"} {
		t.Run(client, func(t *testing.T) {
			topic := "app/" + client
			stream := h.URL + "/events?topic=" + topic
			tab := openTab(t, browser, app+"/app?client="+client+"&stream="+url.QueryEscape(stream))
			if err := browsertest.WaitFor(tab, `document.body.dataset.state === "open"`); err != nil {
				t.Fatalf("page never connected: %v\n%s", err, h.stderr)
			}
			publishWith(t, h.URL, publisher, url.Values{"topic": {topic}, "data": {"<p>private</p>"}, "private": {"true"}})
			publishWith(t, h.URL, publisher, url.Values{"topic": {topic}, "data": {"<p>public</p>"}})
			if err := browsertest.WaitFor(tab, `document.querySelectorAll("#out p").length === 2`); err != nil {
				t.Fatalf("events never arrived: %v", err)
			}
			got, _ := browsertest.Eval[string](tab, `document.getElementById("out").textContent`)
			if got != "privatepublic" {
				t.Errorf("page shows %q", got)
			}
		})
	}

	t.Run("unlisted origin", func(t *testing.T) {
		stream := h.URL + "/events?topic=app/other"
		tab := openTab(t, browser, other+"/app?client=eventsource&stream="+url.QueryEscape(stream))
		if err := browsertest.WaitFor(tab, `document.body.dataset.state === "refused"`); err != nil {
			t.Fatalf("page of an unlisted origin was not refused: %v", err)
		}
		if n := streamRequests(h, "app/other"); n != 0 {
			t.Errorf("herd held %d streams for an unlisted origin", n)
		}
	})
}

// TestBrowser_tokenExpiry: a page's stream ends when its token expires,
// with the token-expired event; EventSource's retry with the same cookie
// is answered 401, which stops it: one stream, one refused retry, and no
// loop.
func TestBrowser_tokenExpiry(t *testing.T) {
	browser := browsertest.Start(t)
	// Expired 27s ago: the 30s clock-skew allowance leaves it 3s to live.
	reader := mintToken(t, jwt.Claims{Subscribe: []string{"**"}, Expires: time.Now().Add(-27 * time.Second)})
	app, _ := appServer(t, reader)
	h := startHerd(t, "--store", "memory", "--log-level", "debug", "--retry", "500ms", "--jwt-key", corsSecret, "--cors-origins", app)
	stream := h.URL + "/events?topic=exp"
	tab := openTab(t, browser, app+"/app?client=eventsource&stream="+url.QueryEscape(stream))
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "open"`); err != nil {
		t.Fatalf("page never connected: %v", err)
	}
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "refused"`); err != nil {
		t.Fatalf("the page never stopped: %v", err)
	}
	events, _ := browsertest.Eval[[]string](tab, `window.events`)
	if len(events) != 1 || events[0] != "token-expired" {
		t.Errorf("page saw %q, want the token-expired event", events)
	}
	time.Sleep(2 * time.Second) // a loop would show as more subscriptions
	if n := streamRequests(h, "exp"); n != 1 {
		t.Errorf("%d streams, want 1", n)
	}
	if !strings.Contains(h.stderr.String(), "reason=token_expired") {
		t.Errorf("no token_expired end in the log:\n%s", h.stderr)
	}
}
