//go:build linux

package hub

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// These tests serve HTTP/2 over TLS 1.3 through Hub.TLSListener, as herd
// serve does: the hub takes each connection from crypto/tls after its
// handshake and reads and writes its records itself, so that an idle
// connection parks as an h2c one does. The client writes its records
// with the hub's own sealer (keyed from its key log), to send what
// crypto/tls's client never would (KeyUpdates, bad records, records in
// pieces), and reads with crypto/tls.

// newTLSH2Server serves an open hub (and /echo) over TLS with the hub's
// HTTP/2 server, through TLSListener.
func newTLSH2Server(t *testing.T, configure ...func(*http.Server)) (*Hub, string) {
	t.Helper()
	return newTLSH2ServerWith(t, Config{}, configure...)
}

// newTLSH2ServerWith is newTLSH2Server with cfg (its Store is a memory
// store).
func newTLSH2ServerWith(t *testing.T, cfg Config, configure ...func(*http.Server)) (*Hub, string) {
	t.Helper()
	return newTLSH2ServerOn(t, cfg, nil, configure...)
}

// newTLSH2ServerOn is newTLSH2ServerWith on clock (the real one if nil).
func newTLSH2ServerOn(t *testing.T, cfg Config, clock *fakeClock, configure ...func(*http.Server)) (*Hub, string) {
	t.Helper()
	h, mux := openTestHub(t, cfg, clock)
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	h.ConfigureHTTP2(srv)
	for _, f := range configure {
		f(srv)
	}
	tcfg := serverConfig(t)
	tcfg.NextProtos = []string{"h2", "http/1.1"}
	return h, listenTLS(t, h, srv, tcfg)
}

// tlsH2Client is an HTTP/2 client over TLS 1.3 whose records out are
// sealed by the test (seal, under the client's traffic secret), and
// whose records in are crypto/tls's.
type tlsH2Client struct {
	tc     *tls.Conn
	tcp    net.Conn
	fr     *http2.Framer
	mu     sync.Mutex
	seal   *sealer
	secret []byte
}

// clientKeyLog keeps the client's application traffic secret.
type clientKeyLog struct{ secret []byte }

func (k *clientKeyLog) Write(line []byte) (int, error) {
	var s keyLog
	s.h2 = true
	(&s).Write(line)
	if s.client != nil {
		k.secret = s.client
	}
	return len(line), nil
}

// dialTLSH2 opens an HTTP/2 connection over TLS 1.3 and sends the preface
// and the client's SETTINGS.
func dialTLSH2(t *testing.T, addr string, cfg *tls.Config) *tlsH2Client {
	t.Helper()
	tcp, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	if cfg == nil {
		cfg = clientConfig.Clone()
	}
	cfg.NextProtos = []string{"h2"}
	var kl clientKeyLog
	cfg.KeyLogWriter = &kl
	tc := tls.Client(tcp, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	st := tc.ConnectionState()
	if st.NegotiatedProtocol != "h2" || st.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %q over %x", st.NegotiatedProtocol, st.Version)
	}
	seal, err := newSealer(st.CipherSuite, kl.secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsH2Client{tc: tc, tcp: tcp, seal: seal, secret: kl.secret}
	c.fr = http2.NewFramer(c, tc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	io.WriteString(c, http2.ClientPreface)
	c.fr.WriteSettings()
	c.fr.WriteWindowUpdate(0, 1<<30) // the streams' events do not hold up other streams
	return c
}

// Write seals p in records of at most 1000 bytes: a frame spans records.
func (c *tlsH2Client) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 1000)
		out = c.seal.seal(out, recordAppData, rest[:n])
		rest = rest[n:]
	}
	return c.tcp.Write(out)
}

// record sends one record of type typ.
func (c *tlsH2Client) record(typ byte, content []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tcp.Write(c.seal.seal(nil, typ, content))
}

// keyUpdate sends a KeyUpdate and moves the client's key on.
func (c *tlsH2Client) keyUpdate(t *testing.T, requested bool) {
	t.Helper()
	msg := []byte{24, 0, 0, 1, 0}
	if requested {
		msg[4] = 1
	}
	c.record(recordHandshake, msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := nextSecret(c.seal.suite, c.secret)
	if err != nil {
		t.Fatal(err)
	}
	if c.seal, err = newSealer(c.seal.suite, next, 0); err != nil {
		t.Fatal(err)
	}
	c.secret = next
}

// tlsParked reports whether h has n parked HTTP/2 connections and no
// goroutine serving one.
func tlsParked(h *Hub, n int) bool {
	h.mu.Lock()
	p := h.h2poll
	h.mu.Unlock()
	return p.parkedConns() == n && connGoroutines() == 0
}

// readEnd reads from c until the connection ends, and returns why.
func (c *tlsH2Client) readEnd() error {
	c.tc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, err := c.fr.ReadFrame(); err != nil {
			return err
		}
	}
}

// TestTLSH2_parked: an HTTP/2 connection over TLS 1.3 with an idle event
// stream has no goroutine at all, and delivers while parked; frames that
// come in records of every shape (split across records, a record in
// pieces, padded, empty) wake it, and are read.
func TestTLSH2_parked(t *testing.T) {
	h, addr := newTLSH2Server(t)
	c := dialTLSH2(t, addr, nil)
	if os.Getenv("HERD_TEST_NO_AES") != "" && c.seal.suite != tls.TLS_CHACHA20_POLY1305_SHA256 {
		t.Fatalf("suite %s without AES instructions", tls.CipherSuiteName(c.seal.suite))
	}
	openStream(t, c.fr, 1, "t")
	until(t, "the stream and its connection parked", func() bool { return h.Stats().Parked == 1 && tlsParked(h, 1) })
	for i := range 3 {
		if _, _, err := h.Publish(t.Context(), herd.Message{Data: "while parked " + strings.Repeat("x", i*20000), Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
		readUntil(t, c.fr, "the event", dataOn(1, "while parked"))
		until(t, "parked again", func() bool { return tlsParked(h, 1) })
	}
	ping := func(what string, data byte, send func([]byte)) {
		t.Helper()
		var frame bytes.Buffer
		http2.NewFramer(&frame, nil).WritePing(false, [8]byte{data})
		send(frame.Bytes())
		readUntil(t, c.fr, "the ACK of a PING "+what, func(f http2.Frame) bool {
			p, ok := f.(*http2.PingFrame)
			return ok && p.IsAck() && p.Data == [8]byte{data}
		})
		until(t, "parked after a PING "+what, func() bool { return tlsParked(h, 1) })
	}
	ping("in one record", 1, func(b []byte) { c.Write(b) })
	ping("in a record sent a byte at a time", 2, func(b []byte) {
		rec := c.seal.seal(nil, recordAppData, b)
		for i := range rec {
			c.tcp.Write(rec[i : i+1])
			until(t, "the byte read", func() bool { return tlsParked(h, 1) })
		}
	})
	ping("padded, after an empty record", 3, func(b []byte) {
		c.record(recordAppData, nil)
		c.mu.Lock()
		defer c.mu.Unlock()
		inner := append(append([]byte{}, b...), recordAppData)
		c.tcp.Write(sealInner(c.seal, append(inner, make([]byte, 200)...)))
	})
	// A large upload, in records of 1000 bytes, echoed.
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, BlockFragment: requestBlock("POST", "/echo")})
	body := bytes.Repeat([]byte("0123456789"), 6000)
	c.fr.WriteData(3, false, body[:16000])
	c.fr.WriteData(3, true, body[16000:32000])
	var got []byte
	readUntil(t, c.fr, "the echo", func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 3 {
			got = append(got, d.Data()...)
		}
		return len(got) >= 32000
	})
	if !bytes.Equal(got, body[:32000]) {
		t.Fatal("the echo differs")
	}
	// Idle, the connection keeps its keys and drops its ciphers.
	until(t, "the ciphers dropped", func() bool {
		h.h2sweep.mu.Lock()
		defer h.h2sweep.mu.Unlock()
		return len(h.h2sweep.warm) == 0
	})
}

// TestTLSH2_tlsConnCollected: once the connection is parked, nothing
// holds its tls.Conn (net/http's handler for the connection held it):
// its buffers are garbage.
func TestTLSH2_tlsConnCollected(t *testing.T) {
	collected := make(chan struct{})
	h, addr := newTLSH2Server(t, func(srv *http.Server) {
		serve := srv.TLSNextProto["h2"]
		srv.TLSNextProto["h2"] = func(srv *http.Server, tc *tls.Conn, handler http.Handler) {
			runtime.AddCleanup(tc, func(ch chan struct{}) { close(ch) }, collected)
			serve(srv, tc, handler)
		}
	})
	c := dialTLSH2(t, addr, nil)
	openStream(t, c.fr, 1, "t")
	until(t, "parked", func() bool { return tlsParked(h, 1) })
	until(t, "the tls.Conn collected", func() bool {
		runtime.GC()
		select {
		case <-collected:
			return true
		default:
			return false
		}
	})
	if _, _, err := h.Publish(t.Context(), herd.Message{Data: "still here", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c.fr, "the event", dataOn(1, "still here"))
}

// TestTLSH2_keyUpdate: the client's KeyUpdates move its key on; one that
// asks for the hub's gets it (crypto/tls's client reads on under the
// hub's new key), and the connection goes on and parks.
func TestTLSH2_keyUpdate(t *testing.T) {
	h, addr := newTLSH2Server(t)
	c := dialTLSH2(t, addr, nil)
	openStream(t, c.fr, 1, "t")
	for i, requested := range []bool{false, true, true, false} {
		until(t, "parked", func() bool { return tlsParked(h, 1) })
		c.keyUpdate(t, requested)
		c.fr.WritePing(false, [8]byte{byte(i)})
		readUntil(t, c.fr, "the PING's ACK under the new key", func(f http2.Frame) bool {
			p, ok := f.(*http2.PingFrame)
			return ok && p.IsAck() && p.Data == [8]byte{byte(i)}
		})
		if _, _, err := h.Publish(t.Context(), herd.Message{Data: "after a KeyUpdate", Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
		readUntil(t, c.fr, "the event", dataOn(1, "after a KeyUpdate"))
	}
	until(t, "parked at last", func() bool { return tlsParked(h, 1) })
}

// TestTLSH2_ends: a connection ends, its stream with it and nothing
// left running, when the client sends close_notify (answered with the
// hub's), a record that fails authentication or garbage (answered with
// bad_record_mac), another alert, half a record then its end, or a
// record too large.
func TestTLSH2_ends(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(c *tlsH2Client)
		want string // in the client's read error; "" for a clean end
	}{
		{"close_notify", func(c *tlsH2Client) { c.record(recordAlert, []byte{1, 0}) }, ""},
		{"a bad tag", func(c *tlsH2Client) {
			rec := c.seal.seal(nil, recordAppData, []byte("a frame"))
			rec[len(rec)-1] ^= 1
			c.tcp.Write(rec)
		}, "bad record MAC"},
		{"garbage", func(c *tlsH2Client) { c.tcp.Write([]byte("\x17\x03\x03\x00\x20garbage garbage garbage garbage!")) }, "bad record MAC"},
		{"a plaintext record", func(c *tlsH2Client) { c.tcp.Write([]byte("\x15\x03\x03\x00\x02\x01\x00")) }, "unexpected message"},
		{"a record too large", func(c *tlsH2Client) { c.tcp.Write([]byte("\x17\x03\x03\x41\x01")) }, "record overflow"},
		{"a handshake message", func(c *tlsH2Client) { c.record(recordHandshake, []byte{4, 0, 0, 0}) }, "unexpected message"},
		{"a fatal alert", func(c *tlsH2Client) { c.record(recordAlert, []byte{2, 40}) }, "EOF"},
		{"empty records, many in a row", func(c *tlsH2Client) {
			for range maxEmptyRecords + 1 {
				c.record(recordAppData, nil)
			}
		}, "unexpected message"},
		{"half a record, then the end", func(c *tlsH2Client) {
			rec := c.seal.seal(nil, recordAppData, []byte("a frame"))
			c.tcp.Write(rec[:len(rec)/2])
			c.tcp.(*net.TCPConn).CloseWrite()
		}, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, addr := newTLSH2Server(t)
			c := dialTLSH2(t, addr, nil)
			openStream(t, c.fr, 1, "t")
			until(t, "parked", func() bool { return h.Stats().Parked == 1 && tlsParked(h, 1) })
			tc.send(c)
			err := c.readEnd()
			if tc.want == "" && err != io.EOF || tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the client read %v, want %q", err, tc.want)
			}
			until(t, "the stream gone, nothing running", func() bool {
				return h.Stats().Subscribers == 0 && tlsParked(h, 0)
			})
		})
	}
}

// TestTLSH2_resumed: connections resuming a session are taken over and
// park too, with the keys of their own handshake.
func TestTLSH2_resumed(t *testing.T) {
	h, addr := newTLSH2Server(t)
	cache := tls.NewLRUClientSessionCache(4)
	for i := range 3 {
		cfg := clientConfig.Clone()
		cfg.ClientSessionCache = cache
		c := dialTLSH2(t, addr, cfg)
		openStream(t, c.fr, 1, "t")
		// The session ticket comes after the handshake: read to it.
		until(t, "parked", func() bool { return tlsParked(h, i+1) })
		if resumed := c.tc.ConnectionState().DidResume; resumed != (i > 0) {
			t.Fatalf("connection %d: resumed %v", i, resumed)
		}
		if _, _, err := h.Publish(t.Context(), herd.Message{Data: "resumed", Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
		readUntil(t, c.fr, "the event", dataOn(1, "resumed"))
	}
}

// TestTLSH2_TLS12: a TLS 1.2 HTTP/2 connection stays with crypto/tls
// (its reader blocked in tls.Conn's read) and is served as ever.
func TestTLSH2_TLS12(t *testing.T) {
	h, addr := newTLSH2Server(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "https://"+addr+"/events?topic=t", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.TLS.Version != tls.VersionTLS12 {
		t.Fatalf("%s over %x", resp.Proto, resp.TLS.Version)
	}
	until(t, "the stream parked", func() bool { return h.Stats().Parked == 1 })
	if tlsParked(h, 1) {
		t.Fatal("a TLS 1.2 connection parked")
	}
	h.Publish(t.Context(), herd.Message{Data: "over 1.2", Topics: []string{"t"}})
	buf := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte("over 1.2")) {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
}

// TestTLSH2_curl: curl (OpenSSL, nghttp2) reads a parked HTTP/2 stream
// under each TLS 1.3 cipher suite to its end.
func TestTLSH2_curl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed, and CI=true")
		}
		t.Skip("curl is not installed")
	}
	h, addr := newTLSH2Server(t)
	for i, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		t.Run(suite, func(t *testing.T) {
			topic := "curl" + string(rune('a'+i))
			cmd := exec.CommandContext(t.Context(), "curl", "--http2", "-k", "-N", "-sS", "--tlsv1.3", "--tls13-ciphers", suite,
				"https://"+addr+"/events?topic="+topic)
			var out, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			until(t, "parked", func() bool { return h.Stats().Parked == 1 && tlsParked(h, 1) })
			h.Publish(t.Context(), herd.Message{Data: "hello " + suite, Topics: []string{topic}})
			h.Publish(t.Context(), herd.Message{Data: strings.Repeat("big", 20000), Topics: []string{topic}})
			h.Publish(t.Context(), herd.Message{Topics: []string{topic}, Data: "bye", Close: true})
			if err := cmd.Wait(); err != nil {
				t.Fatalf("curl: %v\n%s", err, stderr.String())
			}
			for _, want := range []string{"data: hello " + suite, "data: bye", "event: close"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("curl's output lacks %q", want)
				}
			}
			until(t, "gone", func() bool { return h.Stats().Subscribers == 0 && tlsParked(h, 0) })
		})
	}
	// Go's own client, in a child process without AES instructions,
	// prefers ChaCha20-Poly1305 as the hub does then.
	if os.Getenv("HERD_TEST_NO_AES") == "" && runtime.GOARCH == "amd64" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTLSH2_(parked|keyUpdate)$")
		cmd.Env = append(os.Environ(), "GODEBUG=cpu.aes=off", "HERD_TEST_NO_AES=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("without AES instructions (ChaCha20-Poly1305): %v\n%s", err, out)
		}
	}
}

// TestTLSH2_ciphersCoolOnHubClock: a connection that used its ciphers
// keeps them through the next cooling of the hub's HTTP/2 sweep, and
// drops them at the one after if it used them no more; the sweep runs
// on the hub's clock.
func TestTLSH2_ciphersCoolOnHubClock(t *testing.T) {
	clock := newFakeClock()
	h, addr := newTLSH2ServerOn(t, Config{Heartbeat: time.Hour}, clock)
	warm := func() int {
		h.h2sweep.mu.Lock()
		defer h.h2sweep.mu.Unlock()
		return len(h.h2sweep.warm)
	}
	c := dialTLSH2(t, addr, nil)
	openStream(t, c.fr, 1, "t")
	until(t, "parked", func() bool { return tlsParked(h, 1) })
	if n := warm(); n != 1 {
		t.Fatalf("%d connections with ciphers after the stream opened, want 1", n)
	}
	clock.advance(cipherIdle) // used since the last cooling: kept
	if n := warm(); n != 1 {
		t.Fatalf("%d connections with ciphers after one cooling, want 1", n)
	}
	clock.advance(cipherIdle) // unused since: dropped
	if n := warm(); n != 0 {
		t.Fatalf("%d connections with ciphers after two coolings, want 0", n)
	}
	if _, _, err := h.Publish(t.Context(), herd.Message{Data: "warm again", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c.fr, "the event", dataOn(1, "warm again"))
	until(t, "the cipher made again", func() bool { return warm() == 1 }) // noted once the write returns

}
