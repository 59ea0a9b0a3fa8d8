//go:build linux

package hub

import (
	"runtime"
	"syscall"

	"github.com/herd-sse/herd/internal/uring"
	"golang.org/x/sys/unix"
)

// ringHeld is how many subscribers a writer holds at once when it batches
// its writes through io_uring, and so the most writes in one submission.
// Each subscriber with one event to write comes round twice (to write, and
// to find its queue empty and park): a turn of a fan-out writes to about
// half of those it holds. (A microbenchmark gained little past 64 writes
// a submission: 3.3 µs a write at 64, 3.1 at 256, 6.7 with write(2).)
const ringHeld = 128

// ringWriter is a writer goroutine's state for batched turns: the
// subscribers it holds (each scheduled, so no other writer takes it), its
// ring, and the turn's writes.
type ringWriter struct {
	ring   *uring.SendRing // nil until a turn has two writes to make
	held   []*engineSub
	writes []ringWrite
	solo   scratch // a TLS stream's turn, served whole (it seals and writes its own records)
}

// ringWrite is one subscriber's write in a turn.
type ringWrite struct {
	es   *engineSub
	iov  int   // where its vector starts in the scratch's iov, or -1 if it sends one buffer
	nvec int   // its vector's length (0: nothing to write, not submitted)
	res  int32 // bytes written, or -errno
	done bool  // res is the kernel's
}

// writeBatched is a writer goroutine's loop with io_uring: it holds up to
// ringHeld subscribers from the ready queue, takes for each what it has to
// write (under its lock, as serve does), makes all the turn's writes with
// one io_uring_enter, then accounts for each result as serve would (a
// full socket parks its subscriber for EPOLLOUT, a failure releases it).
// A subscriber leaves the writer when it parks, waits for EPOLLOUT, or is
// released; the others stay for the next turn. The ring is created at the
// first turn with two writes. It returns true if the writer must go on
// without io_uring (it could not set up or use its ring: every subscriber
// it held is served, and the ring closed), false when the engine stops.
func (e *connEngine) writeBatched(sc *scratch) (fallBack bool) {
	w := &ringWriter{}
	defer func() {
		if w.ring != nil {
			w.ring.Close()
			e.rings.Add(-1)
		}
	}()
	for {
		w.held = e.nextBatch(w.held, ringHeld)
		if len(w.held) == 0 {
			return false
		}
		if !e.turn(w, sc) {
			for _, es := range w.held {
				e.serve(es, sc)
			}
			clear(w.held)
			return true
		}
	}
}

// nextBatch tops held up to limit subscribers from the ready queue. It
// waits for one only if held is empty, and returns it empty when the
// engine is stopping and its queue is empty.
func (e *connEngine) nextBatch(held []*engineSub, limit int) []*engineSub {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(held) == 0 && len(e.queue) == e.qhead && !e.closed {
		e.cond.Wait()
	}
	k := min(limit-len(held), len(e.queue)-e.qhead)
	if k <= 0 {
		return held
	}
	held = append(held, e.queue[e.qhead:e.qhead+k]...)
	clear(e.queue[e.qhead : e.qhead+k])
	e.qhead += k
	if e.qhead == len(e.queue) {
		e.queue, e.qhead = e.queue[:0], 0 // see next
	} else {
		e.cond.Signal() // another writer can take the rest
	}
	return held
}

// turn writes once to each subscriber w holds that has something to
// write, and keeps in w.held those still its own. It reports false if the
// ring could not be set up or failed: then the turn's writes were made
// with write(2) (nothing is lost), and w.held is what the writer still
// holds.
func (e *connEngine) turn(w *ringWriter, sc *scratch) bool {
	sc.out, sc.iov = sc.out[:0], sc.iov[:0]
	writes := w.writes[:0]
	for _, es := range w.held {
		if es.seal != nil {
			e.serve(es, &w.solo)
			continue
		}
		idle := false // plain streams have no cipher to put to rest
		if e.take(es, sc, &idle) {
			writes = append(writes, ringWrite{es: es})
		}
	}
	ok := true
	switch {
	case len(writes) == 1:
		n, iov, err := writev(writes[0].es.fd, writes[0].es.out, sc.iov)
		sc.iov = iov
		writes[0].res, writes[0].done = result(n, err), true
	case len(writes) > 1:
		ok = e.submit(w, writes, sc)
	}
	held, written := w.held[:0], 0
	for i := range writes {
		wr := &writes[i]
		var n int
		var err error
		switch {
		case wr.res == -int32(syscall.EINTR):
			// Nothing written (a send that does not wait is not
			// interrupted, but if it were): the next turn writes again.
		case wr.res < 0:
			err = syscall.Errno(-wr.res)
		default:
			n = int(wr.res)
		}
		written += n
		if !e.wrote(wr.es, n, err) {
			continue
		}
		if len(wr.es.out) > 0 && err == nil {
			// A short write: the rest leaves the scratch, which the next
			// turn fills again.
			rest := make([][]byte, len(wr.es.out))
			copy(rest, wr.es.out)
			wr.es.out = rest
		}
		held = append(held, wr.es)
	}
	e.cfg.counters.bytesWritten.Add(int64(written))
	clear(w.held[len(held):])
	w.held = held
	clear(writes)
	w.writes = writes[:0]
	clear(sc.out) // the frames written (advance let go of most) and the short writes' rests, copied
	clear(sc.iov)
	return ok
}

// submit makes writes with one submission to w's ring, setting each one's
// result. If the ring cannot be had (or fails), it makes those the ring
// did not with write(2), closes the ring, and reports false.
func (e *connEngine) submit(w *ringWriter, writes []ringWrite, sc *scratch) bool {
	if w.ring == nil {
		r, err := uring.NewSendRing(ringHeld)
		if e.cfg.noRing && err == nil {
			r.Close()
			r, err = nil, unix.ENOSYS // as on a kernel without io_uring
		}
		if err != nil {
			e.cfg.log.Debug("connection engine: no io_uring, a system call per write", "err", err)
			writeEach(writes, sc)
			return false
		}
		w.ring = r
		e.rings.Add(1)
	}
	// Every vector first: the ring names them by address, so sc.iov must
	// not grow once one is named.
	for i := range writes {
		wr := &writes[i]
		start := len(sc.iov)
		for _, b := range wr.es.out[:min(len(wr.es.out), 1024)] {
			if len(b) > 0 {
				v := unix.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				sc.iov = append(sc.iov, v)
			}
		}
		wr.iov, wr.nvec = start, len(sc.iov)-start
		if wr.nvec == 1 {
			wr.iov = -1 // one buffer: a send (the kernel imports no vector)
			sc.iov = sc.iov[:start]
		}
	}
	n := 0
	for i := range writes {
		wr := &writes[i]
		switch {
		case wr.nvec == 0:
			wr.done = true // nothing to write, as writev
		case wr.iov < 0:
			w.ring.Prepare(n, uint64(i), wr.es.fd, firstNonEmpty(wr.es.out), nil)
			n++
		default:
			w.ring.Prepare(n, uint64(i), wr.es.fd, nil, sc.iov[wr.iov:wr.iov+wr.nvec])
			n++
		}
	}
	err := w.ring.Run(n, func(i uint64, res int32) {
		writes[i].res, writes[i].done = res, true
	})
	runtime.KeepAlive(sc.iov) // named by address only, in the ring
	if err != nil {
		e.cfg.log.Warn("connection engine: io_uring failed, back to a system call per write", "err", err)
		w.ring.Close()
		w.ring = nil
		e.rings.Add(-1)
		writeEach(writes, sc)
		return false
	}
	return true
}

// writeEach makes with write(2) the writes that have no result.
func writeEach(writes []ringWrite, sc *scratch) {
	for i := range writes {
		if wr := &writes[i]; !wr.done {
			n, iov, err := writev(wr.es.fd, wr.es.out, sc.iov[len(sc.iov):])
			wr.res, wr.done = result(n, err), true
			_ = iov // its own: sc.iov may be named by the ring's withdrawn submissions
		}
	}
}

// result is a write's outcome as the ring reports it: bytes, or -errno.
func result(n int, err error) int32 {
	if errno, ok := err.(syscall.Errno); ok && errno != 0 {
		return -int32(errno)
	}
	return int32(n)
}

func firstNonEmpty(bufs [][]byte) []byte {
	for _, b := range bufs {
		if len(b) > 0 {
			return b
		}
	}
	return nil
}
