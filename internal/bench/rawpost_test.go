package bench

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRawPoster publishes through answers of every shape a hub may give:
// a sized body, a chunked one, one that closes the connection, an error.
func TestRawPoster(t *testing.T) {
	var conns atomic.Int32
	var mu sync.Mutex
	var got []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("Content-Type")+" "+r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		switch string(body) {
		case "chunked":
			w.Write([]byte("part one"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"id": "1"}`))
		case "bad":
			http.Error(w, "no", http.StatusBadRequest)
		default:
			w.Write([]byte(`{"id": "1"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/events")
	p := newRawPoster(u, "text/plain", http.Header{"Authorization": {"Bearer k"}})
	defer p.close()
	for _, body := range []string{"one", "chunked", "two", "close", "three"} {
		if err := p.post([]byte(body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	if err := p.post([]byte("bad")); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a 400 answer: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one until the close, one after)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 6 || got[0] != "text/plain Bearer k one" {
		t.Errorf("requests: %q", got)
	}
}
