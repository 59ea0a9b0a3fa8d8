package hub

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1.
func testCert(t testing.TB) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handedOver is a TLS 1.3 connection taken from crypto/tls as the engine
// takes one: the client's end, and the server's TCP connection and sealer.
type handedOver struct {
	client *tls.Conn
	raw    net.Conn
	seal   *sealer
}

// handOver makes a real TLS connection through newTLSListener, sends
// before through the server's tls.Conn (as net/http would: earlier
// responses, the session ticket), the client reading it, and then takes
// the connection over.
func handOver(t testing.TB, server *tls.Config, client *tls.Config, before ...[]byte) handedOver {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	var conns tlsConns
	ln := newTLSListener(tcp, server, &conns)
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil {
			accepted <- nil
			return
		}
		for _, b := range before {
			tc.Write(b)
		}
		accepted <- tc
	}()
	cc, err := tls.Dial("tcp", tcp.Addr().String(), client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	for _, b := range before {
		got := make([]byte, len(b))
		if _, err := io.ReadFull(cc, got); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("before the hand-over: %v", err)
		}
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("server handshake failed")
	}
	raw, seal, err := takeTLS(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if len(conns.m) != 0 {
		t.Errorf("%d connections still registered after the hand-over", len(conns.m))
	}
	return handedOver{client: cc, raw: raw, seal: seal}
}

func serverConfig(t testing.TB) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert(t)}, MinVersion: tls.VersionTLS12}
}

var clientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}

// expectRead reads want from c, then the end: close_notify.
func expectRead(t testing.TB, c *tls.Conn, want []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("client read %d of %d bytes: %v", len(got), len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("client read %d bytes, not the %d sealed", len(got), len(want))
	}
}

// TestSealer_readByCryptoTLS: what the hub seals after taking a
// connection from crypto/tls, a real crypto/tls client reads: after
// records of every size crypto/tls sent first (its session ticket,
// earlier responses), in records coalesced across frames and split past
// 16 KiB, up to the close_notify. In a child process without AES
// instructions, both ends prefer ChaCha20-Poly1305.
func TestSealer_readByCryptoTLS(t *testing.T) {
	suite := map[bool]uint16{false: tls.TLS_AES_128_GCM_SHA256, true: tls.TLS_CHACHA20_POLY1305_SHA256}[os.Getenv("HERD_TEST_NO_AES") != ""]
	for _, tickets := range []bool{true, false} {
		cfg := serverConfig(t)
		cfg.SessionTicketsDisabled = !tickets
		before := [][]byte{[]byte("HTTP/1.1 200 OK\r\n\r\nhi"), bytes.Repeat([]byte("b"), 40000), []byte("x")}
		if !tickets {
			before = nil // the first record under the traffic key is the hub's
		}
		ho := handOver(t, cfg, clientConfig, before...)
		if got := ho.seal.suite; got != suite {
			t.Fatalf("suite %s, want %s", tls.CipherSuiteName(got), tls.CipherSuiteName(suite))
		}
		frames := [][]byte{[]byte("data: one\n\n"), bytes.Repeat([]byte("y"), 50000), []byte(": \n\n"), bytes.Repeat([]byte("z"), 16384)}
		want := bytes.Join(frames, nil)
		var out []byte
		var b recordBatch
		for data := frames; len(data) > 0; {
			out = ho.seal.sealRecords(out, data, &b)
			data = advance(data, b.plain[b.n-1])
		}
		out = ho.seal.closeNotify(out)
		go func() { ho.raw.Write(out); ho.raw.Close() }()
		expectRead(t, ho.client, want)
	}
	// GODEBUG=cpu.aes=off is honoured on amd64 (where CI runs); curl
	// covers ChaCha20-Poly1305 on the engine too (TestTLS_curl).
	if os.Getenv("HERD_TEST_NO_AES") == "" && runtime.GOARCH == "amd64" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSealer_readByCryptoTLS$")
		cmd.Env = append(os.Environ(), "GODEBUG=cpu.aes=off", "HERD_TEST_NO_AES=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("without AES instructions (ChaCha20-Poly1305): %v\n%s", err, out)
		}
	}
}

// TestSealer_TLS12 is the fallback's precondition: a TLS 1.2 connection
// is not taken.
func TestSealer_TLS12(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	var conns tlsConns
	ln := newTLSListener(tcp, serverConfig(t), &conns)
	go func() {
		cc, err := tls.Dial("tcp", tcp.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
		if err == nil {
			defer cc.Close()
			io.Copy(io.Discard, cc)
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*tls.Conn)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := takeTLS(tc); err == nil {
		t.Fatal("a TLS 1.2 connection was taken")
	}
}

// cutWriter writes to w at most the next of cuts bytes per call, then
// fails as a full socket does.
type cutWriter struct {
	w    io.Writer
	cuts []int
}

var errFull = errors.New("full")

func (c *cutWriter) write(b []byte) (int, error) {
	if len(c.cuts) == 0 {
		n, err := c.w.Write(b)
		return n, err
	}
	n := min(c.cuts[0], len(b))
	c.cuts = c.cuts[1:]
	if _, err := c.w.Write(b[:n]); err != nil {
		return 0, err
	}
	if n < len(b) {
		return n, errFull
	}
	return n, nil
}

// FuzzWriteRecords: frames of any sizes, written as the engine writes
// them through sockets that fill up at any byte (a record cut short is
// sealed again when the socket drains), reach a crypto/tls client whole
// and in order.
func FuzzWriteRecords(f *testing.F) {
	f.Add([]byte{10, 200, 3, 0, 77}, []byte{5, 0, 40, 255})
	f.Add([]byte{255, 255, 255, 255, 255}, []byte{1, 2, 3})
	cfg := serverConfig(f)
	f.Fuzz(func(t *testing.T, sizes, cuts []byte) {
		if len(sizes) > 64 || len(cuts) > 64 {
			return
		}
		ho := handOver(t, cfg, clientConfig, []byte("before"))
		var frames [][]byte
		var want []byte
		for i, n := range sizes {
			if n == 0 {
				continue // the engine writes no empty frame
			}
			fr := bytes.Repeat([]byte{byte('a' + i%26)}, int(n)*97)
			frames = append(frames, fr)
			want = append(want, fr...)
		}
		cw := &cutWriter{w: ho.raw}
		for _, c := range cuts {
			cw.cuts = append(cw.cuts, int(c)*61)
		}
		failed := make(chan error, 1)
		go func() {
			defer ho.raw.Close()
			var buf []byte
			var b recordBatch
			sent := 0
			for out := frames; len(out) > 0; {
				n, nbuf, err := ho.seal.writeRecords(cw.write, out, &sent, buf, &b)
				buf = nbuf
				if err != nil && err != errFull {
					failed <- err
					return
				}
				out = advance(out, n)
			}
			if sent != 0 {
				failed <- errors.New("bytes of a record left over with nothing to send")
				return
			}
			ho.raw.Write(ho.seal.closeNotify(nil))
			failed <- nil
		}()
		expectRead(t, ho.client, want)
		if err := <-failed; err != nil {
			t.Fatal(err)
		}
	})
}
