package sse

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// An Event is one server-sent event.
//
// On the wire an Event becomes an optional "event:" line, an optional "id:"
// line, an optional "retry:" line, one "data:" line per line of Data, and a
// blank line. An Event always carries at least one "data:" line, so it is
// always dispatched by the receiver, even when Data is empty.
type Event struct {
	// ID is the event's id. The encoder omits the "id:" line when ID is
	// empty. It must not contain CR, LF or NUL.
	//
	// The parser sets ID to the last event ID in force when the event was
	// dispatched, as browsers do: an event without an "id:" line inherits
	// the id of an earlier one.
	ID string

	// Type is the event type, "event:" on the wire. Empty means the
	// default type, which receivers call "message". It must not contain
	// CR, LF or NUL.
	Type string

	// Data is the payload. CR, LF and CRLF each end a line; each line is
	// sent as its own "data:" line. The parser returns line ends as LF.
	Data string

	// Retry, when positive, asks the receiver to wait this long before
	// reconnecting. It is sent in whole milliseconds. The parser sets it
	// when the event's block carried a valid "retry:" line.
	Retry time.Duration

	// ZeroRetry sends "retry: 0" when Retry is zero: it asks the receiver
	// to reconnect at once from now on, which a zero Retry, meaning none,
	// cannot say. A positive Retry is sent as it is either way. The parser
	// sets ZeroRetry when the event's block carried "retry: 0" (as its
	// last valid "retry:" line).
	ZeroRetry bool
}

// Errors reported by [Event.Validate] and by everything that encodes events.
var (
	// ErrInvalidID means an id holds CR, LF or NUL. Sent as is it would
	// let its author inject fields or whole events.
	ErrInvalidID = errors.New("sse: event id contains CR, LF or NUL")
	// ErrInvalidType means an event type holds CR, LF or NUL.
	ErrInvalidType = errors.New("sse: event type contains CR, LF or NUL")
	// ErrInvalidRetry means a negative retry delay.
	ErrInvalidRetry = errors.New("sse: negative retry delay")
)

// Validate reports whether e can be encoded without changing its meaning.
func (e Event) Validate() error {
	if !validField(e.ID) {
		return ErrInvalidID
	}
	if !validField(e.Type) {
		return ErrInvalidType
	}
	if e.Retry < 0 {
		return ErrInvalidRetry
	}
	return nil
}

// validField reports whether s can be sent as the value of a single field
// line: any CR or LF would end the line early, and browsers ignore ids
// holding NUL.
func validField(s string) bool {
	return strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, 0) < 0
}

// AppendEvent appends the wire form of e to dst and returns the extended
// slice. It returns dst unchanged and an error from [Event.Validate] if e is
// invalid. It allocates only when dst lacks capacity.
func AppendEvent(dst []byte, e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Retry > 0 || e.ZeroRetry {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, e.Retry.Milliseconds(), 10)
		dst = append(dst, '\n')
	}
	dst = appendLines(dst, "data", e.Data)
	return append(dst, '\n'), nil
}

// AppendComment appends text as comment lines (": text") to dst. Every line
// of a multi-line text becomes its own comment line; an empty text is a bare
// ":" line, the smallest heartbeat. Comments are ignored by receivers but
// keep proxies and load balancers from closing an idle stream.
func AppendComment(dst []byte, text string) []byte {
	if text == "" {
		return append(dst, ":\n"...)
	}
	return appendLines(dst, "", text)
}

// appendLines writes one "name: line" per line of value, splitting on CR, LF
// and CRLF. An empty line is written as "name:" with no trailing space.
func appendLines(dst []byte, name, value string) []byte {
	for {
		i := lineEnd(value)
		line := value
		if i >= 0 {
			line = value[:i]
		}
		dst = append(dst, name...)
		dst = append(dst, ':')
		if line != "" {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if i < 0 {
			return dst
		}
		if value[i] == '\r' && i+1 < len(value) && value[i+1] == '\n' {
			i++
		}
		value = value[i+1:]
	}
}

// A Frame is an encoded event, ready to be written to any number of streams
// without being encoded again. Frames are immutable and safe to share
// between goroutines. The zero Frame is empty and writes nothing.
type Frame struct {
	b []byte
}

// NewFrame encodes e once. It returns an error from [Event.Validate] if e is
// invalid.
func NewFrame(e Event) (Frame, error) {
	b, err := AppendEvent(make([]byte, 0, encodedLenBound(e)), e)
	if err != nil {
		return Frame{}, err
	}
	return Frame{b: b}, nil
}

// encodedLenBound is at least the length of e's wire form, so that a
// frame is built with one allocation: every CR or LF in the data may start
// a line of its own, costing up to "data: " and a newline.
func encodedLenBound(e Event) int {
	lines := 1 + strings.Count(e.Data, "\n") + strings.Count(e.Data, "\r")
	return len("event: \n") + len(e.Type) + len("id: \n") + len(e.ID) + len("retry: 9223372036854\n") +
		len(e.Data) + lines*len("data: \n") + 1
}

// CommentFrame returns a frame holding text as comment lines. An empty
// text makes the smallest heartbeat, ":\n", the one a [Stream] sends.
func CommentFrame(text string) Frame {
	return Frame{b: AppendComment(nil, text)}
}

// OpeningFrame returns the first bytes a stream sends, at once: a block
// with only a "retry:" line if retry is positive (it sets the client's
// reconnection delay and dispatches nothing), else a bare comment. Some
// proxies hold the response head back until body bytes arrive; these
// tell them, and the client, that the stream is live.
func OpeningFrame(retry time.Duration) Frame {
	if retry <= 0 {
		return CommentFrame("")
	}
	b := strconv.AppendInt([]byte("retry: "), retry.Milliseconds(), 10)
	return Frame{b: append(b, "\n\n"...)}
}

// SetHeaders sets the response headers an event stream needs:
// Content-Type text/event-stream, Cache-Control no-cache (no cache or
// proxy may store or transform it), X-Accel-Buffering no (nginx passes
// each event on at once instead of buffering), and no Content-Length.
// [NewStream] sets them; a server that writes its responses itself (one
// that took a connection over from net/http) sets them too.
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}

// Bytes returns the frame's wire form, without copying. The slice is the
// frame's own: the caller must not modify it.
func (f Frame) Bytes() []byte { return f.b }

// Len returns the frame's size in bytes.
func (f Frame) Len() int { return len(f.b) }

// AppendTo appends the frame's bytes to dst.
func (f Frame) AppendTo(dst []byte) []byte { return append(dst, f.b...) }

// String returns the frame's wire form.
func (f Frame) String() string { return string(f.b) }

// WriteTo writes the frame to w.
func (f Frame) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(f.b)
	return int64(n), err
}

// An Encoder writes events to an io.Writer, reusing one buffer so that
// encoding allocates nothing in the steady state. An Encoder is not safe for
// concurrent use. It does not flush; wrap a buffered writer yourself or use
// a [Stream] in an HTTP handler.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w, buf: make([]byte, 0, 512)}
}

// Encode writes e to the underlying writer. An invalid event writes nothing
// and returns the error from [Event.Validate].
func (enc *Encoder) Encode(e Event) error {
	b, err := AppendEvent(enc.buf[:0], e)
	if err != nil {
		return err
	}
	enc.buf = b
	_, err = enc.w.Write(b)
	return err
}

// Comment writes text as comment lines.
func (enc *Encoder) Comment(text string) error {
	enc.buf = AppendComment(enc.buf[:0], text)
	_, err := enc.w.Write(enc.buf)
	return err
}

// lineEnd returns the index of the first CR or LF in s, or -1. It searches
// for CR only before the first LF, so splitting a long text into lines scans
// each byte a bounded number of times (IndexAny would go byte by byte).
func lineEnd(s string) int {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return strings.IndexByte(s, '\r')
	}
	if j := strings.IndexByte(s[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
