package hub

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herd-sse/herd"
)

// The connection engine's time is tested with a fake clock, not
// testing/synctest: its poll loop blocks in epoll_wait, which synctest does
// not count as durably blocked, so a bubble's time would never move.

// newClockedHub opens a hub whose engine reads the time from a fake clock.
func newClockedHub(t *testing.T, cfg Config) (*Hub, *fakeClock) {
	t.Helper()
	cfg.Store, cfg.ReplayCache = nopStore{}, -1
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	h.clock = c
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no shutdown window: end every stream at once
	t.Cleanup(func() { h.Close(ctx) })
	if h.engine == nil {
		t.Fatal("no connection engine")
	}
	return h, c
}

// until waits for cond, which real I/O or another goroutine will make
// true, failing after a generous bound (no time is asserted).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

// parkedOne returns the engine's record of the one stream it holds.
func parkedOne(t *testing.T, e *connEngine) *engineSub {
	t.Helper()
	var es *engineSub
	until(t, "a parked stream", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, x := range e.subs {
			es = x
		}
		return len(e.subs) == 1
	})
	return es
}

// TestEngine_sweep: a sweep asks for a heartbeat once a stream has been
// silent for the heartbeat, not before, and ends one whose socket has
// been full for longer than the write timeout, not at it. (Without
// writers: the records are looked at as the sweep leaves them.)
func TestEngine_sweep(t *testing.T) {
	const beat, timeout = time.Second, 3 * time.Second
	h, err := New(Config{Store: nopStore{}, Heartbeat: beat, WriteTimeout: timeout, NoEngine: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &connEngine{cfg: engineConfig{heartbeat: beat, writeTimeout: timeout}, subs: map[uint64]*engineSub{}}
	e.cond = sync.NewCond(&e.mu)
	s := newSubscriber(h.env, []string{"a"})
	es := &engineSub{e: e, s: s, token: 1}
	s.handTo(es)
	e.subs[1] = es
	t0 := time.Unix(1_000_000_000, 0)
	es.lastWrite.Store(t0.UnixNano())
	queued := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		n := len(e.queue) - e.qhead
		e.queue, e.qhead = e.queue[:0], 0
		return n
	}

	e.sweep(t0.Add(beat - time.Nanosecond))
	if es.needBeat.Load() || queued() != 0 {
		t.Fatal("a heartbeat before the stream was silent for the heartbeat")
	}
	e.sweep(t0.Add(beat))
	if !es.needBeat.Load() || queued() != 1 {
		t.Fatal("no heartbeat once the stream was silent for the heartbeat")
	}

	// The socket fills up: the writer waits for it, unscheduled.
	t1 := t0.Add(beat)
	s.mu.Lock()
	es.scheduled, es.waitingOut = false, true
	s.mu.Unlock()
	es.waitSince.Store(t1.UnixNano())
	e.sweep(t1.Add(timeout))
	if r := s.endReason(); r != 0 || queued() != 0 {
		t.Fatalf("at the write timeout: ended %v, want the stream kept, and not scheduled while its socket is full", r)
	}
	e.sweep(t1.Add(timeout + time.Nanosecond))
	if r := s.endReason(); r != reasonWrite || queued() != 1 {
		t.Fatalf("past the write timeout: ended %v, want %v and scheduled to be released", r, reasonWrite)
	}
}

// TestEngine_heartbeat: a parked stream silent for the heartbeat gets a
// comment at the first sweep after, on the wire; the sweep runs as often
// as sweepEvery says. With a 10ms heartbeat, no real time passes.
func TestEngine_heartbeat(t *testing.T) {
	h, c := newClockedHub(t, Config{Heartbeat: MinHeartbeat})
	if want := sweepEvery(MinHeartbeat, DefaultWriteTimeout); c.period != want {
		t.Errorf("the engine sweeps every %v, want %v", c.period, want)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events?topic=quiet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	if opening, err := body.ReadString('\n'); err != nil || !strings.HasPrefix(opening, "retry:") {
		t.Fatalf("the stream opened with %q, %v", opening, err) // sent before the hand-over
	}
	if blank, err := body.ReadString('\n'); err != nil || blank != "\n" {
		t.Fatalf("the opening ended with %q, %v", blank, err)
	}
	expectHeartbeats(t, h, c, body)
}

// expectHeartbeats moves c by MinHeartbeat three times and reads a
// heartbeat from body after each: h's one stream, parked on its engine,
// gets one at each heartbeat of the clock.
func expectHeartbeats(t *testing.T, h *Hub, c *fakeClock, body io.Reader) {
	t.Helper()
	es := parkedOne(t, h.engine)
	for i := range 3 {
		// The client can read a heartbeat before its writer has noted the
		// write and parked the stream; a sweep in between would find the
		// stream still scheduled, and its request would be dropped as met
		// by that write. Real time sweeps again; this clock would not.
		until(t, "the stream parked", func() bool {
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

// TestEngine_writeTimeout: a client that takes nothing while its socket
// is full is dropped at the first sweep past the write timeout, and not at
// the timeout itself.
func TestEngine_writeTimeout(t *testing.T) {
	const timeout = time.Second
	h, c := newClockedHub(t, Config{WriteTimeout: timeout})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Small socket buffers: a few events fill them.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetWriteBuffer(4096)
	s, err := h.subscribe(t.Context(), []string{"big"}, "", nil, netip.Addr{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.engine.adopt(conn, s, nil); err != nil {
		t.Fatal(err)
	}
	es := parkedOne(t, h.engine)
	payload := strings.Repeat("z", 16<<10)
	for i := range 32 { // 512 KiB: more than the sockets hold, less than the queue
		h.dispatch(herd.Event{Pos: herd.Pos(i + 1), ID: "x", Topics: []string{"big"}, Data: payload})
	}
	until(t, "the socket to fill up", func() bool { return es.waitSince.Load() != 0 })
	if got, want := es.waitSince.Load(), c.Now().UnixNano(); got != want {
		t.Fatalf("the socket filled up at %d, want the clock's %d", got, want)
	}

	c.advance(timeout)
	if r := s.endReason(); r != 0 {
		t.Fatalf("ended (%v) at the write timeout, want at the first sweep past it", r)
	}
	c.advance(sweepEvery(DefaultHeartbeat, timeout))
	if r := s.endReason(); r != reasonWrite {
		t.Fatalf("after the write timeout: ended %v, want %v", r, reasonWrite)
	}
	until(t, "the stream's release", func() bool { return h.subs.count() == 0 && h.engine.parked() == 0 })
	client.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound, not an assertion
	if _, err := io.Copy(io.Discard, client); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("the client's read ended with %v, want its end or a reset", err)
	}
	if n := h.Stats().Ended[reasonWrite.String()]; n != 1 {
		t.Errorf("Stats.Ended[write_failed] = %d, want 1", n)
	}
}
