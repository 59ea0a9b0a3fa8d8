package demo_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/sse"
)

func newServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/cowsay", (&demo.Handler{}).Page)
	mux.HandleFunc("GET /demo/cowsay/events", (&demo.Handler{}).Events)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, lastID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestEvents(t *testing.T) {
	srv := newServer(t)
	resp := get(t, srv.URL+"/demo/cowsay/events?interval=1ms", "")
	var got []sse.Event
	for e, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 11 {
		t.Fatalf("%d events, want 10 quotes and the close", len(got))
	}
	for i, q := range demo.Quotes {
		want := sse.Event{ID: fmt.Sprint(i + 1), Data: "<div>" + html.EscapeString(q) + "</div>"}
		if got[i] != want {
			t.Errorf("event %d = %#v, want %#v", i, got[i], want)
		}
	}
	if last := got[10]; last.Type != demo.CloseEvent || last.Data != "" {
		t.Errorf("last event %#v, want the close event", last)
	}
}

// TestEvents_resume checks that a reconnecting client continues where it
// was, and that one that had everything is told 204: stop for good.
func TestEvents_resume(t *testing.T) {
	srv := newServer(t)
	for lastID, wantFirst := range map[string]string{"7": "8", "junk": "1", "-3": "1"} {
		resp := get(t, srv.URL+"/demo/cowsay/events?interval=1ms", lastID)
		e, err := sse.NewReader(resp.Body).Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != wantFirst {
			t.Errorf("resume after %q: first id %q, want %q", lastID, e.ID, wantFirst)
		}
	}
	for _, lastID := range []string{"10", "11", "99999999999999999999"} {
		if resp := get(t, srv.URL+"/demo/cowsay/events?interval=1ms", lastID); resp.StatusCode != http.StatusNoContent {
			t.Errorf("resume after %s: %s, want 204 No Content", lastID, resp.Status)
		}
	}
}

// A client that does not know the demo's close event reconnects after it,
// and is told to stop: sse.Client's stream of the demo ends by itself.
func TestEvents_endsForAnyClient(t *testing.T) {
	srv := newServer(t)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/demo/cowsay/events?interval=1ms", nil)
	n := 0
	for e, err := range (&sse.Client{Retry: time.Millisecond}).Events(t.Context(), req) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "" {
			n++
		}
	}
	if n != len(demo.Quotes) {
		t.Errorf("%d quotes, want %d, then the end", n, len(demo.Quotes))
	}
}

func TestBadRequests(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{
		"/demo/cowsay/events?interval=fast",
		"/demo/cowsay/events?interval=-1s",
		"/demo/cowsay/events?interval=2h",
		"/demo/cowsay?interval=0s",
		"/demo/cowsay?client=jquery",
	} {
		resp := get(t, srv.URL+path, "")
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", path, resp.StatusCode)
		}
	}
}

func TestPage(t *testing.T) {
	srv := newServer(t)
	for client, marker := range map[string]string{
		"":            `data-client="eventsource" data-stream="/demo/cowsay/events?interval=250ms" data-close="closeStream"`,
		"eventsource": `data-client="eventsource" data-stream="/demo/cowsay/events?interval=250ms" data-close="closeStream"`,
		"htmx2":       `sse-connect="/demo/cowsay/events?interval=250ms" sse-swap="message" sse-close="closeStream"`,
		"htmx4":       `hx-sse:connect="/demo/cowsay/events?interval=250ms" hx-sse:close="closeStream"`,
	} {
		resp := get(t, srv.URL+"/demo/cowsay?interval=250ms&client="+client, "")
		page := readAll(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(page, marker) {
			t.Errorf("client %q: %d, page lacks %q", client, resp.StatusCode, marker)
		}
		checkPageHeaders(t, resp)
		// No inline script: the CSP would block it.
		if strings.Count(page, "<script") != strings.Count(page, "<script src=") {
			t.Errorf("client %q: the page has an inline script:\n%s", client, page)
		}
		if strings.Contains(page, "?client=hub") {
			t.Errorf("client %q: the page links to the hub variants, which are not served without --demo", client)
		}
	}
}

func checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", resp.Request.URL, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("%s: Content-Security-Policy %q allows something unsafe", resp.Request.URL, csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", resp.Request.URL, resp.Header.Get("X-Content-Type-Options"))
	}
}

// Without the --demo publisher the hub variants are not served: they
// would show a hub topic that nothing of the demo's publishes.
func TestPage_hubNeedsPublisher(t *testing.T) {
	srv := newServer(t)
	for _, client := range []string{"hub", "hub-htmx2"} {
		resp := get(t, srv.URL+"/demo/cowsay?client="+client+"&topic=demo/cowsay/x", "")
		body := readAll(t, resp)
		if resp.StatusCode != 404 || !strings.Contains(body, "herd serve --demo") {
			t.Errorf("client %s without a publisher: %d %q; want 404 naming --demo", client, resp.StatusCode, body)
		}
		checkPageHeaders(t, resp)
	}
}

// With the publisher, the hub variants show the demo's own topics only,
// the current run by default.
func TestPage_hubShowsOnlyTheDemosTopics(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/cowsay", (&demo.Handler{Publisher: &demo.Publisher{}, CloseEvent: "bye"}).Page)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		query, status, want string
	}{
		{"client=hub", "200", `data-stream="/events?last_event_id=earliest&amp;topic=demo%2Fcowsay" data-close="bye"`},
		{"client=hub-htmx2&topic=demo/cowsay/run-1", "200", `sse-connect="/events?last_event_id=earliest&amp;topic=demo%2Fcowsay%2Frun-1"`},
		{"client=hub&topic=orders/42", "400", `topic "orders/42" is not the demo's`},
		{"client=hub&topic=demo/cowsayx", "400", `is not the demo's`},
		{"client=hub&topic=demo/cowsay/*", "400", `wildcards`},
		{"client=hub&topic=demo/cowsay/a%0Ab", "400", ""},
	} {
		resp := get(t, srv.URL+"/demo/cowsay?"+tc.query, "")
		body := readAll(t, resp)
		if fmt.Sprint(resp.StatusCode) != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want %s with %q:\n%s", tc.query, resp.StatusCode, tc.status, tc.want, body)
		}
		checkPageHeaders(t, resp)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
