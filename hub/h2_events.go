package hub

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/herd-sse/herd/sse"
	"golang.org/x/net/http2"
)

// h2Key is the request context's key for the h2Writer of a request the
// hub's HTTP/2 server serves.
type h2Key struct{}

// h2WriterOf returns the stream r arrived on, if the hub's HTTP/2 server
// serves it.
func h2WriterOf(r *http.Request) *h2Writer {
	w, _ := r.Context().Value(h2Key{}).(*h2Writer)
	return w
}

// serveH2 serves s on an HTTP/2 stream of the hub's server: it writes the
// response's headers and the history on this goroutine (the request's
// handler), then parks the stream, which the connection's flusher writes
// from then on. hdr holds the headers set so far (CORS, a face's).
func (h *Hub) serveH2(w *h2Writer, hdr http.Header, s *subscriber, retry time.Duration) {
	st := w.st
	c := st.c
	w.parked = true // the handler's return no longer ends the response
	w.status = http.StatusOK
	sse.SetHeaders(hdr)
	fail := func(reason closeReason) {
		c.resetStream(st.id, http2.ErrCodeCancel)
		h.unsubscribe(s, reason)
	}
	if err := w.sendHeaders(hdr, false); err != nil {
		fail(reasonClient)
		return
	}
	if err := st.writeData(sse.OpeningFrame(retry).Bytes(), false); err != nil {
		fail(reasonClient)
		return
	}
	var ctx context.Context // made for a replay: a stream that has none keeps no timer
	var items []item
	var buf []byte
	for s.replaying() {
		if ctx == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
		}
		var err error
		items, err = s.next(ctx, nil, items[:0])
		buf = buf[:0]
		for i, it := range items {
			buf = append(buf, it.wire.Bytes()...)
			items[i] = item{}
		}
		werr := st.writeData(buf, false)
		if werr == nil {
			h.counters.bytesWritten.Add(int64(len(buf)))
		}
		if werr != nil || err != nil {
			reason := reasonWrite
			if errors.Is(werr, errStreamReset) || errors.Is(werr, errConnClosed) {
				reason = reasonClient
			}
			fail(reason)
			return
		}
	}
	if s.finished != 0 { // the replay ended with the close
		st.writeData(nil, true)
		h.unsubscribe(s, s.finished)
		return
	}
	if !st.park(s) {
		h.unsubscribe(s, reasonClient)
	}
}

// park hands st's subscriber to the connection: from here on its frames
// are written by the connection's flusher. It reports false if the stream
// has ended already.
func (st *h2Stream) park(s *subscriber) bool {
	c := st.c
	c.mu.Lock()
	if st.err != nil || c.closed {
		c.mu.Unlock()
		return false
	}
	st.sub = s
	st.lastWrite = c.srv.hub.clock.Now().UnixNano()
	c.events++
	c.srv.hub.h2Parked.Add(1)
	c.armBeatLocked()
	c.mu.Unlock()
	s.mu.Lock()
	s.waker = st
	if s.pendingLocked() {
		st.wakeLocked()
	}
	s.mu.Unlock()
	return true
}

// wakeLocked schedules st: its subscriber has frames, or has ended. The
// subscriber's mu is held: st is its waker.
func (st *h2Stream) wakeLocked() {
	c := st.c
	c.mu.Lock()
	c.scheduleLocked(st)
	c.mu.Unlock()
}

// scheduleLocked puts st in the ready list and starts the flusher if it
// is not running. c.mu must be held.
func (c *h2Conn) scheduleLocked(st *h2Stream) {
	if st.scheduled || st.released || c.closed {
		return
	}
	st.scheduled = true
	c.ready = append(c.ready, st)
	if !c.flushing {
		c.flushing = true
		c.handlers.Add(1)
		go c.flush()
	}
}

// h2FlushBytes bounds the DATA one write of the flusher carries.
const h2FlushBytes = 256 << 10

// flush is the connection's flusher: it writes what parked streams have
// queued, a batch at a time with one write, until none has anything left.
// It runs only while there is something to write. What it leaves in the
// ready list when the connection closes or its write fails, close
// releases (releaseOrphans).
func (c *h2Conn) flush() {
	defer c.handlers.Done()
	var items []item
	var scratch []byte
	type end struct {
		st     *h2Stream
		reason closeReason
	}
	var ends []end
	for {
		c.mu.Lock()
		if len(c.ready) == 0 || c.closed {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		batch := c.ready
		c.ready = nil
		c.mu.Unlock()
		ends = ends[:0]
		// What is not done stays in the ready list: the next batch, or
		// released when the connection closes. All of it if the write
		// does not call fn at all (the connection broke earlier).
		rest := batch
		err := c.write(func(fr *http2.Framer) error {
			c.batched = 0
			for i, st := range batch {
				rest = batch[i:]
				if c.batched >= h2FlushBytes { // one write stays bounded; the rest go next
					return nil
				}
				var reason closeReason
				var err error
				reason, items, scratch, err = c.fill(st, fr, items, scratch)
				if err != nil {
					return err
				}
				if reason != 0 {
					ends = append(ends, end{st, reason})
				}
			}
			rest = nil
			return nil
		})
		for _, e := range ends {
			c.release(e.st, e.reason)
		}
		c.mu.Lock()
		c.ready = append(c.ready, rest...) // still scheduled
		clear(batch)
		if c.ready == nil {
			c.ready = batch[:0] // its array, for the next batch
		}
		if err != nil {
			c.flushing = false
			c.mu.Unlock()
			return // the connection is broken: its reader ends it
		}
		c.mu.Unlock()
	}
}

// fill encodes what st has to send as DATA frames within the windows. It
// returns a reason when the stream has ended (its last frame encoded).
func (c *h2Conn) fill(st *h2Stream, fr *http2.Framer, items []item, scratch []byte) (closeReason, []item, []byte, error) {
	s := st.sub
	s.mu.Lock()
	ended, reason := s.ended, s.reason
	s.mu.Unlock()
	if ended {
		// An ended stream goes at once, whatever is pending: a slow
		// one may never drain, and a resuming client loses nothing.
		if reason == reasonSlow || reason == reasonWrite {
			return reason, items, scratch, fr.WriteRSTStream(st.id, http2.ErrCodeCancel)
		}
		if reason == reasonClient {
			return reason, items, scratch, nil
		}
		return reason, items, scratch, fr.WriteData(st.id, true, nil)
	}
	if len(st.out) == 0 && !st.finish {
		var err error
		items, err = s.ready(items[:0])
		for i, it := range items {
			st.out = append(st.out, it.wire.Bytes())
			items[i] = item{}
		}
		if err == io.EOF {
			st.finish = true
		}
		c.mu.Lock()
		beat := st.needBeat
		st.needBeat = false
		c.mu.Unlock()
		if len(st.out) == 0 && beat {
			st.out = append(st.out, heartbeat)
		}
	}
	now := c.srv.hub.clock.Now().UnixNano()
	c.mu.Lock()
	for len(st.out) > 0 {
		n := min(c.sendWin, st.sendWin, int64(c.peerFrame))
		if n <= 0 {
			st.waitWin = true
			if st.waitSince == 0 {
				st.waitSince = now
			}
			break
		}
		scratch = scratch[:0]
		for len(st.out) > 0 && int64(len(scratch)) < n {
			k := min(int(n)-len(scratch), len(st.out[0]))
			scratch = append(scratch, st.out[0][:k]...)
			if st.out[0] = st.out[0][k:]; len(st.out[0]) == 0 {
				st.out[0] = nil
				st.out = st.out[1:]
			}
		}
		c.sendWin -= int64(len(scratch))
		st.sendWin -= int64(len(scratch))
		st.lastWrite, st.waitSince = now, 0
		c.mu.Unlock()
		if err := fr.WriteData(st.id, false, scratch); err != nil {
			return 0, items, scratch, err
		}
		c.batched += len(scratch)
		c.srv.hub.counters.bytesWritten.Add(int64(len(scratch))) // the events' bytes, as on the other paths
		c.mu.Lock()
	}
	if len(st.out) == 0 {
		st.out = nil // no buffer kept while idle
	}
	c.mu.Unlock()
	if len(st.out) == 0 && st.finish {
		return s.finished, items, scratch, fr.WriteData(st.id, true, nil)
	}
	// Scheduled again if more came meanwhile; a wake-up needs s.mu, so
	// none is lost between this check and the flag.
	s.mu.Lock()
	c.mu.Lock()
	if s.ended || (len(s.queue) > s.head && !st.waitWin) { // an ended one goes, window or not
		c.ready = append(c.ready, st)
	} else {
		st.scheduled = false
	}
	c.mu.Unlock()
	s.mu.Unlock()
	return 0, items, scratch, nil
}

// releaseOrphans releases the streams left in the ready list once the
// connection has closed and its flusher has stopped: a stream the client
// reset just before it left was woken (its subscriber ended), and the
// flusher that would have released it found the connection closed, or
// broken. Only close calls it, after waiting for the flusher.
func (c *h2Conn) releaseOrphans() {
	c.mu.Lock()
	orphans := c.ready
	c.ready = nil
	c.mu.Unlock()
	for _, st := range orphans {
		c.release(st, reasonClient)
	}
}

// release removes a parked stream that ended, once.
func (c *h2Conn) release(st *h2Stream, reason closeReason) {
	c.mu.Lock()
	if st.released {
		c.mu.Unlock()
		return
	}
	st.released = true
	st.scheduled = false
	st.localDone, st.remoteDone = true, true
	c.events--
	c.srv.hub.h2Parked.Add(-1)
	c.doneLocked(st)
	c.mu.Unlock()
	c.srv.hub.unsubscribe(st.sub, reason)
	c.closeIfDrained()
}

// armBeatLocked puts the connection in the hub's heartbeat sweep
// (h2_sweep.go) if it is not in it: the sweep looks at it every
// sweepEvery, as the connection engine looks at its streams, so that
// both keep heartbeats and write timeouts to the same precision. c.mu
// must be held.
func (c *h2Conn) armBeatLocked() {
	c.beatArmed = true
	c.srv.hub.h2SweepAddLocked(c)
}

// tick, called by the hub's sweep with its time in unix nanoseconds,
// sends heartbeats to idle parked streams and ends those the client has
// given no window for longer than the write timeout. A connection with
// no event stream left, or closed, leaves the sweep.
func (c *h2Conn) tick(now int64) {
	beat := c.srv.hub.cfg.Heartbeat.Nanoseconds()
	timeout := c.srv.hub.cfg.WriteTimeout.Nanoseconds()
	var stuck []*subscriber
	c.mu.Lock()
	if c.closed || c.events <= 0 || !c.beatArmed {
		c.beatArmed = false
		c.srv.hub.h2SweepRemoveLocked(c)
		c.mu.Unlock()
		return
	}
	// Plain loops, not streams.all(): the sweep's goroutine runs this for
	// every connection with event streams, and should not grow its stack.
	if st := c.streams.one; st != nil {
		stuck = c.beatLocked(st, now, beat, timeout, stuck)
	}
	for _, st := range c.streams.more {
		stuck = c.beatLocked(st, now, beat, timeout, stuck)
	}
	c.mu.Unlock()
	for _, s := range stuck {
		s.end(reasonWrite)
	}
}

// beatLocked schedules a heartbeat for st if it has been idle for beat,
// or adds its subscriber to stuck if it has waited for a window longer
// than timeout. c.mu must be held.
func (c *h2Conn) beatLocked(st *h2Stream, now, beat, timeout int64, stuck []*subscriber) []*subscriber {
	switch {
	case st.sub == nil || st.released:
	case st.waitSince != 0 && now-st.waitSince > timeout:
		stuck = append(stuck, st.sub)
	case now-st.lastWrite >= beat:
		st.needBeat = true
		c.scheduleLocked(st)
	}
	return stuck
}

// parkedH2 returns how many event streams the hub's HTTP/2 servers hold.
func (h *Hub) parkedH2() int { return int(h.h2Parked.Load()) }
