package hub

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestTLS_engineHeartbeat: an idle TLS stream parked on the engine gets a
// sealed heartbeat at each heartbeat of the hub's clock, fake here as in
// TestEngine_heartbeat (the stream is served through Hub.TLSListener, as
// herd serve does).
func TestTLS_engineHeartbeat(t *testing.T) {
	h, c := newClockedHub(t, Config{Heartbeat: MinHeartbeat})
	addr := serveTLS(t, h)
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /events?topic=quiet HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v, %v", resp, err)
	}
	body := bufio.NewReader(resp.Body)
	for _, want := range []string{"retry:", "\n"} { // the opening, sent before the hand-over
		if line, err := body.ReadString('\n'); err != nil || !bytes.HasPrefix([]byte(line), []byte(want)) {
			t.Fatalf("the stream opened with %q, %v", line, err)
		}
	}
	if st := conn.ConnectionState(); st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS version %#x, want 1.3 (the engine seals 1.3 records only)", st.Version)
	}
	expectHeartbeats(t, h, c, body) // as in TestEngine_heartbeat
}

// serveTLS serves h through h.TLSListener on a loopback port, HTTP/1.1
// only, and returns its address.
func serveTLS(t *testing.T, h *Hub) string {
	t.Helper()
	cfg := serverConfig(t)
	cfg.NextProtos = []string{"http/1.1"}
	return listenTLS(t, h, &http.Server{Handler: h}, cfg)
}

// listenTLS serves srv through h.TLSListener with cfg on a loopback port
// until the test ends, and returns its address.
func listenTLS(t *testing.T, h *Hub, srv *http.Server, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(h.TLSListener(ln, cfg))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return ln.Addr().String()
}
