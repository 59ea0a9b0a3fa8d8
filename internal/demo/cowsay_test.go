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
		"":            `new EventSource("/demo/cowsay/events?interval=250ms")`,
		"eventsource": `addEventListener("closeStream"`,
		"htmx2":       `sse-connect="/demo/cowsay/events?interval=250ms" sse-swap="message" sse-close="closeStream"`,
		"htmx4":       `hx-sse:connect="/demo/cowsay/events?interval=250ms" hx-sse:close="closeStream"`,
	} {
		resp := get(t, srv.URL+"/demo/cowsay?interval=250ms&client="+client, "")
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(t, resp))
		if resp.StatusCode != 200 || !strings.Contains(b.String(), marker) {
			t.Errorf("client %q: %d, page lacks %q", client, resp.StatusCode, marker)
		}
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
