//go:build linux

package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/memory"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// openTestHub opens a hub on a memory store with cfg (and clock, if not
// nil), closed when the test ends (after any server the test registers
// later), and returns it with a mux that serves it and /echo, which
// answers a request's body as it comes.
func openTestHub(t *testing.T, cfg Config, clock *fakeClock) (*Hub, *http.ServeMux) {
	t.Helper()
	store := memory.New(memory.Options{})
	t.Cleanup(func() { store.Close() })
	cfg.Store = store
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		h.clock = clock
	}
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.Close(ctx)
	})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush() // the head first, the body as it comes
		io.Copy(w, r.Body)
	})
	return h, mux
}

// newH2cServer serves an open hub (and /echo) over h2c with the hub's
// own HTTP/2 server.
func newH2cServer(t *testing.T, configure ...func(*http.Server)) (*Hub, string) {
	t.Helper()
	return newH2cServerWith(t, Config{}, nil, configure...)
}

// newH2cServerWith is newH2cServer with cfg and clock (see openTestHub).
func newH2cServerWith(t *testing.T, cfg Config, clock *fakeClock, configure ...func(*http.Server)) (*Hub, string) {
	t.Helper()
	h, mux := openTestHub(t, cfg, clock)
	srv := httptest.NewUnstartedServer(mux)
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	for _, f := range configure {
		f(srv.Config)
	}
	h.ConfigureHTTP2(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	return h, srv.Listener.Addr().String()
}

// dialH2c opens an h2c connection frame by frame: the preface and the
// client's SETTINGS are sent.
func dialH2c(t *testing.T, addr string, settings ...http2.Setting) (net.Conn, *http2.Framer) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings(settings...)
	return conn, fr
}

func requestBlock(method, path string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", "localhost"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

// connGoroutines counts the goroutines serving HTTP/2 connections: the
// hub's (readers, flushers, handlers) and net/http's per connection.
func connGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "hub.(*h2Conn)") || strings.Contains(g, "net/http.(*conn).serve") {
			n++
		}
	}
	return n
}

// parked reports whether h's one h2c connection is parked: in the
// poller, with no reader.
func parked(h *Hub) bool {
	h.mu.Lock()
	p := h.h2poll
	h.mu.Unlock()
	return p.parkedConns() == 1
}

func wakes(h *Hub) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h2poll == nil {
		return 0
	}
	return h.h2poll.starts.Load()
}

// readUntil reads frames until match accepts one, failing on GOAWAY.
func readUntil(t *testing.T, fr *http2.Framer, what string, match func(http2.Frame) bool) {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatalf("waiting for %s: GOAWAY %v", what, g.ErrCode)
		}
		if match(f) {
			return
		}
	}
}

func dataOn(id uint32, want string) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == id && strings.Contains(string(d.Data()), want)
	}
}

// openStream opens an event stream on id and reads its head and opening,
// whose size it returns.
func openStream(t *testing.T, fr *http2.Framer, id uint32, topic string) int {
	t.Helper()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true, BlockFragment: requestBlock("GET", "/events?topic="+topic)})
	n := 0
	readUntil(t, fr, "the stream's opening", func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		if ok && d.StreamID == id {
			n = len(d.Data())
		}
		return ok && d.StreamID == id
	})
	return n
}

// TestH2c_parkedWithoutGoroutine: an h2c connection with an idle event
// stream has no goroutine at all, neither the hub's nor net/http's, and
// still delivers.
func TestH2c_parkedWithoutGoroutine(t *testing.T) {
	h, addr := newH2cServer(t)
	_, fr := dialH2c(t, addr)
	openStream(t, fr, 1, "t")
	until(t, "the stream and its connection parked", func() bool {
		return h.Stats().Parked == 1 && parked(h) && connGoroutines() == 0
	})
	if _, _, err := h.Publish(t.Context(), herd.Message{Data: "while parked", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, fr, "the event", dataOn(1, "while parked"))
	until(t, "parked again", func() bool { return parked(h) && connGoroutines() == 0 })
}

// TestH2c_eachFrameWakes: a parked connection is woken by each kind of
// frame, which it answers, then parks again.
func TestH2c_eachFrameWakes(t *testing.T) {
	h, addr := newH2cServer(t)
	_, fr := dialH2c(t, addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 64})
	got := openStream(t, fr, 1, "t")
	if got >= 64 {
		t.Fatalf("an opening of %d bytes: the window test needs less than 64", got)
	}
	woken := func(what string, send func(), answered func(http2.Frame) bool) {
		t.Helper()
		until(t, "parked before "+what, func() bool { return parked(h) })
		before := wakes(h)
		send()
		if answered != nil {
			readUntil(t, fr, "the answer to "+what, answered)
		}
		until(t, what+" read", func() bool { return wakes(h) > before && parked(h) })
	}
	woken("PING", func() { fr.WritePing(false, [8]byte{1, 2, 3}) }, func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == [8]byte{1, 2, 3}
	})
	woken("SETTINGS", func() { fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15}) }, func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		return ok && s.IsAck()
	})
	// An event past the stream's window: what fits goes, the rest waits
	// for a WINDOW_UPDATE, sent while the connection is parked.
	if _, _, err := h.Publish(t.Context(), herd.Message{Data: strings.Repeat("w", 100) + "end", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, fr, "the event, up to the window", func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			got += len(d.Data())
		}
		return got == 64
	})
	woken("WINDOW_UPDATE", func() { fr.WriteWindowUpdate(1, 1000) }, dataOn(1, "end"))
	woken("HEADERS", func() {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, BlockFragment: requestBlock("POST", "/echo")})
	}, func(f http2.Frame) bool {
		m, ok := f.(*http2.MetaHeadersFrame)
		return ok && m.StreamID == 3
	})
	woken("DATA", func() { fr.WriteData(3, true, []byte("echoed")) }, dataOn(3, "echoed"))
	woken("PRIORITY", func() { fr.WritePriority(5, http2.PriorityParam{StreamDep: 5}) }, func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == 5 && r.ErrCode == http2.ErrCodeProtocol // depends on itself
	})
	woken("an unknown frame", func() { fr.WriteRawFrame(0xbb, 0, 0, []byte("ignored")) }, nil)
	woken("RST_STREAM", func() { fr.WriteRSTStream(1, http2.ErrCodeCancel) }, nil)
	until(t, "the reset stream's subscriber gone", func() bool { return h.Stats().Subscribers == 0 })
	woken("GOAWAY", func() { fr.WriteGoAway(0, http2.ErrCodeNo, nil) }, nil)
	woken("PING after GOAWAY", func() { fr.WritePing(false, [8]byte{9}) }, func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == [8]byte{9}
	})
}

// TestH2c_clientLeavesWhileParked: a client that goes while its
// connection is parked is seen at once: the poller wakes the connection,
// which ends its streams and lets go of its socket.
func TestH2c_clientLeavesWhileParked(t *testing.T) {
	h, addr := newH2cServer(t)
	conn, fr := dialH2c(t, addr)
	openStream(t, fr, 1, "t")
	until(t, "parked", func() bool { return h.Stats().Parked == 1 && parked(h) && connGoroutines() == 0 })
	conn.Close()
	until(t, "the stream and the connection released", func() bool {
		st := h.Stats()
		h.mu.Lock()
		p := h.h2poll
		h.mu.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		return st.Subscribers == 0 && st.Parked == 0 && len(p.conns) == 0 && connGoroutines() == 0
	})
	if got := h.Stats().Ended["client"]; got != 1 {
		t.Fatalf("ended as client: %d, want 1", got)
	}
}

// TestH2c_frameInPieces: a frame that comes a byte at a time, the
// connection parking between bytes, is read whole once its last byte is
// in.
func TestH2c_frameInPieces(t *testing.T) {
	h, addr := newH2cServer(t)
	conn, fr := dialH2c(t, addr)
	fr.WritePing(false, [8]byte{7})
	readUntil(t, fr, "the PING's answer", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() })
	var frame bytes.Buffer
	http2.NewFramer(&frame, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, EndStream: true,
		BlockFragment: requestBlock("GET", "/events?topic=pieces")})
	for i, b := range frame.Bytes() {
		until(t, "parked", func() bool { return parked(h) && connGoroutines() == 0 })
		before := wakes(h)
		if _, err := conn.Write([]byte{b}); err != nil { // one segment each: Go's TCP has no Nagle
			t.Fatal(err)
		}
		if i < frame.Len()-1 {
			until(t, "the byte read", func() bool { return wakes(h) > before })
		}
	}
	readUntil(t, fr, "the stream's head", func(f http2.Frame) bool {
		m, ok := f.(*http2.MetaHeadersFrame)
		return ok && m.StreamID == 1 && m.PseudoValue("status") == "200"
	})
	until(t, "the stream parked", func() bool { return h.Stats().Parked == 1 })
}

// TestH2c_goesAwayWhileParked: a connection idle past the server's
// IdleTimeout goes away while parked: its GOAWAY is sent, its socket
// closed, and the poller lets go of it.
func TestH2c_goesAwayWhileParked(t *testing.T) {
	h, addr := newH2cServer(t, func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
	_, fr := dialH2c(t, addr)
	var goAway bool
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !goAway {
				t.Fatalf("the connection ended without a GOAWAY: %v", err)
			}
			break
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo {
				t.Fatalf("GOAWAY %v, want NO_ERROR", g.ErrCode)
			}
			goAway = true
		}
	}
	until(t, "the poller lets go of the connection", func() bool {
		h.mu.Lock()
		p := h.h2poll
		h.mu.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.conns) == 0 && connGoroutines() == 0
	})
}

// TestH2c_headerBlockTrickled: a header block that comes a frame a read,
// the connection parking between frames, costs the hub work in proportion
// to what arrives: each read looks at the frames it brought only (not the
// whole block again: 18,000 empty CONTINUATIONs sent so took 6.5s of CPU),
// and a block larger than the pooled read buffer keeps its buffer while
// parked rather than being copied out and back on every wake.
func TestH2c_headerBlockTrickled(t *testing.T) {
	h, addr := newH2cServer(t)
	_, fr := dialH2c(t, addr)
	conn1 := func() *h2Conn { // the one connection, while it is parked
		var c *h2Conn
		until(t, "parked", func() bool {
			h.mu.Lock()
			p := h.h2poll
			h.mu.Unlock()
			if p == nil {
				return false
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, pc := range p.conns {
				if pc.park.parked {
					c = pc
				}
			}
			return c != nil
		})
		return c
	}
	send := func(write func() error) { // one frame, read and parked
		conn1()
		before := wakes(h)
		if err := write(); err != nil {
			t.Fatal(err)
		}
		until(t, "the frame read", func() bool { return wakes(h) > before })
	}
	send(func() error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, BlockFragment: requestBlock("GET", "/events?topic=t")})
	})
	const frames = 400
	for range frames {
		send(func() error { return fr.WriteContinuation(1, false, nil) })
	}
	h.mu.Lock()
	p := h.h2poll
	h.mu.Unlock()
	c := conn1()
	p.mu.Lock() // the reader's writes happened before it parked, under p.mu
	scanned := c.in.scanned
	p.mu.Unlock()
	if scanned > 3*frames {
		t.Fatalf("%d frame headers looked at for a block of %d frames sent one a read", scanned, frames+1)
	}

	pad := make([]byte, h2MaxFrame)
	for range 3 { // past the pooled buffer
		send(func() error { return fr.WriteContinuation(1, false, pad) })
	}
	bufOf := func() *byte {
		c := conn1()
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.in.buffered() <= h2InBuf {
			t.Fatalf("%d bytes buffered, want more than %d", c.in.buffered(), h2InBuf)
		}
		return &c.in.buf[0]
	}
	before := bufOf()
	send(func() error { return fr.WriteContinuation(1, false, nil) })
	if bufOf() != before {
		t.Fatal("a parked connection's header block was copied to a new buffer on a wake")
	}
}

// TestH2c_requestAfterParkIsLive: a request on an h2c connection that has
// parked has a live context, and values of net/http's (the server): the
// connection outlives net/http's goroutine, whose context is cancelled
// when it returns, and once was the parent of every later request's.
func TestH2c_requestAfterParkIsLive(t *testing.T) {
	h, addr := newH2cServer(t, func(srv *http.Server) {
		next := srv.Handler
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/ctx" {
				next.ServeHTTP(w, r)
				return
			}
			_, hasServer := r.Context().Value(http.ServerContextKey).(*http.Server)
			io.WriteString(w, fmt.Sprint(r.Context().Err(), hasServer))
		})
	})
	_, fr := dialH2c(t, addr)
	openStream(t, fr, 1, "t")
	until(t, "the connection parked", func() bool { return parked(h) })
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, EndStream: true, BlockFragment: requestBlock("GET", "/ctx")})
	var got string
	readUntil(t, fr, "the answer", func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		if ok && d.StreamID == 3 && len(d.Data()) > 0 {
			got = string(d.Data())
		}
		return got != ""
	})
	if got != "<nil> true" {
		t.Errorf("after the connection parked, a request's context error and server value: %q, want <nil> true", got)
	}
}

// TestH2c_encoderDroppedAtRest: a connection whose handlers have all
// returned keeps no hpack encoder; the next response's header block,
// from a new one, starts with table size updates to 0 and back (RFC 7541,
// 4.2), so that the client's copy of the old table is emptied, and it
// decodes with the client's decoder as it was.
func TestH2c_encoderDroppedAtRest(t *testing.T) {
	h, addr := newH2cServer(t)
	_, fr := dialH2c(t, addr)
	fr.ReadMetaHeaders = nil // the blocks are decoded here, in order
	dec := hpack.NewDecoder(4096, nil)
	head := func(id uint32, topic string) (block []byte, fields []hpack.HeaderField) {
		t.Helper()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true, BlockFragment: requestBlock("GET", "/events?topic="+topic)})
		readUntil(t, fr, "the response's head", func(f http2.Frame) bool {
			hf, ok := f.(*http2.HeadersFrame)
			if !ok || hf.StreamID != id {
				return false
			}
			if !hf.HeadersEnded() {
				t.Fatal("a head in CONTINUATIONs")
			}
			block = slices.Clone(hf.HeaderBlockFragment())
			return true
		})
		fields, err := dec.DecodeFull(block)
		if err != nil {
			t.Fatalf("stream %d's head: %v", id, err)
		}
		return block, fields
	}
	block, _ := head(1, "a")
	if block[0]&0xe0 == 0x20 {
		t.Fatalf("the connection's first head starts with a table size update: % x", block)
	}
	until(t, "the stream parked, its handler returned", func() bool { return h.Stats().Parked == 1 && connGoroutines() == 0 })
	block, fields := head(3, "b")
	if !bytes.HasPrefix(block, []byte{0x20, 0x3f, 0xe1, 0x1f}) { // sizes 0, then 4096
		t.Errorf("a head from a new encoder starts with % x, want the table emptied and restored", block[:min(len(block), 4)])
	}
	var status, ctype string
	for _, f := range fields {
		switch f.Name {
		case ":status":
			status = f.Value
		case "content-type":
			ctype = f.Value
		}
	}
	if status != "200" || !strings.HasPrefix(ctype, "text/event-stream") {
		t.Errorf("second head decoded as %v", fields)
	}
}
