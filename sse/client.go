package sse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A StatusError reports a response status other than 200 and 204. Like a
// browser's EventSource, a Client does not reconnect after one.
type StatusError struct {
	Code   int    // e.g. 404
	Status string // e.g. "404 Not Found"

	// ContentType and Body are the response's Content-Type and the start
	// of its body (at most 4 KiB, read for at most a second): often the
	// server's reason, as text or JSON. They are the server's words, not
	// sanitized: escape them before showing them on a terminal or a page.
	ContentType string
	Body        []byte
}

func (e *StatusError) Error() string {
	return "sse: server answered " + e.Status + ", want 200 OK"
}

// A ContentTypeError reports a 200 response that is not an event stream.
// Like a browser's EventSource, a Client does not reconnect after one.
type ContentTypeError struct {
	ContentType string // as received
}

func (e *ContentTypeError) Error() string {
	return fmt.Sprintf("sse: server answered Content-Type %q, want text/event-stream", e.ContentType)
}

// NoCloseEvent as a Client's CloseEvent makes no event end a
// subscription: only the server's 204 does, as in browsers.
const NoCloseEvent = "\n" // no event type can hold a line break

// ErrReadTimeout is the reason a connection is dropped when nothing arrived
// on it for Client.ReadTimeout.
var ErrReadTimeout = errors.New("sse: read timeout")

var (
	errRestart  = errors.New("sse: restart requested")
	errClosed   = errors.New("sse: subscription closed")
	errReleased = errors.New("sse: connection released")
)

// A Client subscribes to event streams and keeps them going the way a
// browser's EventSource does: it reconnects when a response ends or the
// network fails, waiting the stream's "retry:" delay, and sends the last
// event ID it saw as Last-Event-ID so that the server can resume.
//
// Unlike a browser, it backs off (doubling the delay, up to MaxBackoff,
// with jitter) while connections keep failing before any event or comment
// arrives, so a down server is not hammered.
//
// It stops for good on 204 No Content and at a close event (normal ends:
// the server said the stream is over, see [Stream.End]), on any other
// status than 200 (a *StatusError) and on a wrong Content-Type (a
// *ContentTypeError). A browser's EventSource does not know close events
// and would reconnect, and be sent the end again; a page closes its
// EventSource when it sees one.
//
// The zero Client is ready to use. A Client is safe for concurrent use and
// should not be changed once in use.
type Client struct {
	// HTTPClient makes the requests. Nil means http.DefaultClient. It must
	// not have a Timeout, which would end every stream; use ReadTimeout.
	HTTPClient *http.Client

	// Retry is the delay before the first reconnection, until the stream
	// sets its own with "retry:" ("retry: 0" included: then the next
	// reconnection is at once, as in browsers). Zero means 3s, as in
	// browsers.
	Retry time.Duration

	// MaxBackoff caps the delay while reconnections keep failing. Zero
	// means 30s. It never shortens a delay the stream asked for.
	MaxBackoff time.Duration

	// ReadTimeout drops a connection on which no byte arrived for this
	// long, then reconnects. Zero means no timeout; servers that send
	// heartbeats make a timeout of a few heartbeat intervals safe.
	ReadTimeout time.Duration

	// MaxEventSize is passed to each connection's [Reader]: zero means
	// DefaultMaxEventSize, negative means no limit.
	MaxEventSize int

	// CloseEvent is the type of the event that ends a stream for good, as
	// [Stream.End] sends it: the subscription ends there (Next returns
	// io.EOF) instead of reconnecting. Empty means "close", Stream.End's
	// and herd's default; NoCloseEvent treats every event alike, as a
	// browser does.
	CloseEvent string

	// SeeCloseEvent makes Next return the close event itself before
	// io.EOF, for a program that wants to read its data.
	SeeCloseEvent bool

	// OnComment, if not nil, is called with every comment line's text, in
	// stream order with the events.
	OnComment func(text string)

	// Reconnect, if not nil, is called when a connection ends and the
	// client is about to wait delay and reconnect; err says why the
	// connection ended (io.EOF for a normal end of the response). If it
	// returns false the subscription ends instead, with err as its error
	// unless err is io.EOF. It is not called after Restart or Close.
	Reconnect func(err error, delay time.Duration) bool
}

// Subscribe prepares a subscription to the stream that req asks for. It
// connects on the first call to Next (or the first iteration of Events).
//
// req is used as a template for every connection: its method, URL, headers
// and body are sent each time (the body is buffered if req.GetBody is nil).
// A Last-Event-ID header on req sets the initial last event ID. Client adds
// Accept: text/event-stream and Cache-Control: no-cache.
//
// The subscription ends when ctx is done, when Close is called, or as the
// Client's doc says.
func (c *Client) Subscribe(ctx context.Context, req *http.Request) *Subscription {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &Subscription{c: c, ctx: ctx, cancel: cancel, req: req, lastID: req.Header.Get("Last-Event-ID"),
		restart: make(chan struct{}, 1)}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			s.err = fmt.Errorf("sse: reading request body: %w", err)
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return s
}

// Events subscribes to req and returns an iterator over its events. See
// [Client.Subscribe] and [Subscription.Events].
func (c *Client) Events(ctx context.Context, req *http.Request) iter.Seq2[Event, error] {
	return c.Subscribe(ctx, req).Events()
}

// A Subscription is one logical stream, spanning reconnections. Next (or
// Events) must be called from one goroutine at a time; Restart, Close and
// LastEventID may be called from any goroutine.
type Subscription struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelCauseFunc
	req    *http.Request

	// owned by the goroutine calling Next
	rd       *Reader
	body     io.ReadCloser
	timer    *time.Timer // read timeout
	retry    time.Duration
	retrySet bool // the stream sent retry (zero means reconnect at once)
	failures int  // connections in a row that ended before any event or comment
	alive    bool // the current connection delivered something
	delay    time.Duration
	err      error // terminal error, returned by every later Next

	restart chan struct{} // a Restart during the wait before connecting

	mu         sync.Mutex
	lastID     string
	connCtx    context.Context
	cancelConn context.CancelCauseFunc
}

// LastEventID returns the last event ID seen, the one sent as
// Last-Event-ID on the next reconnection.
func (s *Subscription) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// Restart drops the current connection and reconnects at once, as if the
// server had ended the response but without any delay.
func (s *Subscription) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelConn != nil {
		s.cancelConn(errRestart)
		return
	}
	select {
	case s.restart <- struct{}{}:
	default:
	}
}

// Close ends the subscription: the current connection is dropped and Next
// returns io.EOF. Close may be called more than once.
func (s *Subscription) Close() {
	s.cancel(errClosed)
}

// Events returns an iterator over the subscription's events. It ends at
// the normal end of the subscription (204, a close event, Close, or a
// Reconnect that declined after a normal end of response); any other end
// is yielded as a last error. Breaking out of the loop closes the subscription.
func (s *Subscription) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		defer s.Close()
		for {
			e, err := s.Next()
			if err == io.EOF {
				return
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Next returns the next event, connecting and reconnecting as needed. It
// returns io.EOF once the subscription has ended normally (a 204, a close
// event, Close), ctx's error when
// its context is done, and a *StatusError, *ContentTypeError, an
// *EventSizeError or the error a Reconnect hook declined as a final error.
func (s *Subscription) Next() (Event, error) {
	for {
		if s.err != nil {
			return Event{}, s.err
		}
		if s.rd == nil {
			if err := s.connect(); err != nil {
				err = s.endConn(err)
				if !s.reconnectAfter(err) {
					s.finish(err)
				}
				continue
			}
		}
		e, err := s.rd.Next()
		if err == nil {
			s.alive = true
			s.mu.Lock()
			s.lastID = s.rd.LastEventID()
			s.mu.Unlock()
			if e.Type == s.closeEvent() {
				s.endConn(nil)
				s.finish(errNoContent) // a normal end, as a 204 is
				if s.c.SeeCloseEvent {
					return e, nil
				}
				continue
			}
			return e, nil
		}
		s.mu.Lock()
		s.lastID = s.rd.LastEventID()
		s.mu.Unlock()
		if s.rd.retrySet {
			s.retry, s.retrySet = s.rd.retry, true
		}
		if errors.Is(err, ErrEventTooLarge) {
			s.endConn(err)
			s.finish(err)
			continue
		}
		err = s.endConn(err)
		if !s.reconnectAfter(err) {
			s.finish(err)
		}
	}
}

// closeEvent is the event type that ends the subscription.
func (s *Subscription) closeEvent() string {
	if s.c.CloseEvent == "" {
		return "close"
	}
	return s.c.CloseEvent
}

// finish makes err the terminal state: io.EOF for normal ends.
func (s *Subscription) finish(err error) {
	switch {
	case errors.Is(context.Cause(s.ctx), errClosed):
		err = io.EOF
	case s.ctx.Err() != nil:
		err = s.ctx.Err()
	}
	if err == errNoContent {
		err = io.EOF
	}
	s.err = err
	s.cancel(errClosed)
}

// reconnectAfter decides what to do when a connection ended with err, and
// sets the delay for the next one. It returns false to stop.
func (s *Subscription) reconnectAfter(err error) bool {
	if s.ctx.Err() != nil {
		return false
	}
	if errors.Is(err, errRestart) {
		s.delay = 0
		return true
	}
	var se *StatusError
	var ce *ContentTypeError
	if errors.Is(err, errNoContent) || errors.As(err, &se) || errors.As(err, &ce) {
		return false
	}
	if s.alive {
		s.failures = 0
	}
	s.failures++
	s.delay = s.backoff()
	if s.c.Reconnect != nil && !s.c.Reconnect(err, s.delay) {
		return false
	}
	return true
}

// backoff returns the delay before the next connection: the stream's retry
// delay, doubled for each further connection in a row that failed before
// any event or comment, capped, then jittered into [d/2, d].
func (s *Subscription) backoff() time.Duration {
	base := cmp(s.c.Retry, 3*time.Second)
	if s.retrySet {
		base = s.retry
	}
	d := base
	if s.failures > 1 {
		ceiling := max(cmp(s.c.MaxBackoff, 30*time.Second), base)
		d = max(base, 100*time.Millisecond) // never a tight loop
		for i := 1; i < s.failures && d < ceiling; i++ {
			d *= 2
		}
		d = min(d, ceiling)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// cmp returns the first positive duration.
func cmp(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

var errNoContent = errors.New("sse: 204 No Content")

// connect waits the pending delay, then opens a connection.
func (s *Subscription) connect() error {
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-s.restart:
			t.Stop()
		case <-s.ctx.Done():
			t.Stop()
			return context.Cause(s.ctx)
		}
	}
	connCtx, cancel := context.WithCancelCause(s.ctx)
	s.mu.Lock()
	s.connCtx, s.cancelConn = connCtx, cancel
	lastID := s.lastID
	s.mu.Unlock()

	req := s.req.Clone(connCtx)
	if s.req.GetBody != nil {
		body, err := s.req.GetBody()
		if err != nil {
			return fmt.Errorf("sse: request body: %w", err)
		}
		req.Body = body
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/event-stream")
	}
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	} else {
		req.Header.Del("Last-Event-ID")
	}

	hc := s.c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	s.alive = false
	resp, err := hc.Do(req)
	if err != nil {
		if cause := context.Cause(connCtx); cause != nil {
			return cause
		}
		return err
	}
	s.body = resp.Body
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return errNoContent
	case resp.StatusCode != http.StatusOK:
		// The reason, if the server says it soon; the connection is
		// dropped after.
		t := time.AfterFunc(time.Second, func() { resp.Body.Close() })
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		t.Stop()
		return &StatusError{Code: resp.StatusCode, Status: resp.Status, ContentType: resp.Header.Get("Content-Type"), Body: body}
	case !isEventStream(resp.Header.Get("Content-Type")):
		return &ContentTypeError{ContentType: resp.Header.Get("Content-Type")}
	}

	var body io.Reader = resp.Body
	if d := s.c.ReadTimeout; d > 0 {
		s.timer = time.AfterFunc(d, func() { cancel(ErrReadTimeout) })
		body = &timeoutReader{r: resp.Body, t: s.timer, d: d}
	}
	s.rd = NewReader(body)
	s.rd.MaxEventSize = s.c.MaxEventSize
	s.rd.SetLastEventID(lastID)
	if onComment := s.c.OnComment; onComment != nil {
		s.rd.OnComment = func(text string) {
			s.alive = true
			onComment(text)
		}
	}
	return nil
}

// endConn releases the current connection and returns why it ended: the
// cause it was cancelled with (restart, read timeout, close), else err.
func (s *Subscription) endConn(err error) error {
	s.mu.Lock()
	connCtx, cancel := s.connCtx, s.cancelConn
	s.connCtx, s.cancelConn = nil, nil
	s.mu.Unlock()
	if connCtx != nil {
		if cause := context.Cause(connCtx); cause != nil {
			err = cause
		}
		cancel(errReleased)
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
	s.rd = nil
	return err
}

// isEventStream reports whether ct is text/event-stream with no charset
// other than UTF-8, as browsers require.
func isEventStream(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "text/event-stream" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// timeoutReader pushes back its timer every time bytes arrive.
type timeoutReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *timeoutReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}
