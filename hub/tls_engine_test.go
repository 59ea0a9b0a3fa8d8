//go:build linux

package hub_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/sse"
)

// These tests serve the hub over real TLS, through Hub.TLSListener, as
// herd serve does, and read its streams with crypto/tls and curl: a TLS
// 1.3 HTTP/1.1 stream is parked on the connection engine, which seals its
// records.

// tlsServer serves h with TLS on a loopback port and returns its address;
// configure, if any, is applied to the server before it serves.
func tlsServer(t *testing.T, h *hub.Hub, configure ...func(*http.Server)) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	for _, f := range configure {
		f(srv)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(h.TLSListener(tcp, cfg))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return tcp.Addr().String()
}

// tlsStream opens a stream with a bare crypto/tls client (no goroutine of
// its own), reads the response head and returns the connection and a
// reader of the events.
func tlsStream(t *testing.T, addr, query string, cfg *tls.Config, headers ...string) (*tls.Conn, *sse.Reader) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET /events?" + query + " HTTP/1.1\r\nHost: localhost\r\n"
	for i := 0; i+1 < len(headers); i += 2 {
		req += headers[i] + ": " + headers[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	return c, sse.NewReader(resp.Body)
}

func nextEvent(t *testing.T, r *sse.Reader) sse.Event {
	t.Helper()
	e, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTLS_engineStream: a TLS 1.3 stream is parked; it gets its events,
// heartbeats, the close event and a clean end, and resumes.
func TestTLS_engineStream(t *testing.T) {
	h := newHub(t, hub.Config{Heartbeat: 20 * time.Millisecond}, herd.Retention{})
	addr := tlsServer(t, h)
	_, r := tlsStream(t, addr, "topic=job", nil)
	waitFor(t, func() bool { return h.Stats().Parked == 1 })
	first := publish(t, h, msg("one", "job"))
	if e := nextEvent(t, r); e.Data != "one" || e.ID != first.ID {
		t.Fatalf("first event %+v", e)
	}
	publish(t, h, msg("two", "job"))
	end := publish(t, h, herd.Message{Topics: []string{"job"}, Data: "done", Close: true})
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "close" && e.ID != end.ID {
			t.Errorf("close event %+v", e)
		}
	}
	waitFor(t, func() bool { return h.Stats().Subscribers == 0 })
	if st := h.Stats(); st.Ended["topic_closed"] != 1 {
		t.Errorf("ended %v", st.Ended)
	}

	// Resuming replays from the id, over TLS, then parks again: the
	// replay's records are the hub's too.
	_, r = tlsStream(t, addr, "topic=job", nil, "Last-Event-ID", first.ID)
	var got []string
	for e, err := range r.Events() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Data)
	}
	if len(got) != 3 || got[1] != "done" {
		t.Errorf("resumed: %q", got)
	}
}

// TestTLS_engineResumed: a connection that resumes a TLS 1.3 session (a
// ticket from an earlier connection, no certificate exchanged) is parked
// too, with the keys of its own handshake. TLSListener gives each
// connection a config of its own; session tickets still work across them,
// for HTTP/1.1 and for a following HTTP/2 connection.
func TestTLS_engineResumed(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	addr := tlsServer(t, h)
	cache := tls.NewLRUClientSessionCache(4)
	for i, protos := range [][]string{{"http/1.1"}, {"http/1.1"}, {"http/1.1"}} {
		cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: protos, ClientSessionCache: cache}
		topic := fmt.Sprintf("resumed-%d", i)
		c, r := tlsStream(t, addr, "topic="+topic, cfg)
		if resumed := c.ConnectionState().DidResume; resumed != (i > 0) {
			t.Fatalf("connection %d: resumed %v", i, resumed)
		}
		waitFor(t, func() bool { return h.Stats().Parked == i+1 })
		sent := publish(t, h, msg("over "+topic, topic))
		if e := nextEvent(t, r); e.ID != sent.ID || e.Data != "over "+topic {
			t.Fatalf("connection %d read %+v", i, e)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, ClientSessionCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.ConnectionState(); !st.DidResume || st.NegotiatedProtocol != "h2" {
		t.Errorf("HTTP/2 after HTTP/1.1: resumed %v, protocol %q", st.DidResume, st.NegotiatedProtocol)
	}
}

// TestTLS_engineBurst: many events at once, small and past 16 KiB, are
// coalesced into records and split across them, and arrive in order.
func TestTLS_engineBurst(t *testing.T) {
	h := newHub(t, hub.Config{QueueBytes: 16 << 20, QueueLength: 10000}, herd.Retention{})
	addr := tlsServer(t, h)
	_, r := tlsStream(t, addr, "topic=b", nil)
	waitFor(t, func() bool { return h.Stats().Parked == 1 })
	var want []string
	for i := range 600 {
		data := fmt.Sprintf("%d:%s", i, strings.Repeat("x", i%7*3000))
		if i%100 == 0 {
			data += strings.Repeat("y", 40000)
		}
		want = append(want, data)
		publish(t, h, msg(data, "b"))
	}
	for i, w := range want {
		if e := nextEvent(t, r); e.Data != w {
			t.Fatalf("event %d: %d bytes, want %d", i, len(e.Data), len(w))
		}
	}
}

// TestTLS_engineSlowReader: a client that stops reading fills its socket
// (the engine's writes stop mid-record), then reads everything, intact.
func TestTLS_engineSlowReader(t *testing.T) {
	h := newHub(t, hub.Config{QueueBytes: 64 << 20, QueueLength: 10000, WriteTimeout: time.Minute}, herd.Retention{})
	addr := tlsServer(t, h)
	dialer := &net.Dialer{Control: nil}
	raw, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.(*net.TCPConn).SetReadBuffer(64 << 10)
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET /events?topic=slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.Stats().Parked == 1 })
	const n = 400
	for i := range n {
		publish(t, h, msg(fmt.Sprintf("%d %s", i, strings.Repeat("s", 20000+i)), "slow"))
	}
	// The client has read nothing: 8 MB do not fit in its socket, and
	// what the socket could not take waits, cut at any byte.
	waitFor(t, func() bool { return h.Stats().Delivered > 0 })
	time.Sleep(200 * time.Millisecond) // let the writers fill the socket
	r := sse.NewReader(resp.Body)
	for i := range n {
		e := nextEvent(t, r)
		if want := fmt.Sprintf("%d %s", i, strings.Repeat("s", 20000+i)); e.Data != want {
			t.Fatalf("event %d damaged", i)
		}
	}
	if st := h.Stats(); st.Subscribers != 1 {
		t.Errorf("the slow reader was dropped: %v", st.Ended)
	}
}

// TestTLS_engineStuckReaders: TLS clients that never read are cut off
// (slow, or the write timeout) mid-record, without holding back a healthy
// one, as plain ones are (TestHTTP_stuckReaders).
func TestTLS_engineStuckReaders(t *testing.T) {
	h := newHub(t, hub.Config{QueueBytes: 256 << 10, WriteTimeout: 500 * time.Millisecond}, herd.Retention{})
	addr := tlsServer(t, h)
	const stuck = 10
	for range stuck {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		raw.(*net.TCPConn).SetReadBuffer(4096)
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /events?topic=big HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	_, r := tlsStream(t, addr, "topic=big", nil)
	waitFor(t, func() bool { return h.Stats().Parked == stuck+1 })
	payload := strings.Repeat("z", 32<<10)
	for i := range 200 {
		publish(t, h, msg(payload, "big"))
		if e := nextEvent(t, r); e.Data != payload {
			t.Fatalf("healthy client, event %d damaged", i)
		}
	}
	waitFor(t, func() bool { return h.Stats().Subscribers == 1 })
	if st := h.Stats(); st.Ended["slow"]+st.Ended["write_failed"] != stuck {
		t.Errorf("ended %v", st.Ended)
	}
}

// TestTLS_engineClientLeaves: a client closing its connection (with
// close_notify, as crypto/tls does) ends its subscription.
func TestTLS_engineClientLeaves(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	addr := tlsServer(t, h)
	c, _ := tlsStream(t, addr, "topic=x", nil)
	waitFor(t, func() bool { return h.Stats().Parked == 1 })
	c.Close()
	waitFor(t, func() bool { return h.Stats().Subscribers == 0 })
	if st := h.Stats(); st.Ended["client"] != 1 {
		t.Errorf("ended %v", st.Ended)
	}
}

// TestTLS_engineShutdown: closing the hub ends parked TLS streams with
// close_notify, which crypto/tls reports as a clean io.EOF.
func TestTLS_engineShutdown(t *testing.T) {
	h := newHub(t, hub.Config{ShutdownWindow: 10 * time.Millisecond}, herd.Retention{})
	addr := tlsServer(t, h)
	c, r := tlsStream(t, addr, "topic=x", nil)
	waitFor(t, func() bool { return h.Stats().Parked == 1 })
	h.Close(context.Background())
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after Close: %v, want io.EOF", err)
	}
	if st := h.Stats(); st.Ended["shutdown"] != 1 {
		t.Errorf("ended %v", st.Ended)
	}
}

// TestTLS_engineNoGoroutines: 200 parked TLS streams hold no goroutine.
func TestTLS_engineNoGoroutines(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	addr := tlsServer(t, h)
	before := runtime.NumGoroutine()
	const n = 200
	for range n {
		tlsStream(t, addr, "topic=many", nil)
	}
	waitFor(t, func() bool { return h.Stats().Parked == n })
	var after int
	waitFor(t, func() bool { after = runtime.NumGoroutine(); return after-before < 10 })
	publish(t, h, msg("all", "many"))
	if st := h.Stats(); st.Subscribers != n {
		t.Errorf("%d subscribers", st.Subscribers)
	}
}

// TestTLS_12FallsBack: a TLS 1.2 client is served by net/http, as before.
func TestTLS_12FallsBack(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	addr := tlsServer(t, h)
	_, r := tlsStream(t, addr, "topic=old", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	waitFor(t, func() bool { return h.Stats().Subscribers == 1 })
	if st := h.Stats(); st.Parked != 0 {
		t.Fatalf("a TLS 1.2 stream was parked")
	}
	publish(t, h, msg("still", "old"))
	if e := nextEvent(t, r); e.Data != "still" {
		t.Errorf("event %+v", e)
	}
}

// TestTLS_withHTTP2: on one TLSListener, a connection that negotiates
// "h2" goes to the hub's HTTP/2 server (ConfigureHTTP2) and is parked
// there, one that negotiates "http/1.1" over TLS 1.3 is parked on the
// engine, and both get every event: the capture under the first does not
// stand in the HTTP/2 server's way.
func TestTLS_withHTTP2(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	addr := tlsServer(t, h, func(srv *http.Server) {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
		h.ConfigureHTTP2(srv)
	})
	h2 := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer h2.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "https://"+addr+"/events?topic=mix", nil)
	resp, err := h2.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	waitFor(t, func() bool { return h.Stats().Parked == 1 })
	_, r1 := tlsStream(t, addr, "topic=mix", nil)
	waitFor(t, func() bool { return h.Stats().Parked == 2 })
	r2 := sse.NewReader(resp.Body)
	for i := range 3 {
		data := fmt.Sprintf("both %d %s", i, strings.Repeat("m", i*20000))
		publish(t, h, msg(data, "mix"))
		if e := nextEvent(t, r1); e.Data != data {
			t.Fatalf("HTTP/1.1 stream, event %d: %d bytes", i, len(e.Data))
		}
		if e := nextEvent(t, r2); e.Data != data {
			t.Fatalf("HTTP/2 stream, event %d: %d bytes", i, len(e.Data))
		}
	}
	// Other requests on the HTTP/2 connection run as ever.
	hc := &http.Client{Transport: h2}
	pub, err := hc.Post("https://"+addr+"/events", "application/x-www-form-urlencoded", strings.NewReader("topic=mix&data=over-h2"))
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	if pub.ProtoMajor != 2 {
		t.Errorf("publish over %s", pub.Proto)
	}
	if e := nextEvent(t, r2); e.Data != "over-h2" {
		t.Errorf("HTTP/2 stream: %+v", e)
	}
	if e := nextEvent(t, r1); e.Data != "over-h2" {
		t.Errorf("HTTP/1.1 stream: %+v", e)
	}
}

// TestTLS_noEngine: with the engine off, TLSListener is crypto/tls's
// listener and TLS 1.3 streams stay on net/http's path.
func TestTLS_noEngine(t *testing.T) {
	h := newHub(t, hub.Config{NoEngine: true}, herd.Retention{})
	addr := tlsServer(t, h)
	_, r := tlsStream(t, addr, "topic=plain", nil)
	waitFor(t, func() bool { return h.Stats().Subscribers == 1 })
	if st := h.Stats(); st.Parked != 0 {
		t.Fatal("a stream was parked with NoEngine")
	}
	publish(t, h, msg("net/http", "plain"))
	if e := nextEvent(t, r); e.Data != "net/http" {
		t.Errorf("event %+v", e)
	}
}

// TestTLS_curl: curl (OpenSSL) reads a parked stream under each TLS 1.3
// cipher suite, to its close, which must end with close_notify: curl
// fails a TLS stream cut without one.
func TestTLS_curl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" { // the test command's machine has it
			t.Fatal("curl is not installed, and CI=true")
		}
		t.Skip("curl is not installed")
	}
	h := newHub(t, hub.Config{}, herd.Retention{})
	addr := tlsServer(t, h)
	for i, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		t.Run(suite, func(t *testing.T) {
			topic := fmt.Sprintf("curl%d", i)
			cmd := exec.CommandContext(t.Context(), "curl", "--http1.1", "-k", "-N", "-sS", "--tlsv1.3", "--tls13-ciphers", suite,
				"https://"+addr+"/events?topic="+topic)
			var out, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return h.Stats().Parked == 1 })
			publish(t, h, msg("hello "+suite, topic))
			publish(t, h, msg(strings.Repeat("big", 20000), topic))
			publish(t, h, herd.Message{Topics: []string{topic}, Data: "bye", Close: true})
			err := cmd.Wait()
			var exit *exec.ExitError
			if errors.As(err, &exit) || err != nil {
				t.Fatalf("curl: %v\n%s", err, stderr.String())
			}
			for _, want := range []string{"data: hello " + suite, "data: bye", "event: close"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("curl's output lacks %q", want)
				}
			}
		})
	}
	if st := h.Stats(); st.Ended["topic_closed"] != 3 {
		t.Errorf("ended %v", st.Ended)
	}
}
