package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
	"unicode/utf8"
)

// DefaultMaxEventSize is the limit a [Reader] puts on one event when its
// MaxEventSize is zero.
const DefaultMaxEventSize = 16 << 20

// ErrEventTooLarge is matched (with errors.Is) by the error a [Reader]
// returns when an event or a single line outgrows its MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event too large")

// An EventSizeError reports an event larger than the reader's limit.
type EventSizeError struct {
	Limit int // the MaxEventSize in force
}

func (e *EventSizeError) Error() string {
	return fmt.Sprintf("sse: event larger than %d bytes (raise MaxEventSize to accept it)", e.Limit)
}

// Is makes errors.Is(err, ErrEventTooLarge) true.
func (e *EventSizeError) Is(target error) bool { return target == ErrEventTooLarge }

// A Reader parses an event stream exactly as the WHATWG HTML standard
// (§9.2.6) tells browsers to:
//
//   - CRLF, CR and LF each end a line, also when a CR ends one read and the
//     LF starts the next; one leading UTF-8 BOM is skipped, even when split
//     across reads; invalid UTF-8 becomes U+FFFD;
//   - a field name ends at the first colon and exactly one space after it is
//     dropped; a line without a colon is a field with an empty value; a line
//     starting with a colon is a comment; unknown fields are ignored;
//   - a blank line dispatches the event if at least one "data:" line was
//     seen, and in any case commits the pending id as the last event ID; an
//     id holding NUL is ignored; "retry:" takes ASCII digits only;
//   - an event cut off by the end of the stream is discarded.
//
// Lines have no length limit of their own: one event (or one line) may grow
// up to MaxEventSize bytes, and a larger one fails with an [EventSizeError].
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// MaxEventSize caps the size of one event: its data plus the line being
	// read. Zero means DefaultMaxEventSize; a negative value means no limit.
	// Set it before the first call to Next.
	MaxEventSize int

	// OnComment, if not nil, is called with the text after the colon of
	// each comment line, as soon as the line is read, in stream order.
	OnComment func(text string)

	r       io.Reader
	buf     []byte // read buffer; live bytes are buf[pos:end]
	pos     int
	end     int
	scanned int   // buf[pos:scanned] holds no CR or LF
	nextCR  int   // index of the first CR at or after scanned, or -1 if none before crTo
	crTo    int   // buf[:crTo] has been searched for CRs
	err     error // sticky read error, returned once buf is drained
	bomDone bool
	skipLF  bool // the last line ended with a CR; drop one LF that follows

	data     []byte // data buffer: each data line plus LF
	first    string // the block's first data line, kept as a string
	lines    int    // data lines in the block; data holds them once lines > 1
	typ      string // event type buffer
	lastTyp  string // the previous event type, reused to save allocations
	idBuf    string // last event ID buffer (pending, committed at dispatch)
	lastID   string // last event ID string (committed)
	retry    time.Duration
	retrySet bool          // a valid "retry:" came, so retry is what it asked for, zero included
	evRetry  time.Duration // retry set within the current block
	evHas    bool          // the current block had a valid "retry:", so evRetry holds it
}

// NewReader returns a Reader parsing the event stream r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

const minReadSize = 4 << 10

// LastEventID returns the last event ID committed so far: the value a
// browser would send as Last-Event-ID when reconnecting.
func (r *Reader) LastEventID() string { return r.lastID }

// SetLastEventID sets the last event ID, as if the stream had carried it
// before. Use it to resume: a new Reader for a reconnected stream starts
// from the id the previous one ended with.
func (r *Reader) SetLastEventID(id string) { r.lastID, r.idBuf = id, id }

// Retry returns the reconnection delay the stream asked for with its most
// recent valid "retry:" field, or zero if it sent none; "retry: 0" asks
// for zero too (reconnect at once), which [Event.ZeroRetry] tells apart on
// the event that carried it, and which [Client] honours.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next returns the next dispatched event. At the end of the stream it
// returns io.EOF (an event cut off by the end is discarded); a read error
// is returned as is, after the events before it.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.line()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if e, ok := r.dispatch(); ok {
				return e, nil
			}
			continue
		}
		if err := r.field(line); err != nil {
			return Event{}, err
		}
	}
}

// Events returns an iterator over the stream's events. It stops after the
// last event at io.EOF, and yields any other error once, as its last value.
func (r *Reader) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			e, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Read returns an iterator over the events of the stream r, parsed by a
// Reader with default settings. See [Reader.Events].
func Read(r io.Reader) iter.Seq2[Event, error] {
	return NewReader(r).Events()
}

func (r *Reader) limit() int {
	switch {
	case r.MaxEventSize == 0:
		return DefaultMaxEventSize
	case r.MaxEventSize < 0:
		return int(^uint(0) >> 1)
	}
	return r.MaxEventSize
}

// line returns the next complete line without its line end. The slice is
// valid until the next call.
func (r *Reader) line() ([]byte, error) {
	for {
		if r.skipLF && r.pos < r.end {
			r.skipLF = false
			if r.buf[r.pos] == '\n' {
				r.pos++
				r.scanned = max(r.scanned, r.pos)
			}
		}
		if !r.bomDone && !r.checkBOM() {
			if err := r.fill(); err != nil {
				return nil, err
			}
			continue
		}
		if i := r.findLineEnd(); i >= 0 {
			line := r.buf[r.pos:i]
			if len(line)+r.dataLen() > r.limit() {
				return nil, &EventSizeError{Limit: r.limit()}
			}
			if r.buf[i] == '\r' {
				if i+1 < r.end {
					if r.buf[i+1] == '\n' {
						i++
					}
				} else {
					r.skipLF = true
				}
			}
			r.pos = i + 1
			r.scanned = r.pos
			return line, nil
		}
		if r.end-r.pos+r.dataLen() > r.limit() {
			return nil, &EventSizeError{Limit: r.limit()}
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// findLineEnd returns the index in buf of the first CR or LF at or after
// pos, or -1. Bytes already known to hold neither are not scanned again.
//
// Streams rarely use CR, so the position of the next CR is remembered
// across lines: a buffer without any is searched for one only once.
func (r *Reader) findLineEnd() int {
	if r.nextCR < r.scanned && (r.nextCR >= 0 || r.crTo < r.end) {
		r.nextCR = -1
		if j := bytes.IndexByte(r.buf[r.scanned:r.end], '\r'); j >= 0 {
			r.nextCR = r.scanned + j
		}
		r.crTo = r.end
	}
	i := r.end
	if j := bytes.IndexByte(r.buf[r.scanned:r.end], '\n'); j >= 0 {
		i = r.scanned + j
	}
	if r.nextCR >= 0 && r.nextCR < i {
		i = r.nextCR
	}
	if i == r.end {
		r.scanned = r.end
		return -1
	}
	return i
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// checkBOM skips a BOM at the very start of the stream. It returns false
// when more bytes are needed to decide.
func (r *Reader) checkBOM() bool {
	have := r.buf[r.pos:r.end]
	if len(have) < len(bom) && r.err == nil && bytes.HasPrefix(bom, have) {
		return false
	}
	if bytes.HasPrefix(have, bom) {
		r.pos += len(bom)
		r.scanned = r.pos
	}
	r.bomDone = true
	return true
}

// fill reads more bytes into buf, compacting or growing it as needed. It
// returns the sticky read error once no further bytes can arrive.
func (r *Reader) fill() error {
	if r.err != nil {
		return r.err
	}
	if r.pos > 0 {
		n := copy(r.buf, r.buf[r.pos:r.end])
		r.scanned -= r.pos
		r.pos, r.end = 0, n
	}
	r.nextCR, r.crTo = -1, 0 // positions moved: search again
	if r.end == len(r.buf) {
		size := max(2*len(r.buf), minReadSize)
		if r.end == 0 && len(r.buf) > 64<<10 {
			size = minReadSize // drop a buffer grown for one huge line
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range 100 {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	r.err = io.ErrNoProgress
	return r.err
}

// field processes one non-blank line.
func (r *Reader) field(line []byte) error {
	if !utf8.Valid(line) {
		line = toValidUTF8(line)
	}
	if line[0] == ':' {
		if r.OnComment != nil {
			r.OnComment(string(line[1:]))
		}
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if r.dataLen()+len(value)+1 > r.limit() {
			return &EventSizeError{Limit: r.limit()}
		}
		// Most events have one data line: keep it as the string it will
		// be, and copy into the data buffer only when a second one comes.
		switch r.lines {
		case 0:
			r.first = string(value)
		case 1:
			r.data = append(r.data, r.first...)
			r.data = append(r.data, '\n')
			r.first = ""
			fallthrough
		default:
			r.data = append(r.data, value...)
			r.data = append(r.data, '\n')
		}
		r.lines++
	case "event":
		if string(value) == r.lastTyp {
			r.typ = r.lastTyp
		} else {
			r.typ = string(value)
			r.lastTyp = r.typ
		}
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.idBuf {
			r.idBuf = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			r.retry = time.Duration(ms) * time.Millisecond
			r.evRetry, r.evHas, r.retrySet = r.retry, true, true
		}
	}
	return nil
}

// dataLen is the size of the data buffer, as the limit counts it.
func (r *Reader) dataLen() int {
	if r.lines == 1 {
		return len(r.first) + 1
	}
	return len(r.data)
}

// dispatch ends the current block. It commits the last event ID and
// returns the event if the block had data.
func (r *Reader) dispatch() (Event, bool) {
	r.lastID = r.idBuf
	lines := r.lines
	r.lines = 0
	if lines == 0 {
		r.typ, r.evRetry, r.evHas = "", 0, false
		return Event{}, false
	}
	e := Event{ID: r.lastID, Type: r.typ, Data: r.first, Retry: r.evRetry, ZeroRetry: r.evHas && r.evRetry == 0}
	if lines > 1 {
		e.Data = string(r.data[:len(r.data)-1])
	}
	r.typ, r.evRetry, r.evHas, r.first = "", 0, false, ""
	if cap(r.data) > 64<<10 {
		r.data = nil // do not pin the memory of one huge event
	} else {
		r.data = r.data[:0]
	}
	return e, true
}

// parseDigits parses a non-empty run of ASCII digits. It fails on any other
// byte and on values too large for a time.Duration of milliseconds.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > int64(time.Duration(1<<63-1)/time.Millisecond) {
			return 0, false
		}
	}
	return n, true
}

// toValidUTF8 replaces invalid UTF-8 in b the way the WHATWG "UTF-8 decode"
// algorithm does: each maximal ill-formed subsequence becomes one U+FFFD.
func toValidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[:size]...)
			b = b[size:]
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		b = b[maximalSubpart(b):]
	}
	return out
}

// maximalSubpart returns the length of the longest prefix of b that starts
// a valid UTF-8 sequence but does not complete one (at least 1).
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
