package hub

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
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
	es := parkedOne(t, h.engine)
	for i := range 3 {
		until(t, "the stream parked", func() bool { // as in TestEngine_heartbeat
			es.s.mu.Lock()
			defer es.s.mu.Unlock()
			return !es.scheduled
		})
		c.advance(MinHeartbeat)
		got := make([]byte, len(heartbeat))
		if _, err := io.ReadFull(body, got); err != nil || !bytes.Equal(got, heartbeat) {
			t.Fatalf("heartbeat %d: read %q, %v; want %q", i, got, err, heartbeat)
		}
	}
}

// serveTLS serves h with a self-signed certificate through
// h.TLSListener on a loopback port, and returns its address.
func serveTLS(t *testing.T, h *Hub) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"http/1.1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
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
