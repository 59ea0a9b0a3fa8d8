package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// However many dashboards poll, each peer is asked once per peerAnswerTTL,
// and every poller gets the answers.
func TestPeerCache_sharesAnswers(t *testing.T) {
	var asked atomic.Int64
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.URL.Path != "/api/stats" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"subscribers":7,"published":3}`))
	}))
	defer peer.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more

	now := time.Unix(1000, 0)
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	c := &peerCache{peers: Peers{URLs: []string{peer.URL, down.URL}, Key: "k"}, client: client,
		now: func() time.Time { return now }}

	var wg sync.WaitGroup
	for range 8 { // eight pages polling at once
		wg.Go(func() {
			nodes := c.answers()
			if len(nodes) != 2 || nodes[0].Stats == nil || nodes[0].Stats.Subscribers != 7 {
				t.Errorf("answers = %+v, want the peer's 7 subscribers first", nodes)
			}
			if nodes[1].Error != "unreachable" {
				t.Errorf("a peer that is down: error %q, want unreachable", nodes[1].Error)
			}
		})
	}
	wg.Wait()
	if n := asked.Load(); n != 1 {
		t.Fatalf("eight polls at once asked the peer %d times, want 1", n)
	}

	now = now.Add(peerAnswerTTL - time.Millisecond)
	c.answers()
	if n := asked.Load(); n != 1 {
		t.Fatalf("a poll within %v asked the peer again (%d times in all)", peerAnswerTTL, n)
	}
	now = now.Add(time.Millisecond)
	c.answers()
	if n := asked.Load(); n != 2 {
		t.Fatalf("a poll after %v: the peer was asked %d times in all, want 2", peerAnswerTTL, n)
	}
}

// Every page and static file carries the page headers, and the dashboard
// renders the store's description as text.
func TestPageHeaders(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", Index(UI{Store: `<img src=x onerror="window.__pwned=1">`}))
	mux.Handle("GET /static/", Static())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, status := range map[string]int{"/": 200, "/static/dashboard.js": 200, "/static/cowsay.js": 200,
		"/static/vendor/htmx2/htmx.min.js": 200, "/static/herd.css": 200, "/static/index.html": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
		if path == "/" {
			page := string(body)
			if strings.Contains(page, "<img") || !strings.Contains(page, "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;") {
				t.Errorf("the store's description is not escaped:\n%s", page)
			}
			if strings.Count(page, "<script") != strings.Count(page, "<script src=") {
				t.Errorf("the dashboard has an inline script")
			}
			if strings.Contains(page, "client=hub") {
				t.Errorf("the dashboard links to the demo's hub variant without --demo")
			}
		}
	}
	for _, unsafe := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(ContentSecurityPolicy, unsafe) {
			t.Errorf("the policy allows %s", unsafe)
		}
	}
}
