package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/herd-sse/herd"
)

// An event is stored as its position's 8-byte big-endian key and this
// value (record version 2):
//
//	version   byte (2)
//	checksum  4 bytes, big-endian: CRC-32C (Castagnoli) of the version
//	          byte, every byte after the checksum, and the key
//	flags     byte (1: close, 2: no data, 4: private, 8: zero retry)
//	time      uvarint, Unix nanoseconds
//	retry     uvarint, milliseconds
//	type      uvarint length, bytes
//	topics    uvarint count, then each as uvarint length, bytes
//	data      the rest
//
// The header comes before the data so that retention and stats can read it
// without copying the data; the checksum covers everything, the position
// included, so that no flipped byte (a private flag made public, a topic,
// the data) and no record moved to another key passes for whole.
//
// Version 1 records, written by herd before checksums, are the same
// without the checksum. They are read (unchecked) only at the positions
// before the one the meta key "checksums" records: the first position a
// checksumming herd wrote. Anywhere else a version 1 record is damage.
const (
	codecVersion  = 2
	legacyVersion = 1
	flagClose     = 1
	flagNoData    = 2
	flagPrivate   = 4
	flagZeroRetry = 8
	knownFlags    = flagClose | flagNoData | flagPrivate | flagZeroRetry
	headerLen     = 6 // version, checksum, flags
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func key(p herd.Pos) []byte { return binary.BigEndian.AppendUint64(nil, uint64(p)) }

func posOf(k []byte) herd.Pos { return herd.Pos(binary.BigEndian.Uint64(k)) }

// encode returns e's record, checksummed for the key of e.Pos.
func encode(e herd.Event) []byte {
	n := 40 + len(e.Type) + len(e.Data) // header, varints, the key (see below)
	for _, t := range e.Topics {
		n += len(t) + 2
	}
	b := make([]byte, headerLen, n)
	b[0] = codecVersion
	if e.Close {
		b[5] |= flagClose
	}
	if e.NoData {
		b[5] |= flagNoData
	}
	if e.Private {
		b[5] |= flagPrivate
	}
	if e.ZeroRetry {
		b[5] |= flagZeroRetry
	}
	b = binary.AppendUvarint(b, uint64(e.Time.UnixNano()))
	b = binary.AppendUvarint(b, uint64(e.Retry/time.Millisecond))
	b = appendString(b, e.Type)
	b = binary.AppendUvarint(b, uint64(len(e.Topics)))
	for _, t := range e.Topics {
		b = appendString(b, t)
	}
	b = append(b, e.Data...)
	// The key goes after the record for the checksum's sake only, in the
	// room n left for it: no allocation.
	withKey := binary.BigEndian.AppendUint64(b, uint64(e.Pos))
	binary.BigEndian.PutUint32(b[1:5], crc32.Update(crc32.Update(0, castagnoli, withKey[:1]), castagnoli, withKey[5:]))
	return b
}

// checksum is the CRC-32C of record v, but for its checksum bytes, then
// of its key k.
func checksum(k, v []byte) uint32 {
	c := crc32.Update(0, castagnoli, v[:1])
	c = crc32.Update(c, castagnoli, v[5:])
	return crc32.Update(c, castagnoli, k)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// A recordError says why a record is not a whole event.
type recordError struct {
	cause  string
	topics []string // as far as they could be read; nil if not
}

func (e *recordError) Error() string { return "bolt: " + e.cause }

// decode parses and verifies the record v stored under key k. A version 1
// record (no checksum) is accepted only if legacy says that its position
// predates checksums. With withData false it leaves the data out, for
// scans that need only the header; the checksum covers the data either
// way. A record that fails is a *recordError.
func decode(k, v []byte, legacy, withData bool) (herd.Event, bool, error) {
	e := herd.Event{Pos: posOf(k)}
	switch {
	case len(v) == 0:
		return e, false, &recordError{cause: "an empty record"}
	case v[0] == legacyVersion && legacy && len(v) < 2:
		return e, true, &recordError{cause: "a record shorter than its header"}
	case v[0] == legacyVersion && legacy:
		err := parse(&e, v[1], v[2:], withData)
		return e, true, err
	case v[0] == legacyVersion:
		return e, false, &recordError{cause: "a record without a checksum (version 1) where every record has one", topics: topicsOf(v)}
	case v[0] != codecVersion:
		return e, false, &recordError{cause: fmt.Sprintf("unknown record version %d", v[0]), topics: topicsOf(v)}
	case len(v) < headerLen:
		return e, false, &recordError{cause: "a record shorter than its header"}
	}
	if stored, sum := binary.BigEndian.Uint32(v[1:5]), checksum(k, v); stored != sum {
		return e, false, &recordError{cause: fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", stored, sum), topics: topicsOf(v)}
	}
	return e, false, parse(&e, v[5], v[headerLen:], withData)
}

// recordTime returns the time of the record v under key k, and false if
// the record is damaged. It verifies the checksum like decode, but parses
// the time only: retention reads one record per commit.
func recordTime(k, v []byte, legacy bool) (time.Time, bool) {
	var b []byte
	switch {
	case len(v) >= 2 && v[0] == legacyVersion && legacy:
		b = v[2:]
	case len(v) >= headerLen && v[0] == codecVersion && binary.BigEndian.Uint32(v[1:5]) == checksum(k, v):
		b = v[headerLen:]
	default:
		return time.Time{}, false
	}
	r := reader{b: b}
	t := time.Unix(0, int64(r.uvarint()))
	return t, !r.bad
}

// parse reads the fields after the flags into e. Every number must be
// written as encode writes it (shortest varints, no unknown flags), so
// that a record that parses is exactly the encoding of what it parsed as.
func parse(e *herd.Event, flags byte, b []byte, withData bool) error {
	if flags&^knownFlags != 0 {
		return &recordError{cause: fmt.Sprintf("unknown flags %#x", flags)}
	}
	e.Close, e.NoData, e.Private, e.ZeroRetry = flags&flagClose != 0, flags&flagNoData != 0, flags&flagPrivate != 0, flags&flagZeroRetry != 0
	r := reader{b: b}
	e.Time = time.Unix(0, int64(r.uvarint())).UTC()
	if ms := r.uvarint(); ms <= math.MaxInt64/uint64(time.Millisecond) {
		e.Retry = time.Duration(ms) * time.Millisecond
	} else {
		r.bad = true
	}
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
		return &recordError{cause: "a malformed record"}
	}
	if withData {
		e.Data = string(r.b)
	}
	return nil
}

// topicsOf reads a damaged record's topics, if its layout still parses:
// for the report only, since the damage may be in them.
func topicsOf(v []byte) []string {
	var e herd.Event
	switch {
	case len(v) >= headerLen && v[0] == codecVersion && parse(&e, v[5], v[headerLen:], false) == nil:
	case len(v) >= 2 && v[0] == legacyVersion && parse(&e, v[1], v[2:], false) == nil:
	default:
		return nil
	}
	return e.Topics
}

type reader struct {
	b   []byte
	bad bool
}

// uvarint reads a varint written by binary.AppendUvarint: the shortest
// form only (a longer one, with a trailing zero byte, is not herd's).
func (r *reader) uvarint() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 || (n > 1 && r.b[n-1] == 0) {
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
