package hub

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/net/http2"
)

// runHandler runs the ordinary handler for one request, on a goroutine of
// its own, and ends the response when it returns (unless the handler
// parked the stream as an event stream).
func (c *h2Conn) runHandler(w *h2Writer, req *http.Request, status int) {
	defer c.handlers.Done()
	defer func() {
		c.mu.Lock()
		c.running--
		last := c.running == 0
		c.mu.Unlock()
		if last {
			c.dropEncoder()
		}
	}()
	st := w.st
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			c.srv.hub.log.Error("http2: panic serving request", "remote", c.remoteAddr(), "path", req.URL.Path, "panic", fmt.Sprint(p))
		}
		if w.deadline != nil {
			w.deadline.Stop()
		}
		if w.readDeadline != nil {
			w.readDeadline.Stop()
		}
		if p != nil {
			c.resetStream(st.id, http2.ErrCodeInternal)
		} else {
			w.finish()
		}
		st.cancel() // a parked stream no longer needs its request
		c.mu.Lock()
		st.cancel = nil // nor keeps its context
		c.mu.Unlock()
	}()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	c.srv.serveHTTP(w, req)
}

// h2Writer is the http.ResponseWriter (and Flusher) of a request on the
// hub's HTTP/2 server. Writes are buffered up to h2WriteBuffer, then sent
// as DATA within the flow-control windows, waiting for them to open.
type h2Writer struct {
	st       *h2Stream
	head     bool
	hdr      http.Header
	status   int
	sent     bool // the HEADERS frame was written
	buf      []byte
	parked   bool // an event stream took the stream over
	done     bool
	deadline *time.Timer
	// readDeadline cuts the body (SetReadDeadline).
	readDeadline *time.Timer
}

const h2WriteBuffer = 4 << 10

func (w *h2Writer) Header() http.Header { return w.hdr }

func (w *h2Writer) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 || code < 200 { // informational responses are not sent
		return
	}
	w.status = code
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

func (w *h2Writer) Write(p []byte) (int, error) {
	if w.done || w.parked {
		return 0, errors.New("hub: write after the handler's response ended")
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.head {
		return len(p), nil
	}
	if len(w.buf)+len(p) <= h2WriteBuffer {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if err := w.FlushError(); err != nil {
		return 0, err
	}
	if err := w.st.writeData(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *h2Writer) Flush() { w.FlushError() }

// FlushError sends the headers, if not yet sent, and what is buffered.
func (w *h2Writer) FlushError() error {
	if w.done || w.parked {
		return nil
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		if err := w.sendHeaders(w.hdr, false); err != nil {
			return err
		}
	}
	if len(w.buf) > 0 {
		err := w.st.writeData(w.buf, false)
		w.buf = w.buf[:0]
		return err
	}
	return nil
}

// SetWriteDeadline resets the stream if the response is not written by t,
// as net/http's HTTP/2 server does.
func (w *h2Writer) SetWriteDeadline(t time.Time) error {
	if w.deadline != nil {
		w.deadline.Stop()
		w.deadline = nil
	}
	if !t.IsZero() {
		st := w.st
		w.deadline = time.AfterFunc(time.Until(t), func() {
			c := st.c
			c.mu.Lock()
			if st.err == nil {
				st.err = os.ErrDeadlineExceeded
				c.broadcastLocked()
			}
			c.mu.Unlock()
		})
	}
	return nil
}

// SetReadDeadline cuts the request's body at t, as net/http's HTTP/2
// server does: a read waiting then, or after, fails with
// os.ErrDeadlineExceeded, and once the handler has answered, the stream
// is reset if the client is still sending. Without it a client that stops
// a body midway holds a handler and a stream for ever (the connection's
// reader has no deadline, and a stream keeps it from going idle).
func (w *h2Writer) SetReadDeadline(t time.Time) error {
	if w.readDeadline != nil {
		w.readDeadline.Stop()
		w.readDeadline = nil
	}
	st := w.st
	if st.body == nil || t.IsZero() {
		return nil
	}
	w.readDeadline = time.AfterFunc(time.Until(t), func() {
		c := st.c
		c.mu.Lock()
		if !st.remoteDone && st.body.err == nil {
			st.body.err = os.ErrDeadlineExceeded
			c.broadcastLocked()
		}
		c.mu.Unlock()
	})
	return nil
}

// sendHeaders writes the response's HEADERS frame, with hdr's fields, a
// Date, and a sniffed Content-Type if none is set (as net/http does).
func (w *h2Writer) sendHeaders(hdr http.Header, end bool) error {
	w.sent = true
	if _, ok := hdr["Content-Type"]; !ok && len(w.buf) > 0 && bodyAllowed(w.status) && hdr.Get("Content-Encoding") == "" {
		hdr.Set("Content-Type", http.DetectContentType(w.buf))
	}
	if _, ok := hdr["Date"]; !ok {
		hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	st := w.st
	c := st.c
	c.mu.Lock()
	err := st.err
	if err == nil && end {
		st.localDone = true // before the frame is out, as in writeData
		c.doneLocked(st)
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.write(func(fr *http2.Framer) error { return c.headerBlock(fr, st.id, w.status, hdr, end) })
}

// finish ends the response once the handler has returned.
func (w *h2Writer) finish() {
	if w.parked || w.done {
		return
	}
	w.done = true
	st := w.st
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	var err error
	if !w.sent {
		if _, ok := w.hdr["Content-Length"]; !ok && bodyAllowed(w.status) && !w.head {
			w.hdr.Set("Content-Length", strconv.Itoa(len(w.buf)))
		}
		end := len(w.buf) == 0 || w.head || !bodyAllowed(w.status)
		err = w.sendHeaders(w.hdr, end)
	}
	c := st.c
	c.mu.Lock()
	localDone := st.localDone
	c.mu.Unlock()
	if err == nil && !localDone {
		err = st.writeData(w.buf, true)
	}
	w.buf = nil
	c.mu.Lock()
	st.handlerDone = true
	if err != nil && st.err == nil {
		st.err = err
	}
	if b := st.body; b != nil && !b.closed {
		// The response is complete but the client may still be sending:
		// the stream stays half-closed until it is done, and what it
		// sends is dropped, its window given back (8.1 allows a reset
		// instead, which a client can take for a failure).
		b.closed = true
		if n := int64(len(b.buf)); n > 0 {
			b.buf = nil
			c.refundLocked(st, n)
		}
	}
	c.doneLocked(st)
	c.broadcastLocked()
	cut := st.body != nil && st.body.err != nil && !st.remoteDone && st.err == nil
	c.mu.Unlock()
	c.flushRefunds()
	if cut && err == nil {
		// The body was cut by its deadline and the client has not ended
		// it: the stream ends here (NO_ERROR: the response is whole), so
		// that it holds no slot of the connection's.
		c.resetStream(st.id, http2.ErrCodeNo)
		return
	}
	if err == nil {
		c.mu.Lock()
		if !st.remoteDone && st.err == nil && c.streams.get(st.id) == st {
			// Answered while the client is still sending (a refusal
			// before the body is read): it has BodyTimeout to end the
			// stream, then it is reset, so that no client holds its
			// streams (and the connection from going idle) by never
			// ending them.
			st.drain = time.AfterFunc(c.srv.hub.cfg.BodyTimeout, func() {
				c.mu.Lock()
				open := !st.remoteDone && st.err == nil
				c.mu.Unlock()
				if open {
					c.resetStream(st.id, http2.ErrCodeNo)
				}
			})
		}
		c.mu.Unlock()
	}
	switch {
	case err != nil && !errors.Is(err, errStreamReset) && !errors.Is(err, errConnClosed):
		c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(st.id, http2.ErrCodeCancel) })
	default:
		c.closeIfDrained()
	}
}

// writeData sends p as DATA frames within the flow-control windows,
// waiting for them to open; end ends the stream with the last frame.
func (st *h2Stream) writeData(p []byte, end bool) error {
	c := st.c
	for len(p) > 0 || end {
		c.mu.Lock()
		if len(p) > 0 && (c.sendWin <= 0 || st.sendWin <= 0) && st.err == nil && !c.closed {
			st.waitWindow()
		}
		switch {
		case st.err != nil:
			err := st.err
			c.mu.Unlock()
			return err
		case c.closed:
			c.mu.Unlock()
			return errConnClosed
		}
		n := min(int64(len(p)), c.sendWin, st.sendWin, int64(c.peerFrame))
		c.sendWin -= n
		st.sendWin -= n
		last := end && n == int64(len(p))
		if last {
			// Done before the frame is out: a frame the client sends
			// once it has read it finds the stream closed.
			st.localDone = true
			c.doneLocked(st)
		}
		c.mu.Unlock()
		chunk := p[:n]
		if err := c.write(func(fr *http2.Framer) error { return fr.WriteData(st.id, last, chunk) }); err != nil {
			return err
		}
		p = p[n:]
		if last {
			return nil
		}
	}
	return nil
}

// waitWindow waits for the windows to open, at most the hub's
// WriteTimeout: a client that opens none is a reader that takes no write,
// and its stream ends (os.ErrDeadlineExceeded) as a slow reader's does on
// every other path. Without the bound, a client announcing a zero window
// held a handler's goroutine for every stream, for ever. c.mu must be
// held; it is released while waiting.
func (st *h2Stream) waitWindow() {
	c := st.c
	var t *time.Timer
	expired := false // guarded by c.mu
	if d := c.srv.hub.cfg.WriteTimeout; d > 0 {
		t = time.AfterFunc(d, func() {
			c.mu.Lock()
			expired = true
			c.broadcastLocked()
			c.mu.Unlock()
		})
	}
	for (c.sendWin <= 0 || st.sendWin <= 0) && st.err == nil && !c.closed && !expired {
		c.waitLocked()
	}
	if t != nil {
		t.Stop()
	}
	if expired && (c.sendWin <= 0 || st.sendWin <= 0) && st.err == nil {
		st.err = os.ErrDeadlineExceeded
	}
}
