package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"golang.org/x/net/http2"
)

// newClockedH2cServer serves a hub whose time is a fake clock over h2c
// with the hub's own HTTP/2 server.
func newClockedH2cServer(t *testing.T, cfg Config) (*Hub, *fakeClock, string) {
	t.Helper()
	c := newFakeClock()
	h, addr := newH2cServerWith(t, cfg, c)
	return h, c, addr
}

func sweptConns(h *Hub) int {
	h.h2sweep.mu.Lock()
	defer h.h2sweep.mu.Unlock()
	return len(h.h2sweep.conns)
}

// TestH2c_heartbeatBySweep: a connection with an idle event stream keeps
// no timer of its own; the hub's one sweep, on the hub's clock, sends the
// stream its heartbeat once it is due, and drops the connection from the
// sweep once its client has left.
func TestH2c_heartbeatBySweep(t *testing.T) {
	h, clk, addr := newClockedH2cServer(t, Config{Heartbeat: time.Second})
	conn, fr := dialH2c(t, addr)
	openStream(t, fr, 1, "t")
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	if n := sweptConns(h); n != 1 {
		t.Fatalf("%d connections in the sweep, want 1", n)
	}
	h.h2sweep.mu.Lock()
	c := h.h2sweep.conns[0]
	h.h2sweep.mu.Unlock()
	c.mu.Lock()
	if c.timer != nil {
		t.Error("a connection with a stream keeps a timer")
	}
	c.mu.Unlock()
	clk.advance(2 * time.Second)
	readUntil(t, fr, "the heartbeat", dataOn(1, ":"))

	conn.Close()
	until(t, "the stream gone", func() bool { return h.Stats().Parked == 0 })
	clk.advance(time.Second)
	if n := sweptConns(h); n != 0 {
		t.Fatalf("%d connections in the sweep after the client left, want 0", n)
	}
}

// TestH2c_stuckDroppedBySweep: a stream whose client gives it no window
// is ended by the sweep once it has waited longer than the write timeout.
func TestH2c_stuckDroppedBySweep(t *testing.T) {
	h, clk, addr := newClockedH2cServer(t, Config{Heartbeat: time.Hour, WriteTimeout: time.Second})
	_, fr := dialH2c(t, addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 64})
	if n := openStream(t, fr, 1, "t"); n >= 64 {
		t.Fatalf("the opening takes %d bytes, the window only 64", n)
	}
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	if _, _, err := h.Publish(t.Context(), herd.Message{Data: strings.Repeat("x", 200), Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	h.h2sweep.mu.Lock()
	c := h.h2sweep.conns[0]
	h.h2sweep.mu.Unlock()
	until(t, "the stream waiting for a window", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.streams.one != nil && c.streams.one.waitSince != 0
	})
	clk.advance(500 * time.Millisecond)
	if h.Stats().Parked != 1 {
		t.Fatal("dropped before the write timeout")
	}
	clk.advance(2 * time.Second)
	until(t, "dropped", func() bool { return h.Stats().Parked == 0 })
}
