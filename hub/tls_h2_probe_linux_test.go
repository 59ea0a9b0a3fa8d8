//go:build attackprobe

// Attack probes of HTTP/2 over TLS 1.3 taken from crypto/tls (SECURITY.md,
// "A third probe"): they log what each attack costs (CPU of the process,
// heap, goroutines) and mostly assert nothing; they are not part of the
// test suite. Run: go test -tags attackprobe ./hub -run TestProbe -v

package hub

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// KeyUpdate storm vs PING storm, clients never read.
func TestProbe_keyUpdateStorm(t *testing.T) {
	const n = 20
	for _, kind := range []string{"ping", "keyupdate", "ping", "keyupdate"} {
		h, addr := newTLSH2ServerWith(t, Config{WriteTimeout: 2 * time.Second})
		cs := make([]*tlsH2Client, n)
		for i := range cs {
			cs[i] = dialTLSH2(t, addr, nil)
			openStream(t, cs[i].fr, 1, "t")
		}
		until(t, "parked", func() bool { return tlsParked(h, n) })
		h0, c0 := heapMB(), cpuNow()
		var sent [n]int
		var wg sync.WaitGroup
		var peakG, peakConn int
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				peakG = max(peakG, runtime.NumGoroutine())
				peakConn = max(peakConn, connGoroutines())
			}
		}()
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.tcp.SetWriteDeadline(time.Now().Add(6 * time.Second))
				for j := 0; j < 200000; j++ {
					if kind == "ping" {
						var b bytes.Buffer
						http2.NewFramer(&b, nil).WritePing(false, [8]byte{1})
						if _, err := c.Write(b.Bytes()); err != nil {
							return
						}
					} else {
						c.mu.Lock()
						_, err := c.tcp.Write(c.seal.seal(nil, recordHandshake, []byte{24, 0, 0, 1, 1}))
						c.mu.Unlock()
						if err != nil {
							return
						}
						next, _ := nextSecret(c.seal.suite, c.secret)
						c.seal, _ = newSealer(c.seal.suite, next, 0)
						c.secret = next
					}
					sent[i]++
				}
			}()
		}
		wg.Wait()
		h1 := heapMB()
		until(t, "connections gone", func() bool { return connGoroutines() == 0 })
		close(stop)
		tot := 0
		for _, s := range sent {
			tot += s
		}
		t.Logf("%s: %d conns, %d sent total, cpu %.2fs (%.1f µs each), peak goroutines %d (conn %d), heap %.1f -> %.1f MB, after %.1f MB",
			kind, n, tot, (cpuNow() - c0).Seconds(), float64(cpuNow()-c0)/float64(tot)/1e3, peakG, peakConn, h0, h1, heapMB())
		_ = herd.Message{}
	}
}

// A slow handshake: bytes of a ClientHello one at a time.
func TestProbe_handshakeSlowloris(t *testing.T) {
	const n = 200
	h, addr := newTLSH2ServerWith(t, Config{}, func(s *http.Server) { s.ReadHeaderTimeout = 3 * time.Second })
	_ = h
	g0, h0 := runtime.NumGoroutine(), heapMB()
	// a real ClientHello
	var hello bytes.Buffer
	rec := &recConn{w: &hello}
	tls.Client(rec, clientConfig.Clone()).Handshake()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	start := time.Now()
	closed := 0
	for k := 0; k < hello.Len() && closed < n; k++ {
		closed = 0
		for _, c := range conns {
			if _, err := c.Write(hello.Bytes()[k : k+1]); err != nil {
				closed++
			}
		}
		if k == 5 {
			time.Sleep(500 * time.Millisecond)
			t.Logf("after 6 bytes: goroutines +%d, heap +%.2f MB (%.1f KB/conn)", runtime.NumGoroutine()-g0, heapMB()-h0, (heapMB()-h0)*1024/n)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("all %d cut after %v (%d bytes of %d sent)", closed, time.Since(start), 0, hello.Len())
}

type recConn struct {
	net.Conn
	w *bytes.Buffer
}

func (r *recConn) Write(p []byte) (int, error)      { r.w.Write(p); return len(p), nil }
func (r *recConn) Read(p []byte) (int, error)       { return 0, fmt.Errorf("no") }
func (r *recConn) Close() error                     { return nil }
func (r *recConn) SetDeadline(time.Time) error      { return nil }
func (r *recConn) SetReadDeadline(time.Time) error  { return nil }
func (r *recConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (r *recConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// Churn: connections open streams on their own topics and close (cleanly,
// abruptly, mid-record) at a high rate while publishes go to every topic;
// no client may see another's data.
func TestProbe_churnCrossTalk(t *testing.T) {
	h, addr := newTLSH2ServerWith(t, Config{})
	const workers = 16
	deadline := time.Now().Add(15 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns, bad, got := 0, 0, 0
	g0, c0 := runtime.NumGoroutine(), cpuNow()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; time.Now().Before(deadline); it++ {
				topic := fmt.Sprintf("w%d-%d", w, it)
				c := dialTLSH2(t, addr, nil)
				openStream(t, c.fr, 1, topic)
				// others publish too: publish to own and a neighbour's
				h.Publish(t.Context(), herd.Message{Data: topic + ":mine", Topics: []string{topic}})
				h.Publish(t.Context(), herd.Message{Data: fmt.Sprintf("w%d-%d:other", (w+1)%workers, it), Topics: []string{fmt.Sprintf("w%d-%d", (w+1)%workers, it)}})
				c.tc.SetReadDeadline(time.Now().Add(10 * time.Second))
				for seen := false; !seen; {
					f, err := c.fr.ReadFrame()
					if err != nil {
						t.Errorf("%s: %v", topic, err)
						break
					}
					if d, ok := f.(*http2.DataFrame); ok {
						for _, line := range bytes.Split(d.Data(), []byte("\n")) {
							if bytes.HasPrefix(line, []byte("data: ")) {
								mu.Lock()
								got++
								if !bytes.HasPrefix(line[6:], []byte(topic+":")) {
									bad++
									t.Errorf("%s saw %q", topic, line)
								}
								mu.Unlock()
								seen = true
							}
						}
					}
				}
				switch it % 3 {
				case 0:
					c.tcp.Close()
				case 1:
					rec := c.seal.seal(nil, recordAppData, []byte("xxxxxxxxxxxxxxxxxx"))
					c.tcp.Write(rec[:len(rec)/2])
					c.tcp.Close()
				case 2:
					c.record(recordAlert, []byte{1, 0})
					c.tcp.Close()
				}
				mu.Lock()
				conns++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	until(t, "all gone", func() bool { return connGoroutines() == 0 && h.Stats().Subscribers == 0 })
	t.Logf("%d connections, %d events seen, %d not their own; cpu %.2fs (%.0f µs/conn), goroutines %d -> %d, heap %.1f MB",
		conns, got, bad, (cpuNow() - c0).Seconds(), float64(cpuNow()-c0)/float64(conns)/1e3, g0, runtime.NumGoroutine(), heapMB())
}

func pingBytes(d byte) []byte {
	var b bytes.Buffer
	http2.NewFramer(&b, nil).WritePing(false, [8]byte{d})
	return b.Bytes()
}

// outcome sends raw, then a PING in a normal record, and reports whether
// the PING was answered or the connection ended (and how).
func outcome(t *testing.T, addr string, send func(c *tlsH2Client)) string {
	c := dialTLSH2(t, addr, nil)
	openStream(t, c.fr, 1, "t")
	send(c)
	c.Write(pingBytes(9))
	c.tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return "ended: " + err.Error()
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data == [8]byte{9} {
			return "answered"
		}
	}
}

func TestProbe_recordShapes(t *testing.T) {
	h, addr := newTLSH2ServerWith(t, Config{})
	// split at every byte boundary, two records
	c := dialTLSH2(t, addr, nil)
	openStream(t, c.fr, 1, "t")
	for k := 1; ; k++ {
		recs := append(c.seal.seal(nil, recordAppData, pingBytes(1)[:10]), c.seal.seal(nil, recordAppData, pingBytes(1)[10:])...)
		if k >= len(recs) {
			break
		}
		c.tcp.Write(recs[:k])
		until(t, "parked", func() bool { return tlsParked(h, 1) })
		c.tcp.Write(recs[k:])
		c.tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				t.Fatalf("split at %d: %v", k, err)
			}
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
				break
			}
		}
	}
	t.Logf("split at every boundary of two records: all answered")
	inner := func(c *tlsH2Client, b []byte) { c.mu.Lock(); c.tcp.Write(sealInner(c.seal, b)); c.mu.Unlock() }
	pad := func(n int) []byte { return make([]byte, n) }
	raw := func(c *tlsH2Client, b []byte) { c.tcp.Write(b) }
	for _, tc := range []struct {
		name string
		send func(c *tlsH2Client)
	}{
		{"max record: PING + type + padding to 2^14+256 sealed", func(c *tlsH2Client) {
			inner(c, append(append(pingBytes(2), recordAppData), pad(16640-16-18)...))
		}},
		{"one byte over: padding to 2^14+257", func(c *tlsH2Client) {
			inner(c, append(append(pingBytes(2), recordAppData), pad(16640-16-17)...))
		}},
		{"content 2^14 (DATA-less: 16384 bytes of PADDING frame-ish)", func(c *tlsH2Client) {
			var b bytes.Buffer
			fr := http2.NewFramer(&b, nil)
			for b.Len() < 16384-17 {
				fr.WritePing(false, [8]byte{3})
			}
			x := b.Bytes()[:16384-17]
			_ = x
			var w bytes.Buffer
			http2.NewFramer(&w, nil).WriteWindowUpdate(0, 1)
			inner(c, append(append(bytes.Repeat(pingBytes(3), 963), w.Bytes()...), recordAppData)) // 963*17+13 = 16384
		}},
		{"content 2^14+1", func(c *tlsH2Client) { inner(c, append(make([]byte, 16385), recordAppData)) }},
		{"16 empty records", func(c *tlsH2Client) {
			for range 16 {
				c.record(recordAppData, nil)
			}
		}},
		{"17 empty records", func(c *tlsH2Client) {
			for range 17 {
				c.record(recordAppData, nil)
			}
		}},
		{"padding only (no type)", func(c *tlsH2Client) { inner(c, pad(100)) }},
		{"inner type CCS(20)", func(c *tlsH2Client) { inner(c, []byte{1, 20}) }},
		{"inner type 99", func(c *tlsH2Client) { inner(c, []byte{1, 99}) }},
		{"plaintext CCS record", func(c *tlsH2Client) { raw(c, []byte{20, 3, 3, 0, 1, 1}) }},
		{"plaintext alert record", func(c *tlsH2Client) { raw(c, []byte{21, 3, 3, 0, 2, 2, 40}) }},
		{"record version 0x0301 (sealed with it)", func(c *tlsH2Client) {
			c.mu.Lock()
			r := c.seal.seal(nil, recordAppData, pingBytes(4))
			c.mu.Unlock()
			r[2] = 1 // header changed after sealing: AAD differs
			raw(c, r)
		}},
		{"alert warning close_notify", func(c *tlsH2Client) { c.record(recordAlert, []byte{1, 0}) }},
		{"alert fatal close_notify", func(c *tlsH2Client) { c.record(recordAlert, []byte{2, 0}) }},
		{"alert warning user_canceled", func(c *tlsH2Client) { c.record(recordAlert, []byte{1, 90}) }},
		{"alert fatal internal_error", func(c *tlsH2Client) { c.record(recordAlert, []byte{2, 80}) }},
		{"alert 3 bytes", func(c *tlsH2Client) { c.record(recordAlert, []byte{1, 0, 0}) }},
		{"alert level 7", func(c *tlsH2Client) { c.record(recordAlert, []byte{7, 0}) }},
		{"NewSessionTicket", func(c *tlsH2Client) { c.record(recordHandshake, []byte{4, 0, 0, 4, 0, 0, 0, 0}) }},
		{"Finished", func(c *tlsH2Client) { c.record(recordHandshake, append([]byte{20, 0, 0, 32}, pad(32)...)) }},
		{"ClientHello (renegotiation)", func(c *tlsH2Client) { c.record(recordHandshake, append([]byte{1, 0, 0, 4}, pad(4)...)) }},
		{"KeyUpdate value 2", func(c *tlsH2Client) { c.record(recordHandshake, []byte{24, 0, 0, 1, 2}) }},
		{"two KeyUpdates in one record", func(c *tlsH2Client) { c.record(recordHandshake, []byte{24, 0, 0, 1, 0, 24, 0, 0, 1, 0}) }},
		{"KeyUpdate then data in the same flight, old key", func(c *tlsH2Client) {
			c.record(recordHandshake, []byte{24, 0, 0, 1, 0})
			c.record(recordAppData, pingBytes(5)) // not moved on: under the old key
		}},
		{"empty handshake record", func(c *tlsH2Client) { c.record(recordHandshake, nil) }},
		{"close_notify mid-HEADERS", func(c *tlsH2Client) {
			var b bytes.Buffer
			http2.NewFramer(&b, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, EndStream: true, BlockFragment: requestBlock("GET", "/events?topic=u")})
			c.record(recordAppData, b.Bytes()[:12])
			c.record(recordAlert, []byte{1, 0})
		}},
	} {
		t.Logf("%-55s %s", tc.name, outcome(t, addr, tc.send))
	}
	until(t, "all gone", func() bool { return connGoroutines() == 0 })
}

// CPU per PING: PINGs in whole records vs one byte of content per record.
func TestProbe_tinyRecords(t *testing.T) {
	h, addr := newTLSH2ServerWith(t, Config{})
	_ = h
	for _, per := range []int{17 * 500, 1, 17 * 500, 1} {
		c := dialTLSH2(t, addr, nil)
		openStream(t, c.fr, 1, "t")
		go func() {
			for {
				if _, err := c.fr.ReadFrame(); err != nil {
					return
				}
			}
		}()
		const pings = 20000
		all := bytes.Repeat(pingBytes(1), pings)
		c0 := cpuNow()
		var out []byte
		for off := 0; off < len(all); off += per {
			out = c.seal.seal(out, recordAppData, all[off:min(off+per, len(all))])
			if len(out) > 1<<16 {
				c.tcp.Write(out)
				out = out[:0]
			}
		}
		c.tcp.Write(out)
		c.Write(pingBytes(9))
		time.Sleep(3 * time.Second)
		t.Logf("content per record %5d: %d PINGs, %.2fs cpu (%.2f µs/PING)", per, pings, (cpuNow() - c0).Seconds(), float64(cpuNow()-c0)/pings/1e3)
		c.tcp.Close()
	}
}

// Stalled readers among readers: TLS h2 streams, half never read.
func TestProbe_stalledAmongReaders(t *testing.T) {
	h, addr := newTLSH2ServerWith(t, Config{WriteTimeout: 3 * time.Second})
	const n = 40
	cs := make([]*tlsH2Client, n)
	for i := range cs {
		cs[i] = dialTLSH2(t, addr, nil)
		openStream(t, cs[i].fr, 1, "t")
	}
	got := make([]int, n)
	var wg sync.WaitGroup
	step := 2
	if os.Getenv("ALLREAD") != "" {
		step = 1
	}
	for i := 0; i < n; i += step {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[i].tc.SetReadDeadline(time.Now().Add(60 * time.Second))
			for got[i] < 3000 {
				f, err := cs[i].fr.ReadFrame()
				if err != nil {
					t.Errorf("reader %d: %v after %d", i, err, got[i])
					return
				}
				if r, ok := f.(*http2.RSTStreamFrame); ok {
					t.Logf("reader %d: RST %v after %d", i, r.ErrCode, got[i])
					return
				}
				if d, ok := f.(*http2.DataFrame); ok {
					if d.StreamEnded() {
						t.Logf("reader %d: END_STREAM after %d: %q", i, got[i], d.Data())
						return
					}
					got[i] += bytes.Count(d.Data(), []byte("data: "))
					if len(d.Data()) > 0 {
						cs[i].fr.WriteWindowUpdate(1, uint32(len(d.Data())))
					}
				}
			}
		}()
	}
	h0, c0 := heapMB(), cpuNow()
	peak := 0.0
	for j := range 3000 {
		h.Publish(t.Context(), herd.Message{Data: fmt.Sprint(j, string(bytes.Repeat([]byte("x"), 2000))), Topics: []string{"t"}})
		if j%500 == 0 {
			peak = max(peak, heapMB())
		}
		if j%30 == 29 {
			for w := time.Now(); time.Since(w) < 5*time.Second; time.Sleep(time.Millisecond) {
				lag := false
				for i := 0; i < n; i += step {
					lag = lag || got[i] < j
				}
				if !lag {
					break
				}
			}
		}
	}
	wg.Wait()
	t.Logf("readers all got 3000: %v; cpu %.2fs; heap %.1f -> peak %.1f -> %.1f MB; subscribers %d", got[0] == 3000 && got[n-2] == 3000, (cpuNow() - c0).Seconds(), h0, peak, heapMB(), h.Stats().Subscribers)
}

// Subscribe-auth through the taken-over TLS path.
func TestProbe_subscribeAuth(t *testing.T) {
	auth := AuthenticatorFunc(func(tok string) (Grant, error) {
		if tok == "good" {
			return Grant{Subscribe: []string{"s"}}, nil
		}
		return Grant{}, fmt.Errorf("no")
	})
	h, addr := newTLSH2ServerWith(t, Config{Auth: auth, SubscribeAuth: true})
	block := func(path, tok string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if tok != "" {
			enc.WriteField(hpack.HeaderField{Name: "authorization", Value: "Bearer " + tok})
		}
		return b.Bytes()
	}
	type sub struct {
		name string
		c    *tlsH2Client
	}
	var subs []sub
	for _, s := range []struct{ name, path, tok string }{
		{"no token, s", "/events?topic=s", ""},
		{"bad token, s", "/events?topic=s", "bad"},
		{"good token, other topic", "/events?topic=o", "good"},
		{"no token, **", "/events?topic=**", ""},
		{"good token, s", "/events?topic=s", "good"},
	} {
		c := dialTLSH2(t, addr, nil)
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, EndStream: true, BlockFragment: block(s.path, s.tok)})
		subs = append(subs, sub{s.name, c})
	}
	time.Sleep(500 * time.Millisecond)
	h.Publish(t.Context(), herd.Message{Data: "SECRET", Topics: []string{"s"}, Private: true})
	for _, s := range subs {
		s.c.tc.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		status, saw := "", false
		for {
			f, err := s.c.fr.ReadFrame()
			if err != nil {
				break
			}
			if hf, ok := f.(*http2.MetaHeadersFrame); ok {
				status = hf.PseudoValue("status")
			}
			if d, ok := f.(*http2.DataFrame); ok && bytes.Contains(d.Data(), []byte("SECRET")) {
				saw = true
			}
		}
		t.Logf("%-25s status %s, saw the private event: %v", s.name, status, saw)
	}
}

// Stalled HTTP/1.1 TLS streams (the engine's io_uring writers) among
// readers; ALLREAD=1 is the baseline.
func TestProbe_engineStalled(t *testing.T) {
	h, _ := newTLSH2ServerWith(t, Config{WriteTimeout: 3 * time.Second})
	addr := serveTLS(t, h)
	const n = 40
	step := 2
	if os.Getenv("ALLREAD") != "" {
		step = 1
	}
	got := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /events?topic=t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if i%step != 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			buf := make([]byte, 64<<10)
			for got[i] < 3000 {
				k, err := c.Read(buf)
				if err != nil {
					t.Errorf("reader %d: %v after %d", i, err, got[i])
					return
				}
				got[i] += bytes.Count(buf[:k], []byte("data: "))
			}
		}()
	}
	until(t, "parked", func() bool { return h.Stats().Parked == n })
	h0, c0 := heapMB(), cpuNow()
	peak := 0.0
	for j := range 3000 {
		h.Publish(t.Context(), herd.Message{Data: fmt.Sprint(j, string(bytes.Repeat([]byte("x"), 2000))), Topics: []string{"t"}})
		if j%500 == 0 {
			peak = max(peak, heapMB())
		}
		if j%30 == 29 {
			for w := time.Now(); time.Since(w) < 5*time.Second; time.Sleep(time.Millisecond) {
				lag := false
				for i := 0; i < n; i += step {
					lag = lag || got[i] < j
				}
				if !lag {
					break
				}
			}
		}
	}
	wg.Wait()
	t.Logf("readers all got 3000: %v; cpu %.2fs; heap %.1f -> peak %.1f -> %.1f MB; subscribers %d", got[0] == 3000 && got[n-2] == 3000, (cpuNow() - c0).Seconds(), h0, peak, heapMB(), h.Stats().Subscribers)
}
