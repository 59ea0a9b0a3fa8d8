package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Errors returned by [NewStream] and by a [Stream]'s methods.
var (
	// ErrStreamingUnsupported means the ResponseWriter cannot flush or
	// cannot take write deadlines, typically because a middleware wraps it
	// without an Unwrap method, or because it is http.TimeoutHandler's.
	ErrStreamingUnsupported = errors.New("sse: response writer does not support streaming")
	// ErrClosed is returned by writes after Close or End.
	ErrClosed = errors.New("sse: stream closed")
	// ErrShutdown is the reason a stream ended because its Drain started:
	// its server is shutting down.
	ErrShutdown = errors.New("sse: server shutting down")
)

// Options configure a [Stream]. A nil *Options, like the zero value, means
// every default.
type Options struct {
	// Heartbeat is how long the stream may stay silent before a comment
	// line is sent to keep proxies and load balancers from cutting it.
	// Zero means 15s; a negative value disables heartbeats.
	Heartbeat time.Duration

	// WriteTimeout bounds each write: a client that does not take an
	// event within it is dropped, so a stuck reader costs at most this
	// long. It replaces http.Server's WriteTimeout, which would end every
	// stream. Zero means 10s.
	WriteTimeout time.Duration

	// Retry, if positive, is sent first as a "retry:" line: the delay
	// browsers wait before reconnecting. Zero sends none (browsers then
	// wait about 3s).
	Retry time.Duration

	// CloseEvent is the event type [Stream.End] sends. Empty means "close".
	CloseEvent string

	// Drain, if set, ends the stream when its server shuts down (see
	// Drain), at a random moment within ShutdownWindow, so that clients do
	// not all reconnect at once. Zero ShutdownWindow means 5s.
	Drain          *Drain
	ShutdownWindow time.Duration

	// LastEventIDParam names a query parameter that [Stream.LastEventID]
	// reads when the Last-Event-ID header is absent, for clients that
	// cannot set headers. Empty means the header only.
	LastEventIDParam string
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Heartbeat == 0 {
		out.Heartbeat = 15 * time.Second
	}
	if out.WriteTimeout <= 0 {
		out.WriteTimeout = 10 * time.Second
	}
	if out.CloseEvent == "" {
		out.CloseEvent = "close"
	}
	if out.ShutdownWindow <= 0 {
		out.ShutdownWindow = 5 * time.Second
	}
	return out
}

// A Stream sends events to one client of an HTTP handler. Create it with
// [NewStream]; end it with [Stream.Close] or [Stream.End] before the
// handler returns (defer s.Close() is the usual way), because nothing may
// touch a ResponseWriter after its handler has returned.
//
// Every write is flushed at once and bounded by Options.WriteTimeout.
// While nothing is sent, a heartbeat comment goes out every
// Options.Heartbeat. The stream ends by itself, closing [Stream.Done],
// when the client goes away, a write fails, or its [Drain] starts
// (within Options.ShutdownWindow, at a random moment, with a normal end
// of response so that browsers reconnect and resume with Last-Event-ID).
//
// A Stream's methods are safe for concurrent use.
type Stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	r    *http.Request
	opts Options

	mu        sync.Mutex
	buf       []byte
	closed    bool
	err       error // why the stream ended
	done      chan struct{}
	heartbeat *time.Timer
	drainStop func()      // unregisters from the server's shutdown drain
	ctxStop   func() bool // stops watching the request context
}

// NewStream starts an event stream as the response to r: it sends the
// headers browsers and proxies need (200, and those of [SetHeaders]), then
// the [OpeningFrame], and flushes them at once.
//
// It returns an error wrapping [ErrStreamingUnsupported] when w cannot set
// write deadlines (having written nothing, so the handler can still answer)
// or cannot flush. If the client leaves before the headers are out, the
// returned stream has already ended: Done is closed and Err says why.
func NewStream(w http.ResponseWriter, r *http.Request, opts *Options) (*Stream, error) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("%w: cannot set write deadlines: %v", ErrStreamingUnsupported, err)
	}
	_ = rc.SetReadDeadline(time.Time{}) // http.Server.ReadTimeout would cancel the request context
	_ = rc.EnableFullDuplex()           // let handlers read a request body while streaming

	s := &Stream{w: w, rc: rc, r: r, opts: opts.withDefaults(), done: make(chan struct{})}
	SetHeaders(w.Header())
	w.WriteHeader(http.StatusOK)

	// Send a first line at once: some proxies hold headers back until body
	// bytes arrive, and clients then know the stream is live.
	s.buf = OpeningFrame(s.opts.Retry).AppendTo(s.buf[:0])
	// Hold the lock while the callbacks are wired up: each may fire at
	// once, and each needs the others' stop functions. Join the drain
	// before the first byte goes out, so that a shutdown started once the
	// client has seen the response cannot miss us.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Drain != nil {
		s.drainStop = s.opts.Drain.add(s)
	}
	if err := s.writeLocked(s.buf); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return nil, fmt.Errorf("%w: cannot flush: %v", ErrStreamingUnsupported, err)
		}
		// The client left while the response started (on HTTP/2 it can
		// act on the headers before the first data is written). That is
		// no error of the handler's: the stream has simply ended.
		return s, nil
	}
	if s.opts.Heartbeat > 0 {
		s.heartbeat = time.AfterFunc(s.opts.Heartbeat, s.beat)
	}
	s.ctxStop = context.AfterFunc(r.Context(), func() {
		s.mu.Lock()
		s.finishLocked(context.Cause(r.Context()))
		s.mu.Unlock()
	})
	return s, nil
}

// LastEventID returns the request's Last-Event-ID header, or, when it is
// absent and Options.LastEventIDParam is set, that query parameter (see
// the function [LastEventID]).
func (s *Stream) LastEventID() string {
	var params []string
	if s.opts.LastEventIDParam != "" {
		params = []string{s.opts.LastEventIDParam}
	}
	id, _ := LastEventID(s.r, params...)
	return id
}

// LastEventID returns the id of the last event a client saw, which it
// resumes after: the request's Last-Event-ID header, or, when that is
// absent or empty, the first of the query parameters params that is not
// empty (for clients that cannot set headers, like a first EventSource
// connection). asked reports whether the request named a resume point at
// all, even an empty one: the header or one of params is present.
func LastEventID(r *http.Request, params ...string) (id string, asked bool) {
	_, asked = r.Header["Last-Event-Id"] // the canonical form of Last-Event-ID
	if id = r.Header.Get("Last-Event-ID"); id != "" || len(params) == 0 {
		return id, asked
	}
	q := r.URL.Query()
	for _, p := range params {
		if v, ok := q[p]; ok {
			asked = true
			if len(v) > 0 && v[0] != "" {
				return v[0], true
			}
		}
	}
	return "", asked
}

// Send writes e and flushes it. An invalid event writes nothing and
// returns the error from [Event.Validate]; the stream stays open. Once the
// stream has ended, Send returns the reason ([ErrClosed], [ErrShutdown],
// the client's context error, or the write error).
func (s *Stream) Send(e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.err
	}
	b, err := AppendEvent(s.buf[:0], e)
	if err != nil {
		return err
	}
	s.buf = b
	return s.writeLocked(b)
}

// SendFrame writes a pre-encoded frame and flushes it.
func (s *Stream) SendFrame(f Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.err
	}
	return s.writeLocked(f.b)
}

// SendFrames writes frames and flushes once: under load, many events go
// out in one write.
func (s *Stream) SendFrames(frames ...Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.err
	}
	n := 0
	for _, f := range frames {
		n += len(f.b)
	}
	if len(frames) == 1 || n > 64<<10 {
		return s.writeFramesLocked(frames)
	}
	s.buf = s.buf[:0]
	for _, f := range frames {
		s.buf = append(s.buf, f.b...)
	}
	return s.writeLocked(s.buf)
}

// writeFramesLocked writes large batches frame by frame, to avoid copying
// them, then flushes once.
func (s *Stream) writeFramesLocked(frames []Frame) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	var err error
	for _, f := range frames {
		if _, err = s.w.Write(f.b); err != nil {
			break
		}
	}
	return s.afterWriteLocked(err)
}

// Comment writes text as comment lines and flushes them.
func (s *Stream) Comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.err
	}
	s.buf = AppendComment(s.buf[:0], text)
	return s.writeLocked(s.buf)
}

// End sends the close event (Options.CloseEvent, with an empty data line so
// that it is dispatched) and closes the stream. Pages that listen for that
// event, htmx 2's sse-close and htmx 4's hx-sse:close then stop instead of
// reconnecting.
func (s *Stream) End() error {
	err := s.Send(Event{Type: s.opts.CloseEvent})
	s.Close()
	return err
}

// Close ends the stream: no more writes, heartbeats or shutdown handling.
// The response ends when the handler returns. Close is idempotent and
// always returns nil.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.finishLocked(ErrClosed)
	s.mu.Unlock()
	return nil
}

// Done is closed when the stream has ended, for whatever reason.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended, or nil while it is open.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// writeLocked writes b with a deadline and flushes. The deadline is cleared
// afterwards: an expired deadline would reset an idle HTTP/2 stream.
func (s *Stream) writeLocked(b []byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_, err := s.w.Write(b)
	return s.afterWriteLocked(err)
}

// afterWriteLocked flushes after a write (if it succeeded), clears the
// deadline, and ends the stream on failure.
func (s *Stream) afterWriteLocked(err error) error {
	if err == nil {
		err = s.rc.Flush()
	}
	_ = s.rc.SetWriteDeadline(time.Time{})
	if err != nil {
		s.finishLocked(fmt.Errorf("sse: write: %w", err))
		return s.err
	}
	if s.heartbeat != nil {
		s.heartbeat.Reset(s.opts.Heartbeat)
	}
	return nil
}

func (s *Stream) beat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	_ = s.writeLocked(heartbeat.b)
}

var heartbeat = CommentFrame("")

// drain is called by the stream's Drain.
func (s *Stream) drain() {
	s.mu.Lock()
	s.finishLocked(ErrShutdown)
	s.mu.Unlock()
}

// finishLocked ends the stream once, recording why.
func (s *Stream) finishLocked(reason error) {
	if s.closed {
		return
	}
	s.closed, s.err = true, reason
	close(s.done)
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	if s.ctxStop != nil {
		s.ctxStop()
	}
	if s.drainStop != nil {
		s.drainStop()
	}
}
