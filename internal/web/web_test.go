package web

import (
	"net/http"
	"net/http/httptest"
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
