package bolt

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/herd-sse/herd/hub"
)

// An event is stored as its position's 8-byte big-endian key and this
// value:
//
//	version  byte (1)
//	flags    byte (1: close, 2: no data, 4: private)
//	time     uvarint, Unix nanoseconds
//	retry    uvarint, milliseconds
//	type     uvarint length, bytes
//	topics   uvarint count, then each as uvarint length, bytes
//	data     the rest
//
// The header comes before the data so that retention and stats can read it
// without touching the data.

const (
	codecVersion = 1
	flagClose    = 1
	flagNoData   = 2
	flagPrivate  = 4
)

func key(p hub.Pos) []byte { return binary.BigEndian.AppendUint64(nil, uint64(p)) }

func posOf(k []byte) hub.Pos { return hub.Pos(binary.BigEndian.Uint64(k)) }

func encode(e hub.Event) []byte {
	n := 24 + len(e.Type) + len(e.Data)
	for _, t := range e.Topics {
		n += len(t) + 2
	}
	b := make([]byte, 0, n)
	var flags byte
	if e.Close {
		flags |= flagClose
	}
	if e.NoData {
		flags |= flagNoData
	}
	if e.Private {
		flags |= flagPrivate
	}
	b = append(b, codecVersion, flags)
	b = binary.AppendUvarint(b, uint64(e.Time.UnixNano()))
	b = binary.AppendUvarint(b, uint64(e.Retry/time.Millisecond))
	b = appendString(b, e.Type)
	b = binary.AppendUvarint(b, uint64(len(e.Topics)))
	for _, t := range e.Topics {
		b = appendString(b, t)
	}
	return append(b, e.Data...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("bolt: corrupt event record")

// decode parses a stored event. With withData false it skips the data,
// for scans that only need the header.
func decode(k, v []byte, withData bool) (hub.Event, error) {
	e := hub.Event{Pos: posOf(k)}
	if len(v) < 2 || v[0] != codecVersion {
		return e, errCorrupt
	}
	e.Close, e.NoData, e.Private = v[1]&flagClose != 0, v[1]&flagNoData != 0, v[1]&flagPrivate != 0
	r := reader{b: v[2:]}
	e.Time = time.Unix(0, int64(r.uvarint())).UTC()
	e.Retry = time.Duration(r.uvarint()) * time.Millisecond
	e.Type = r.string()
	if n := r.uvarint(); n <= uint64(len(r.b)) {
		e.Topics = make([]string, n)
		for i := range e.Topics {
			e.Topics[i] = r.string()
		}
	} else {
		r.bad = true
	}
	if r.bad {
		return e, errCorrupt
	}
	if withData {
		e.Data = string(r.b)
	}
	return e, nil
}

// readTime returns an event's time from its value.
func readTime(v []byte) time.Time {
	if len(v) < 2 {
		return time.Time{}
	}
	r := reader{b: v[2:]}
	return time.Unix(0, int64(r.uvarint()))
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
