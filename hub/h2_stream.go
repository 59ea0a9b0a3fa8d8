package hub

import (
	"context"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Stream is one stream of an h2Conn. Its fields are guarded by the
// connection's mu, except out, finish and items, which belong to the
// flusher (scheduled is true while it holds the stream).
type h2Stream struct {
	c  *h2Conn
	id uint32

	sendWin     int64 // what the stream may still send
	recvWin     int64 // what the client may still send on it
	unsent      int64 // window consumed, not yet given back
	remoteDone  bool  // the client sent END_STREAM
	localDone   bool  // the response ended (END_STREAM or RST_STREAM sent)
	err         error // the stream ended early: reset, or its connection closed
	declared    int64 // the request's Content-Length, or -1
	received    int64
	body        *h2Body            // nil when the request has none
	cancel      context.CancelFunc // the request's context
	handlerDone bool
	drain       *time.Timer // resets a stream answered whose client still sends

	// A parked event stream (sub != nil once parked).
	sub       *subscriber
	scheduled bool // in the ready list, or held by the flusher
	waitWin   bool // data held back for flow control
	needBeat  bool
	released  bool
	lastWrite int64    // unix nanoseconds
	waitSince int64    // when it last ran out of window; 0 if it has not
	out       [][]byte // taken from the subscriber, not written yet
	finish    bool     // the stream's last event was taken: end once out is written
}

// processHeaders opens a stream (or takes a request's trailers).
func (c *h2Conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	c.mu.Lock()
	if st := c.streams.get(id); st != nil {
		c.mu.Unlock()
		return c.processTrailers(st, f)
	}
	if id <= c.maxID {
		// A closed stream (5.1), or an id below one used already (5.1.1).
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	c.maxID = id
	if c.goneAway {
		c.mu.Unlock()
		return nil // past the GOAWAY's last stream: ignored (6.8)
	}
	// Handlers still running count too: a stream reset at once leaves
	// the map, not its goroutine (the "rapid reset" attack).
	if uint32(c.streams.len()) >= c.maxStreams || uint32(c.running) >= c.maxStreams {
		c.mu.Unlock()
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	st := &h2Stream{c: c, id: id, sendWin: c.peerWin, recvWin: h2InitialWindow, declared: -1, remoteDone: f.StreamEnded()}
	c.mu.Unlock()

	req, status, err := c.newRequest(st, f)
	if err != nil {
		return err
	}
	w := req.Context().Value(h2Key{}).(*h2Writer)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.streams.put(st)
	if c.timer != nil {
		c.timer.Stop() // the idle timeout, dropped: a connection with streams keeps no timer
		c.timer = nil
	}
	c.running++
	c.handlers.Add(1)
	c.mu.Unlock()
	go c.runHandler(w, req, status)
	return nil
}

// processTrailers takes a second header block: trailers, which end the
// request (8.1).
func (c *h2Conn) processTrailers(st *h2Stream, f *http2.MetaHeadersFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.remoteDone {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeStreamClosed}
	}
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	return c.endRequestLocked(st)
}

// endRequestLocked marks the request's body complete, checking its
// declared length. c.mu must be held.
func (c *h2Conn) endRequestLocked(st *h2Stream) error {
	st.remoteDone = true
	if st.declared >= 0 && st.received != st.declared {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	if st.body != nil {
		st.body.eof = true
		c.broadcastLocked()
	}
	c.doneLocked(st)
	return nil
}

func (c *h2Conn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length) // padding counts against flow control
	c.mu.Lock()
	defer c.mu.Unlock()
	if id > c.maxID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	c.recvWin -= n
	if c.recvWin < 0 {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	st := c.streams.get(id)
	if st == nil || st.remoteDone || st.err != nil {
		// Nobody reads it: the connection's window is given back now.
		c.refundLocked(nil, n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	st.recvWin -= n
	if st.recvWin < 0 {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	data := f.Data()
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if pad := n - int64(len(data)); pad > 0 {
		c.refundLocked(st, pad)
	}
	if len(data) > 0 {
		if st.body == nil || st.body.closed {
			c.refundLocked(st, int64(len(data)))
		} else {
			st.body.buf = append(st.body.buf, data...)
			c.broadcastLocked()
		}
	}
	if f.StreamEnded() {
		return c.endRequestLocked(st)
	}
	return nil
}

// refundLocked gives n bytes of window back to the client, on the
// connection and on st (if not nil and still sending). As x/net's server
// does, a refund waits until it is worth a frame (h2Refresh) or the
// client could send no more. c.mu must be held; the WINDOW_UPDATEs go
// out with flushRefunds, after c.mu is released.
func (c *h2Conn) refundLocked(st *h2Stream, n int64) {
	c.unsent += n
	if c.unsent >= h2Refresh || c.unsent >= c.recvWin {
		c.recvWin += c.unsent
		c.refundConn += c.unsent
		c.unsent = 0
	}
	if st != nil && !st.remoteDone && st.err == nil {
		st.unsent += n
		if st.unsent >= h2Refresh || st.unsent >= st.recvWin {
			st.recvWin += st.unsent
			c.refunds = append(c.refunds, h2Refund{st.id, st.unsent})
			st.unsent = 0
		}
	}
}

// h2Refresh is the least window refund sent on its own.
const h2Refresh = 4 << 10

type h2Refund struct {
	id uint32
	n  int64
}

// flushRefunds writes the window updates refundLocked noted.
func (c *h2Conn) flushRefunds() {
	c.mu.Lock()
	conn, refunds := c.refundConn, c.refunds
	c.refundConn, c.refunds = 0, nil
	c.mu.Unlock()
	if conn == 0 && len(refunds) == 0 {
		return
	}
	c.write(func(fr *http2.Framer) error {
		for _, r := range refunds {
			if err := fr.WriteWindowUpdate(r.id, uint32(r.n)); err != nil {
				return err
			}
		}
		if conn > 0 {
			return fr.WriteWindowUpdate(0, uint32(conn))
		}
		return nil
	})
}

// doneLocked forgets st once both sides have ended it. c.mu must be held.
func (c *h2Conn) doneLocked(st *h2Stream) {
	if !(st.remoteDone && st.localDone) && st.err == nil {
		return
	}
	c.streams.remove(st)
	if st.drain != nil {
		st.drain.Stop()
	}
	if c.streams.len() == 0 {
		c.armIdleLocked()
	}
}

// armIdleLocked starts the idle timeout of a connection with no stream:
// after the server's IdleTimeout (two minutes if unset) it goes away
// gracefully, as net/http's HTTP/2 server does. c.mu must be held.
func (c *h2Conn) armIdleLocked() {
	c.idleSince = time.Now().UnixNano()
	c.beatArmed = false // no stream, so no event stream either
	c.resetTimerLocked(c.idleTimeoutOf())
}

func (c *h2Conn) idleTimeoutOf() time.Duration {
	if d := c.srv.srv.IdleTimeout; d > 0 {
		return d
	}
	return 2 * time.Minute
}

// resetTimerLocked (re)starts the connection's idle timeout (onTimer).
// c.mu must be held.
func (c *h2Conn) resetTimerLocked(d time.Duration) {
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
		return
	}
	c.timer.Reset(d)
}

// onTimer is the connection's idle timeout. A timer that fired as a
// stream opened finds the connection busy, and one re-armed since checks
// the time itself.
func (c *h2Conn) onTimer() {
	c.mu.Lock()
	idle := c.streams.len() == 0 && !c.closed && !c.beatArmed
	if idle {
		if left := time.Duration(c.idleSince + c.idleTimeoutOf().Nanoseconds() - time.Now().UnixNano()); left > 0 {
			c.resetTimerLocked(left) // fired for a heartbeat since cancelled
			idle = false
		}
	}
	c.mu.Unlock()
	if idle {
		c.goAway(http2.ErrCodeNo, false)
	}
}

// closeIfDrained closes the connection once a graceful GOAWAY's drain is
// over: its last stream has ended, and its last frame is written.
func (c *h2Conn) closeIfDrained() {
	c.mu.Lock()
	drained := c.goneAway && c.streams.len() == 0
	c.mu.Unlock()
	if drained {
		c.closeNC()
	}
}

// closeStream ends st early with err: its client reset it, or the
// connection is closing. Its handler sees err; a parked event stream
// ends as the client's leaving.
func (c *h2Conn) closeStream(st *h2Stream, err error) {
	c.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	if st.cancel != nil {
		st.cancel()
	}
	c.doneLocked(st)
	c.broadcastLocked()
	sub := st.sub
	c.mu.Unlock()
	defer c.closeIfDrained()
	if sub != nil {
		sub.end(reasonClient) // the flusher releases it
		c.mu.Lock()
		done := c.closed
		c.mu.Unlock()
		if done {
			c.release(st, reasonClient)
		}
	}
}

// newRequest makes the request a header block opens, or returns a stream
// error for a malformed one (8.1.1). A request past the header list limit
// gets status 431 instead.
func (c *h2Conn) newRequest(st *h2Stream, f *http2.MetaHeadersFrame) (*http.Request, int, error) {
	bad := http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	var method, path, scheme, authority string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":path":
			path = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		default: // :status, or :protocol, which the hub does not offer
			return nil, 0, bad
		}
	}
	if method == "CONNECT" {
		if authority == "" || path != "" || scheme != "" {
			return nil, 0, bad
		}
		path = "/"
	} else if method == "" || scheme == "" || path == "" {
		return nil, 0, bad
	}
	hdr := make(http.Header, len(f.RegularFields()))
	var cookies []string
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return nil, 0, bad // connection-specific (8.2.2)
		case "te":
			if hf.Value != "trailers" {
				return nil, 0, bad
			}
		case "cookie":
			cookies = append(cookies, hf.Value)
			continue
		}
		k := http.CanonicalHeaderKey(hf.Name)
		hdr[k] = append(hdr[k], hf.Value)
	}
	if len(cookies) > 0 {
		hdr.Set("Cookie", strings.Join(cookies, "; "))
	}
	if authority == "" {
		authority = hdr.Get("Host")
	}
	if cl := hdr["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 || len(cl) > 1 && strings.Join(cl, ",") != strings.Repeat(cl[0]+",", len(cl)-1)+cl[0] {
			return nil, 0, bad
		}
		st.declared = n
		if st.remoteDone && n != 0 {
			return nil, 0, bad
		}
	}
	u, err := url.ParseRequestURI(path)
	if path == "*" && method == http.MethodOptions {
		u, err = &url.URL{Path: "*"}, nil
	}
	if err != nil {
		return nil, 0, bad
	}
	req := &http.Request{Method: method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2, Header: hdr,
		Host: authority, RemoteAddr: c.remoteAddr(), RequestURI: path, TLS: c.tls, ContentLength: st.declared, Body: http.NoBody}
	if !st.remoteDone {
		st.body = &h2Body{st: st}
		req.Body = st.body
		if st.declared < 0 {
			req.ContentLength = -1
		}
	} else {
		req.ContentLength = 0
	}
	ctx, cancel := context.WithCancel(c.base)
	st.cancel = cancel
	w := &h2Writer{st: st, head: method == http.MethodHead, hdr: http.Header{}}
	ctx = context.WithValue(ctx, h2Key{}, w)
	status := 0
	if f.Truncated {
		status = http.StatusRequestHeaderFieldsTooLarge
	}
	return req.WithContext(ctx), status, nil
}

// h2Body is a request's body, fed by DATA frames; guarded by the
// connection's mu. What the handler reads is given back to the client's
// windows.
type h2Body struct {
	st     *h2Stream
	buf    []byte
	eof    bool
	closed bool
	err    error // the body's read deadline passed (SetReadDeadline)
}

func (b *h2Body) Read(p []byte) (int, error) {
	c := b.st.c
	defer c.flushRefunds()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b.buf) == 0 && !b.eof && b.st.err == nil && !b.closed && b.err == nil {
		c.waitLocked()
	}
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	case len(b.buf) == 0 && b.eof:
		return 0, io.EOF
	case len(b.buf) == 0:
		return 0, b.st.err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil // no buffer kept between reads
	}
	c.refundLocked(b.st, int64(n))
	return n, nil
}

func (b *h2Body) Close() error {
	c := b.st.c
	defer c.flushRefunds()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !b.closed {
		b.closed = true
		if n := int64(len(b.buf)); n > 0 {
			b.buf = nil
			c.refundLocked(nil, n)
		}
		c.broadcastLocked()
	}
	return nil
}

// encodeHeaders writes hdr's fields, lower-cased, leaving out the
// connection-specific ones HTTP/2 forbids.
func encodeHeaders(enc *hpack.Encoder, hdr http.Header) {
	for k, vs := range hdr {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Trailer":
			continue
		}
		name := strings.ToLower(k)
		for _, v := range vs {
			enc.WriteField(hpack.HeaderField{Name: name, Value: v, Sensitive: name == "set-cookie" || name == "authorization"})
		}
	}
}

func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}

// h2Streams is a connection's open streams by id: the first in a field,
// a map only while more are open. A browser tab's connection often
// carries one stream, and a map of one costs 200 bytes.
type h2Streams struct {
	one  *h2Stream
	more map[uint32]*h2Stream
}

func (s *h2Streams) get(id uint32) *h2Stream {
	if s.one != nil && s.one.id == id {
		return s.one
	}
	return s.more[id]
}

func (s *h2Streams) put(st *h2Stream) {
	if s.one == nil {
		s.one = st
		return
	}
	if s.more == nil {
		s.more = map[uint32]*h2Stream{}
	}
	s.more[st.id] = st
}

// remove forgets st, if it is the open stream of its id.
func (s *h2Streams) remove(st *h2Stream) {
	if s.one == st {
		s.one = nil
		return
	}
	if s.more[st.id] == st {
		delete(s.more, st.id)
		if len(s.more) == 0 {
			s.more = nil // its buckets are not kept for the next burst
		}
	}
}

func (s *h2Streams) len() int {
	n := len(s.more)
	if s.one != nil {
		n++
	}
	return n
}

// all yields the open streams; they may not be put or removed meanwhile.
func (s *h2Streams) all() iter.Seq[*h2Stream] {
	return func(yield func(*h2Stream) bool) {
		if s.one != nil && !yield(s.one) {
			return
		}
		for _, st := range s.more {
			if !yield(st) {
				return
			}
		}
	}
}
