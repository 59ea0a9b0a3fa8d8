package hub

import (
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// The reader of an HTTP/2 connection. Bytes are read into the
// connection's input (h2Input) and handed to x/net's Framer only once a
// whole frame is buffered (a whole header block, for HEADERS and its
// CONTINUATIONs): the Framer never waits for bytes, so the reader may
// stop between any two reads and lose nothing.
//
// Where a connection can park (h2c on Linux, h2_park_linux.go), a read
// that would block ends the reader's goroutine: the connection waits in
// the hub's poller with no goroutine, and the poller starts a reader
// again when bytes arrive (or the client leaves). Elsewhere (TLS, other
// systems) the reader blocks in its read, one goroutine per connection.
//
// Between the socket and the input sits the record layer: for h2c the
// identity (the socket's bytes are the frames'); for TLS 1.3 taken from
// crypto/tls, the hub's own (tls_h2.go), which opens records from bytes
// read without waiting (readNow) as the plain socket gives them, so such
// a connection parks too; otherwise crypto/tls's tls.Conn, which reads
// only by blocking, so the connection does not park.

var errParked = errors.New("hub: HTTP/2 connection parked")

// h2Input is what the reader has read and not framed yet: buf[off:].
// Only the running reader touches it.
type h2Input struct {
	buf []byte
	off int
	// scan is how far whole has looked: buf[off:off+scan] are whole frames
	// of a header block not ended yet, so that each read looks only at
	// the frames it brought. Rescanning the block from its start cost a
	// client's block of 18,000 empty CONTINUATIONs, sent one a read, 6.5s
	// of the hub's CPU.
	scan    int
	scanned int      // frame headers whole looked at, ever (tests)
	idle    [16]byte // what a blocking read waits with while nothing is buffered
}

// h2InBuf is the size of the buffer a running reader reads into: a
// frame of the largest size the hub allows, its header, and more.
const h2InBuf = 32 << 10

var h2InBufs = sync.Pool{New: func() any { b := make([]byte, 0, h2InBuf); return &b }}

// Read serves the Framer from the buffered bytes.
func (in *h2Input) Read(p []byte) (int, error) {
	if in.off == len(in.buf) {
		return 0, io.ErrUnexpectedEOF // never: the Framer reads whole frames only
	}
	n := copy(p, in.buf[in.off:])
	in.off += n
	return n, nil
}

func (in *h2Input) buffered() int { return len(in.buf) - in.off }

// space returns the room left to read into: the unread bytes are moved
// to the front of a pooled buffer, grown only for a header block larger
// than it (bounded by whole's limit).
func (in *h2Input) space() []byte {
	if cap(in.buf) < h2InBuf {
		pb := h2InBufs.Get().(*[]byte)
		in.buf = append((*pb)[:0], in.buf[in.off:]...)
		in.off = 0
	}
	if in.off > 0 {
		n := copy(in.buf, in.buf[in.off:])
		in.buf, in.off = in.buf[:n], 0
	}
	if len(in.buf) == cap(in.buf) {
		in.buf = slices.Grow(in.buf, h2InBuf)
	}
	return in.buf[len(in.buf):cap(in.buf)]
}

// release lets go of the read buffer, as the reader parks or ends: an
// idle connection keeps only the bytes of a frame not yet whole, in a
// slice of their size. A buffer grown past the pooled size for a header
// block (bounded by whole's limit) is kept while the block is incomplete:
// copying it on every park and wake made a client trickling the block
// cost the hub a copy of all of it per read.
func (in *h2Input) release() {
	if in.buffered() > 0 && cap(in.buf) > h2InBuf {
		n := copy(in.buf, in.buf[in.off:])
		in.buf, in.off = in.buf[:n], 0
		return
	}
	var rest []byte
	if in.buffered() > 0 {
		rest = slices.Clone(in.buf[in.off:])
	}
	if cap(in.buf) == h2InBuf {
		b := in.buf[:0]
		h2InBufs.Put(&b)
	}
	in.buf, in.off = rest, 0
}

// whole reports whether the Framer can read its next frame from what is
// buffered without waiting for more: a whole frame, a whole header block
// (HEADERS, then CONTINUATIONs up to END_HEADERS: the Framer decodes it
// in one call), or a frame the Framer refuses on its header alone (too
// large, out of order). An incomplete header block past limit bytes is a
// connection error: the client floods the hub with CONTINUATIONs.
func (in *h2Input) whole(limit int) (bool, error) {
	b := in.buf[in.off+in.scan:]
	block := in.scan > 0 // within a header block
	for len(b) >= 9 {
		in.scanned++
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		t, flags := http2.FrameType(b[3]), http2.Flags(b[4])
		if n > h2MaxFrame || block != (t == http2.FrameContinuation) {
			in.scan = 0
			return true, nil // refused by the Framer
		}
		if len(b) < 9+n {
			break
		}
		if (t != http2.FrameHeaders && t != http2.FrameContinuation) || flags.Has(http2.FlagHeadersEndHeaders) {
			in.scan = 0 // the Framer reads from off: the block, or this frame
			return true, nil
		}
		block = true
		in.scan += 9 + n
		b = b[9+n:]
	}
	if in.buffered() > limit {
		return false, http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return false, nil
}

// newFramer makes the reader's Framer, reading from the input, with the
// connection's hpack decoder (its table lives as long as the connection;
// the Framer only while the reader runs: rest).
func (c *h2Conn) newFramer() {
	fr := http2.NewFramer(io.Discard, &c.in)
	fr.SetMaxReadFrameSize(h2MaxFrame)
	fr.ReadMetaHeaders = c.dec
	fr.MaxHeaderListSize = c.maxHeader
	c.fr = fr
}

// rest drops what a connection about to wait for its client (its reader
// parking, or blocking in a read with nothing buffered) does not need
// while it waits: the Framer (its read buffer, its last frame), which
// has no state between whole frames and is made again by the next read,
// and the decoder's hold on the Framer's buffer. The hpack decoder keeps
// the last bytes it was given (its buf) until it is given more, which
// pinned the last HEADERS frame read, up to 16 KB, for the connection's
// life: it is given one more field, the static table's first, read as a
// header block of its own (emitted to the decoder's no-op emit func; no
// table changes), and so keeps a pointer to a static byte. Only the
// reader calls it, between frames (whole hands the Framer only whole
// header blocks, so the decoder is between blocks too).
func (c *h2Conn) rest() { c.dropFramer() }

// dropFramer drops the reader's Framer, if it has one, and the decoder's
// hold on its buffer (rest).
func (c *h2Conn) dropFramer() {
	if c.fr == nil {
		return
	}
	c.fr = nil
	c.dec.Write(h2Unpin)
	c.dec.Close()
}

// h2Unpin is a header block of one field, indexed in the static table
// (RFC 7541, 6.1: index 1, ":authority").
var h2Unpin = []byte{0x81}

// dropEncoder drops the hpack encoder once no handler runs (only
// handlers write header blocks): an idle connection does not keep the
// table of the headers it sent. encoder makes one again, emptying the
// client's copy of the table.
func (c *h2Conn) dropEncoder() {
	c.wmu.Lock()
	c.mu.Lock()
	if c.running == 0 {
		c.enc = nil
	}
	c.mu.Unlock()
	c.wmu.Unlock()
}

// run reads and processes frames until the connection parks (the
// goroutine ends; the poller runs it again when bytes arrive) or ends
// (it is closed here). One run at a time: serve starts the first, the
// poller (or closeNC) each after a park.
func (c *h2Conn) run() {
	if c.read() == errParked {
		return
	}
	c.close()
}

// read reads and processes frames until the connection parks
// (errParked) or ends (any other error).
func (c *h2Conn) read() error {
	for {
		ok, err := c.in.whole(int(c.inLimit))
		if err == nil && !ok {
			if err = c.readMore(); err == nil {
				continue
			}
			if err == errParked {
				return err
			}
		}
		var f http2.Frame
		if err == nil {
			if c.fr == nil {
				c.newFramer()
			}
			f, err = c.fr.ReadFrame()
		}
		if err == nil && !c.sawSettings {
			// The preface's SETTINGS comes first (RFC 9113, 3.4).
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				err = http2.ConnectionError(http2.ErrCodeProtocol)
			}
			c.nc.SetReadDeadline(time.Time{})
			c.sawSettings = true
		}
		if err == nil {
			err = c.process(f)
			c.flushRefunds()
		}
		var se http2.StreamError
		var ce http2.ConnectionError
		switch {
		case err == nil:
		case errors.As(err, &se):
			c.mu.Lock()
			if se.StreamID%2 == 1 && se.StreamID > c.maxID {
				c.maxID = se.StreamID // a refused new stream still takes its id
			}
			c.mu.Unlock()
			c.resetStream(se.StreamID, se.Code)
		case errors.As(err, &ce):
			c.goAway(http2.ErrCode(ce), true)
			return err
		case errors.Is(err, http2.ErrFrameTooLarge):
			c.goAway(http2.ErrCodeFrameSize, true)
			return err
		default: // the connection failed or closed
			return err
		}
		if f != nil && f.Header().Length > 4<<10 {
			c.dropFramer() // its read buffer keeps the largest frame's size
		}
	}
}

// readMore reads what the connection has into the input. A connection
// that can park, past its preface's SETTINGS (bounded by a read
// deadline, which needs a blocked read), parks when nothing has come:
// errParked. Otherwise the read blocks; while nothing is buffered (the
// connection is idle) it waits with a few bytes of room and no read
// buffer (crypto/tls keeps the rest of a record in its own; the hub's
// own records need room for a whole one, and so do not wait so). Bytes read
// come back with a nil error, whatever followed them; the error comes
// with the next read.
func (c *h2Conn) readMore() error {
	var n int
	var err error
	if c.park != nil && c.sawSettings {
		n, err = c.readNow()
		if err != errWouldBlock {
			return c.in.took(n, err)
		}
		c.in.release()
		c.rest()
		if c.park.park(c) {
			return errParked
		}
		// The poller is closing: read as elsewhere.
	}
	if _, records := c.nc.(*tlsRecordConn); c.in.buffered() == 0 && !records {
		c.in.release()
		c.rest()
		n, err = c.nc.Read(c.in.idle[:])
		if n > 0 {
			c.in.space()
			c.in.buf = append(c.in.buf, c.in.idle[:n]...)
			return nil
		}
		return c.in.took(0, err)
	}
	n, err = c.nc.Read(c.in.space())
	return c.in.took(n, err)
}

// took adds n bytes read into space to the input. Bytes come back with
// a nil error; a read of nothing with its error.
func (in *h2Input) took(n int, err error) error {
	if n > 0 {
		in.buf = in.buf[:len(in.buf)+n]
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// closeNC closes the socket. A parked connection has no reader to see
// it close: one is started, which finds the socket closed and ends the
// connection.
func (c *h2Conn) closeNC() {
	parked := c.park.stop()
	c.nc.Close()
	if parked {
		go c.run()
	}
}
