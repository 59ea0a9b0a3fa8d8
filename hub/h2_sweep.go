package hub

import (
	"sync"
	"time"
)

// h2Sweep is the hub's one periodic check of its HTTP/2 connections:
// every sweepEvery, on the hub's clock (clock.every), it looks at each
// connection with parked event streams (tick), as the connection engine's
// sweep looks at its streams; and every cipherIdle it drops the ciphers
// of TLS connections that used none since the last time (coolCiphersLocked). A
// connection at rest thus keeps no timer, and no goroutine starts per
// connection per sweep. It starts with the first connection that parks
// an event stream or warms a cipher, and stops with the hub.
type h2Sweep struct {
	mu     sync.Mutex
	conns  []*h2Conn // each with sweepPos its index + 1 (guarded by mu, not the connection's: a removal moves another connection)
	batch  []*h2Conn // the sweep's copy of conns, reused
	stop   func()    // nil until started
	closed bool      // the hub is closing: never started again

	warm     []*tlsRecordConn // holding a cipher (tls_h2.go), each with warm set
	lastCool int64            // unix nanoseconds of the last coolCiphersLocked
}

// h2SweepAddLocked puts c in the sweep if it is not in it yet, starting
// the sweep if need be. c.mu must be held (lock order: c.mu, then the
// sweep's).
func (h *Hub) h2SweepAddLocked(c *h2Conn) {
	w := &h.h2sweep
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.sweepPos != 0 || w.closed {
		return
	}
	w.conns = append(w.conns, c)
	c.sweepPos = int32(len(w.conns))
	h.startH2SweepLocked()
}

// startH2SweepLocked starts the sweep unless it runs. Its mu is held.
func (h *Hub) startH2SweepLocked() {
	if w := &h.h2sweep; w.stop == nil && !w.closed {
		cfg := h.cfg
		w.stop = h.clock.every(sweepEvery(cfg.Heartbeat, cfg.WriteTimeout), h.sweepH2)
	}
}

// h2SweepRemoveLocked takes c out of the sweep. c.mu must be held.
func (h *Hub) h2SweepRemoveLocked(c *h2Conn) {
	w := &h.h2sweep
	w.mu.Lock()
	if c.sweepPos == 0 {
		w.mu.Unlock()
		return
	}
	i, last := int(c.sweepPos)-1, len(w.conns)-1
	w.conns[i] = w.conns[last]
	w.conns[i].sweepPos = int32(i + 1)
	w.conns[last] = nil
	w.conns = w.conns[:last]
	c.sweepPos = 0
	if cap(w.conns) > 64 && len(w.conns) < cap(w.conns)/4 {
		w.conns = append([]*h2Conn(nil), w.conns...) // give back what a crowd left
	}
	w.mu.Unlock()
}

// sweepH2 runs tick on every connection in the sweep, from the clock's
// one goroutine. The list is copied first: tick takes the connection's
// mu, which comes before the sweep's.
func (h *Hub) sweepH2(now time.Time) {
	w := &h.h2sweep
	w.mu.Lock()
	batch := append(w.batch[:0], w.conns...)
	w.mu.Unlock()
	for _, c := range batch {
		c.tick(now.UnixNano())
	}
	clear(batch)
	w.mu.Lock()
	w.batch = batch[:0]
	if cap(w.batch) > 64 && cap(w.batch) > 4*len(w.conns) {
		w.batch = nil
	}
	if now := now.UnixNano(); now-w.lastCool >= int64(cipherIdle) {
		w.lastCool = now
		w.coolCiphersLocked()
	}
	w.mu.Unlock()
}

// closeH2Sweep stops the sweep, if it started; none starts after. Called
// by Close; it returns once a sweep under way has returned.
func (h *Hub) closeH2Sweep() {
	w := &h.h2sweep
	w.mu.Lock()
	w.closed = true
	stop := w.stop
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}
