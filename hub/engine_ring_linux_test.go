package hub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/internal/uring"
)

// TestEngine_fanOutBatched: with its writers batching through io_uring
// and without (the fallback where io_uring is missing or refused), every
// stream of a fan-out gets every event once and in order: those that read
// along, one whose socket fills up (-EAGAIN: it waits for EPOLLOUT, then
// gets the rest), one whose client left (released, as the client's).
func TestEngine_fanOutBatched(t *testing.T) {
	for _, noRing := range []bool{false, true} {
		t.Run(fmt.Sprintf("noRing=%v", noRing), func(t *testing.T) {
			testFanOut(t, noRing)
		})
	}
}

func testFanOut(t *testing.T, noRing bool) {
	h, err := New(Config{Store: nopStore{}, ReplayCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.noRing = noRing
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(t.Context()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const streams, events = 60, 40
	const slow, gone = 0, 1
	clients := make([]net.Conn, streams)
	subs := make([]*subscriber, streams)
	for i := range clients {
		d := net.Dialer{}
		if i == slow { // small socket buffers: a few events fill them
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}
		}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if i == slow {
			conn.(*net.TCPConn).SetWriteBuffer(4096)
		}
		s, err := h.subscribe(t.Context(), []string{"fan"}, "", nil, netip.Addr{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.engine.adopt(conn, s, nil); err != nil {
			t.Fatal(err)
		}
		clients[i], subs[i] = c, s
	}
	until(t, "every stream parked", func() bool { return h.engine.parked() == streams })
	clients[gone].Close()
	until(t, "the client that left released", func() bool { return h.engine.parked() == streams-1 })

	payload := strings.Repeat("z", 2<<10) // 80 KiB in all: more than the slow socket holds
	readers := make(chan error, streams)
	var read atomic.Int64 // events read, by all the readers
	for i, c := range clients {
		if i == slow || i == gone {
			continue
		}
		go func() { readers <- readEvents(c, events, &read) }()
	}
	// The first half one at a time, each read by all before the next (a
	// write of one buffer to each: sends), the rest at once (writevs).
	for i := range events {
		h.dispatch(herd.Event{Pos: herd.Pos(i + 1), ID: fmt.Sprint(i + 1), Topics: []string{"fan"}, Data: payload})
		if i < events/2 {
			until(t, "the event read by every reader", func() bool { return read.Load() == int64((i+1)*(streams-2)) })
		}
	}
	for range streams - 2 {
		if err := <-readers; err != nil {
			t.Error(err)
		}
	}
	var es *engineSub
	h.engine.mu.Lock()
	for _, x := range h.engine.subs {
		if x.s == subs[slow] {
			es = x
		}
	}
	h.engine.mu.Unlock()
	if es == nil {
		t.Fatal("the slow stream was released")
	}
	until(t, "the slow socket to fill up", func() bool { return es.waitSince.Load() != 0 })
	if err := readEvents(clients[slow], events, &read); err != nil {
		t.Errorf("the slow stream: %v", err)
	}
	if n := h.Stats().Ended[reasonClient.String()]; n != 1 {
		t.Errorf("Stats.Ended[client] = %d, want 1 (the client that left)", n)
	}
	if rings := h.engine.rings.Load(); noRing && rings != 0 {
		t.Errorf("%d writers used io_uring, want none", rings)
	} else if r, err := uring.NewSendRing(1); !noRing && err == nil {
		r.Close()
		if rings == 0 {
			t.Error("no writer used io_uring, which this system has")
		}
	}
}

// readEvents reads events with the ids 1 to n from c, in order, skipping
// the rest of the stream (heartbeats), and counts each in read. No time is
// asserted: the deadline bounds a hub that never sends.
func readEvents(c net.Conn, n int, read *atomic.Int64) error {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	for want := 1; want <= n; {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("waiting for event %d: %w", want, err)
		}
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			if id != fmt.Sprint(want)+"\n" {
				return fmt.Errorf("event %q, want %d", strings.TrimSpace(id), want)
			}
			want++
			read.Add(1)
		}
	}
	return nil
}
