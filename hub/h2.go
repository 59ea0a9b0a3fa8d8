package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The hub's HTTP/2 server. net/http's serves every stream with a goroutine
// and buffers of its own; the hub's parks an event stream as the
// connection engine parks a plain HTTP/1.x one: a subscriber and a few
// words of stream state, no goroutine, no buffer. A connection has a
// reader (h2_read.go; first the goroutine net/http handed the connection
// to), and a flusher that runs only while parked streams have something
// to write. An idle h2c connection on Linux parks too (h2_park_linux.go):
// its reader ends while there is nothing to read, and the hub's poller
// starts one when bytes come, so that it has no goroutine at all; so does
// a TLS 1.3 one the hub takes from crypto/tls (tls_h2.go), whose records
// it opens and seals itself.
// Every other request (publishes, the dashboard, files) runs the ordinary
// handler on a goroutine of its own, as on net/http's server.
//
// Frames and header compression are golang.org/x/net/http2's Framer and
// hpack: the hub writes no codec. The connection's state (streams, flow
// control windows, the peer's settings) is in h2Conn, guarded by its mu.
//
// Lock order: h2Conn.wmu (held while frames are encoded and written),
// then subscriber.mu, then h2Conn.mu. A subscriber wakes its stream with
// its own mu held (its waker, wakeLocked), so h2Conn.mu comes after it; nothing
// takes wmu while holding either.

// ConfigureHTTP2 makes srv serve HTTP/2 (over TLS, and h2c if
// srv.Protocols allows unencrypted HTTP/2) with the hub's HTTP/2 server
// instead of net/http's: event streams (GET /events, a face's
// streams) are parked on their connection with no goroutine each, and
// every other request goes to srv's handler. It sets srv.TLSNextProto
// ("h2", and net/http's key for h2c) and registers a graceful GOAWAY on srv.Shutdown; srv.Protocols must
// include HTTP/2 for browsers to be offered it. Streams per connection
// are srv.HTTP2.MaxConcurrentStreams (250 if unset). Call it before srv
// serves.
func (h *Hub) ConfigureHTTP2(srv *http.Server) {
	s := &h2Server{hub: h, srv: srv, conns: map[*h2Conn]struct{}{}}
	if srv.TLSNextProto == nil {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	srv.TLSNextProto["h2"] = s.serveConn
	srv.TLSNextProto["unencrypted_http2"] = s.serveUnencrypted // h2c, if srv.Protocols has it
	srv.RegisterOnShutdown(s.shutdown)
}

// h2Server is the hub's HTTP/2 server for one http.Server.
type h2Server struct {
	hub *Hub
	srv *http.Server

	mu       sync.Mutex
	conns    map[*h2Conn]struct{}
	draining bool
}

// Settings the hub's HTTP/2 server announces. The windows are RFC 9113's
// defaults: a request body is read as the handler consumes it.
const (
	h2MaxFrame      = 16 << 10
	h2InitialWindow = 65535
	h2MaxWindow     = 1<<31 - 1
)

// serveConn serves one HTTP/2 connection on net/http's goroutine, which
// becomes its reader; it returns when the connection is done.
//
// A TLS 1.3 connection from Hub.TLSListener is taken from crypto/tls
// (tls_h2.go): the hub reads and writes its records on a socket of its
// own, and it parks as h2c does. Any other stays with crypto/tls, its
// reader blocked in tls.Conn's read.
func (s *h2Server) serveConn(srv *http.Server, tc *tls.Conn, handler http.Handler) {
	if raw, t, ok := s.hub.takeTLSH2(tc); ok {
		var park *h2Park
		t.Conn, park = s.hub.h2Parking(raw)
		s.serve(srv, t, park, &t.state, handler, false)
		return
	}
	forgetTLS(tc) // Hub.TLSListener's capture: HTTP/2 stays with crypto/tls
	st := tc.ConnectionState()
	s.serve(srv, tc, nil, &st, handler, false)
}

// serveUnencrypted serves an h2c connection (HTTP/2 without TLS, by prior
// knowledge), which net/http hands over in a tls.Conn that is not one,
// its preface already read.
func (s *h2Server) serveUnencrypted(srv *http.Server, tc *tls.Conn, handler http.Handler) {
	u, ok := tc.NetConn().(interface{ UnencryptedNetConn() net.Conn })
	if !ok {
		tc.Close()
		return
	}
	nc, park := s.hub.h2Parking(u.UnencryptedNetConn())
	s.serve(srv, nc, park, nil, handler, true)
}

// serve serves nc until it parks or ends; park is its parking (nil if
// it cannot park: TLS, other systems). Of net/http's handler for the
// connection it keeps nothing but the values of its base context:
// requests go to srv's handler as net/http's would (h2Server.serveHTTP),
// so that the connection holds no reference to net/http's copy of the
// socket (h2c: closed once the connection is the hub's) nor to the
// context net/http cancels when its goroutine returns, which a parked
// connection outlives.
func (s *h2Server) serve(srv *http.Server, nc net.Conn, park *h2Park, state *tls.ConnectionState, handler http.Handler, sawPreface bool) {
	base := context.Background()
	if b, ok := handler.(interface{ BaseContext() context.Context }); ok {
		base = context.WithoutCancel(b.BaseContext())
	}
	maxStreams := uint32(250)
	if srv.HTTP2 != nil && srv.HTTP2.MaxConcurrentStreams > 0 {
		maxStreams = uint32(srv.HTTP2.MaxConcurrentStreams)
	}
	c := &h2Conn{srv: s, nc: nc, park: park, tls: state, base: base, maxStreams: maxStreams,
		sendWin: h2InitialWindow, recvWin: h2InitialWindow, peerWin: h2InitialWindow, peerFrame: h2MaxFrame, peerTable: 4096}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		c.closeNC()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.serve(srv.MaxHeaderBytes, sawPreface)
}

// serveHTTP serves a request with srv's handler, as net/http's
// serverHandler does (DefaultServeMux if it is nil; OPTIONS * answered
// unless DisableGeneralOptionsHandler).
func (s *h2Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	handler := s.srv.Handler
	if handler == nil {
		handler = http.DefaultServeMux
	}
	if !s.srv.DisableGeneralOptionsHandler && r.RequestURI == "*" && r.Method == http.MethodOptions {
		w.Header().Set("Content-Length", "0")
		if r.ContentLength != 0 {
			io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
		}
		return
	}
	handler.ServeHTTP(w, r)
}

// shutdown starts a graceful drain of every connection: a GOAWAY, and the
// connection closes once its last stream ends (the hub ends event streams
// itself as it closes).
func (s *h2Server) shutdown() {
	s.mu.Lock()
	s.draining = true
	conns := make([]*h2Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway(http2.ErrCodeNo, false)
	}
}

// h2Conn is one HTTP/2 connection. An idle one (its reader parked or
// waiting, no handler running) keeps only what the protocol needs between
// frames: its socket, this record, its open streams, and the hpack
// decoder's table (the client's encoder refers to it); the Framer and
// the encoder are made again when needed (rest).
type h2Conn struct {
	srv         *h2Server
	nc          net.Conn
	tls         *tls.ConnectionState
	base        context.Context // the requests' parent: net/http's values, never cancelled
	park        *h2Park         // nil if the connection cannot park (h2_read.go)
	dec         *hpack.Decoder  // the client's header blocks: its table lives as long as the connection
	fr          *http2.Framer   // the reader's, reading in; nil at rest
	in          h2Input         // the reader's: bytes read, not framed yet
	inLimit     int32           // bounds an incomplete header block in in
	maxHeader   uint32          // the header list's bound (SETTINGS_MAX_HEADER_LIST_SIZE)
	maxStreams  uint32
	sawSettings bool           // the reader's: the preface's SETTINGS came
	handlers    sync.WaitGroup // request handlers and the flusher, waited for on the way out

	wmu       sync.Mutex // held while frames are encoded and written, in order
	enc       *h2Encoder // nil at rest (rest)
	peerTable uint32     // the client's SETTINGS_HEADER_TABLE_SIZE: the encoder's bound
	encUsed   bool       // an encoder wrote a header block: its successor clears the client's table
	broken    error      // a write failed: nothing more is written

	mu         sync.Mutex
	cond       *sync.Cond // made by the first wait; broadcast when windows open, bodies get data, streams end
	streams    h2Streams
	maxID      uint32 // the highest stream id the client has used
	peerFrame  uint32 // the client's SETTINGS_MAX_FRAME_SIZE
	sendWin    int64  // what the connection may still send
	recvWin    int64  // what the client may still send
	peerWin    int64  // the client's SETTINGS_INITIAL_WINDOW_SIZE
	unsent     int64  // window consumed, not yet given back
	refundConn int64  // window to give back to the client (flushRefunds)
	refunds    []h2Refund
	ready      []*h2Stream
	batched    int         // the flusher's: DATA bytes in the write it is making
	events     int32       // parked event streams
	running    int32       // request handlers running
	timer      *time.Timer // the idle timeout while there is no stream (onTimer); nil while there are
	idleSince  int64       // unix nanoseconds: when the connection last had no stream
	sweepPos   int32       // its index + 1 in the hub's heartbeat sweep (h2_sweep.go); 0 when out; guarded by h2Sweep.mu
	beatArmed  bool        // it has event streams: the hub's sweep looks at it
	flushing   bool
	goneAway   bool // a GOAWAY was sent: no new streams
	closed     bool
}

// h2Encoder is a connection's hpack encoder and the buffer it encodes
// into, made for a header block and dropped again at rest.
type h2Encoder struct {
	*hpack.Encoder
	buf bytes.Buffer
}

// broadcastLocked wakes the goroutines waiting in waitLocked. c.mu must
// be held.
func (c *h2Conn) broadcastLocked() {
	if c.cond != nil {
		c.cond.Broadcast()
	}
}

// waitLocked waits for a broadcastLocked: a window opening, a body
// getting data, a stream ending. c.mu must be held.
func (c *h2Conn) waitLocked() {
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
	c.cond.Wait()
}

// remoteAddr is the client's address, as in a request's RemoteAddr.
func (c *h2Conn) remoteAddr() string { return c.nc.RemoteAddr().String() }

// serve starts the connection: the preface (read within the server's
// ReadHeaderTimeout, with its SETTINGS), the hub's SETTINGS, then its
// reader (h2_read.go), on this goroutine until the connection parks or
// ends.
func (c *h2Conn) serve(maxHeaderBytes int, sawPreface bool) {
	hs := c.srv.srv.ReadHeaderTimeout
	if hs <= 0 {
		hs = 10 * time.Second
	}
	c.nc.SetReadDeadline(time.Now().Add(hs))
	if !sawPreface {
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c.nc, preface); err != nil || string(preface) != http2.ClientPreface {
			c.close()
			return
		}
	}
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	c.dec = hpack.NewDecoder(4096, func(hpack.HeaderField) {}) // the Framer sets its own while it reads a block
	c.maxHeader = uint32(maxHeaderBytes)
	// A header block the Framer would take: up to twice the list's bound
	// encoded, in frames of the largest size.
	c.inLimit = int32(2*maxHeaderBytes + 2*(9+h2MaxFrame))
	if c.write(func(fr *http2.Framer) error {
		return fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.maxStreams},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(maxHeaderBytes)},
			http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	}) != nil {
		c.close()
		return
	}
	c.mu.Lock()
	c.armIdleLocked()
	c.mu.Unlock()
	c.run()
}

// process handles one frame read. Errors are http2.StreamError (the
// stream is reset) and http2.ConnectionError (the connection ends).
func (c *h2Conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return c.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		idle := f.StreamID > c.maxID
		st := c.streams.get(f.StreamID)
		c.mu.Unlock()
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if st != nil {
			c.closeStream(st, errStreamReset)
		}
		return nil
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil // priorities are advisory; every stream is served alike
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // a client cannot push
	case *http2.GoAwayFrame:
		return nil // the client closes the connection when it is done with it
	}
	return nil // unknown frame types are ignored (RFC 9113, 5.5)
}

func (c *h2Conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	var tableSize uint32
	var sawTable bool
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch s.ID {
		case http2.SettingInitialWindowSize:
			// Applies to every stream's window, by the difference (6.9.2).
			delta := int64(s.Val) - c.peerWin
			c.peerWin = int64(s.Val)
			for st := range c.streams.all() {
				st.sendWin += delta
				if st.sendWin > h2MaxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.windowOpenedLocked()
		case http2.SettingMaxFrameSize:
			c.peerFrame = s.Val
		case http2.SettingHeaderTableSize:
			tableSize, sawTable = s.Val, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.write(func(fr *http2.Framer) error {
		if sawTable {
			c.peerTable = tableSize
			if c.enc != nil {
				c.enc.SetMaxDynamicTableSizeLimit(tableSize)
			}
		}
		return fr.WriteSettingsAck()
	})
}

func (c *h2Conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		c.sendWin += int64(f.Increment)
		if c.sendWin > h2MaxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.windowOpenedLocked()
		return nil
	}
	if f.StreamID > c.maxID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	st := c.streams.get(f.StreamID)
	if st == nil {
		return nil // closed: a late update
	}
	st.sendWin += int64(f.Increment)
	if st.sendWin > h2MaxWindow {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	c.windowOpenedLocked()
	return nil
}

// windowOpenedLocked wakes the writers waiting for flow control: request
// handlers, and parked streams with data held back. c.mu must be held.
func (c *h2Conn) windowOpenedLocked() {
	c.broadcastLocked()
	for st := range c.streams.all() {
		if st.waitWin {
			st.waitWin = false
			c.scheduleLocked(st)
		}
	}
}

// write encodes frames with fn and writes them to the connection at once,
// within the hub's write timeout. A failed write breaks the connection:
// it is closed, and its reader ends it.
func (c *h2Conn) write(fn func(*http2.Framer) error) error {
	c.wmu.Lock()
	err := c.writeLocked(fn)
	c.wmu.Unlock()
	c.closeIfDrained()
	return err
}

// h2Out is a buffer frames are encoded into before one write; pooled, so
// that an idle connection holds none.
type h2Out struct {
	buf bytes.Buffer
	fr  *http2.Framer
}

var h2Outs = sync.Pool{New: func() any {
	o := &h2Out{}
	o.fr = http2.NewFramer(&o.buf, nil)
	return o
}}

func (c *h2Conn) writeLocked(fn func(*http2.Framer) error) error {
	if c.broken != nil {
		return c.broken
	}
	o := h2Outs.Get().(*h2Out)
	defer func() {
		if o.buf.Cap() <= 64<<10 {
			o.buf.Reset()
			h2Outs.Put(o)
		}
	}()
	if err := fn(o.fr); err != nil {
		return err
	}
	if o.buf.Len() == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.hub.cfg.WriteTimeout))
	_, err := c.nc.Write(o.buf.Bytes())
	if err != nil {
		c.broken = err
		c.closeNC()
		return err
	}
	return nil
}

// writeHeaders encodes hdr as a header block (with :status first) and
// writes it as HEADERS and as many CONTINUATIONs as the client's frame
// size needs. wmu must be held: the encoder's state follows the frames.
func (c *h2Conn) headerBlock(fr *http2.Framer, id uint32, status int, hdr http.Header, end bool) error {
	enc := c.encoder()
	enc.buf.Reset()
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusText(status)})
	encodeHeaders(enc.Encoder, hdr)
	block := enc.buf.Bytes()
	c.mu.Lock()
	max := int(c.peerFrame)
	c.mu.Unlock()
	first := true
	for first || len(block) > 0 {
		n := min(len(block), max)
		frag := block[:n]
		block = block[n:]
		var err error
		if first {
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: len(block) == 0})
		} else {
			err = fr.WriteContinuation(id, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
		first = false
	}
	if enc.buf.Cap() > 4<<10 {
		enc.buf = bytes.Buffer{} // kept only while small
	}
	return nil
}

// encoder returns the connection's hpack encoder, made if the connection
// was at rest. The client's decoder keeps the table of the encoder that
// was dropped: a new one (past the first) starts its first block with
// two table size updates, to 0 and back (RFC 7541, 4.2 and 6.3), which
// empty it, so that both tables start empty again. wmu must be held.
func (c *h2Conn) encoder() *h2Encoder {
	if c.enc != nil {
		return c.enc
	}
	e := &h2Encoder{}
	e.Encoder = hpack.NewEncoder(&e.buf)
	e.SetMaxDynamicTableSizeLimit(c.peerTable)
	if c.encUsed {
		size := e.MaxDynamicTableSize()
		e.SetMaxDynamicTableSize(0)
		e.SetMaxDynamicTableSize(size)
	}
	c.enc, c.encUsed = e, true
	return e
}

// resetStream sends RST_STREAM for id and forgets the stream.
func (c *h2Conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	st := c.streams.get(id)
	c.mu.Unlock()
	if st != nil {
		c.closeStream(st, errStreamReset)
	}
	c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, code) })
}

// goAway sends GOAWAY with code. An error (now) closes the connection at
// once, from the reader's goroutine, the only one that may call it so; a
// graceful one when its last stream ends.
func (c *h2Conn) goAway(code http2.ErrCode, now bool) {
	c.mu.Lock()
	last := c.maxID
	c.goneAway = true
	c.mu.Unlock()
	c.write(func(fr *http2.Framer) error { return fr.WriteGoAway(last, code, nil) })
	if now {
		c.lingerClose()
	}
}

// goAwayLinger bounds how long a connection closed for an error keeps
// reading, and goAwayDrain how much, so that the client gets the GOAWAY.
const (
	goAwayLinger = time.Second
	goAwayDrain  = 64 << 10
)

// lingerClose closes the connection after an error's GOAWAY without
// losing it: closing a socket with unread bytes in it sends a TCP reset,
// and a reset makes the client's kernel drop what it had not read yet, the
// GOAWAY included. So the write side is shut first where it can be (the
// client sees the end after the GOAWAY), and what the client still sends is read and
// dropped until it closes, for at most goAwayLinger and goAwayDrain
// bytes. Only the reader's goroutine calls it.
func (c *h2Conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	// Without CloseWrite (a connection that is not TCP's), the client,
	// having read the GOAWAY, closes first: the read ends then.
	c.nc.SetReadDeadline(time.Now().Add(goAwayLinger))
	io.CopyN(io.Discard, c.nc, goAwayDrain)
	c.closeNC()
}

// close ends the connection, from its reader: its streams end (event streams as the
// client's leaving), then it waits for its handlers and its flusher.
func (c *h2Conn) close() {
	c.mu.Lock()
	c.closed = true
	streams := slices.Collect(c.streams.all())
	if c.timer != nil {
		c.timer.Stop()
	}
	c.broadcastLocked()
	c.mu.Unlock()
	c.closeNC()
	c.in.release()
	c.in = h2Input{}
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
	for _, st := range streams { // their requests' contexts are cancelled
		c.closeStream(st, errConnClosed)
	}
	c.handlers.Wait()
	c.releaseOrphans()
}

var (
	errStreamReset = errors.New("hub: HTTP/2 stream reset")
	errConnClosed  = errors.New("hub: HTTP/2 connection closed")
)
