package bolt

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/herd-sse/herd"
)

// FuzzCodec feeds arbitrary bytes to the record decoder, as the record of
// an arbitrary position: it never panics, and a record it accepts is
// exactly the encoding of the event it decoded (so no other bytes pass for
// an event). Most inputs fail their checksum, so each is also tried
// resealed (its checksum made to match): that reaches the parser with
// every layout. The seeds, real encodings, run with go test; test.sh
// fuzzes.
func FuzzCodec(f *testing.F) {
	for _, e := range []herd.Event{
		{Pos: 1, Time: time.Unix(1_700_000_000, 123).UTC(), Topics: []string{"a"}, Data: "hello"},
		{Pos: 2, Time: time.Unix(0, 0).UTC(), Topics: []string{"a", "b/c"}, Type: "update", Data: "line 1\nline 2\x00", Retry: 1500 * time.Millisecond},
		{Pos: 1 << 40, Time: time.Unix(1_800_000_000, 0).UTC(), Topics: []string{"p"}, Data: "secret", Private: true, ZeroRetry: true},
		{Pos: 7, Time: time.Unix(1_800_000_000, 0).UTC(), Topics: []string{"done", "x"}, NoData: true, Close: true},
		{Pos: 8, Time: time.Unix(-5, 0).UTC(), Topics: []string{}, Data: ""},
	} {
		f.Add(uint64(e.Pos), encode(e))
	}
	f.Add(uint64(3), []byte{legacyVersion, flagClose, 0, 0, 0, 0})
	f.Add(uint64(3), []byte{codecVersion})
	f.Add(uint64(3), []byte{})
	f.Fuzz(func(t *testing.T, pos uint64, b []byte) {
		k := key(herd.Pos(pos))
		check(t, k, b)
		if len(b) >= headerLen && b[0] == codecVersion {
			sealed := bytes.Clone(b)
			binary.BigEndian.PutUint32(sealed[1:5], checksum(k, sealed))
			check(t, k, sealed)
		}
		decode(k, b, true, true) // version 1 records are not canonical: only never panic
	})
}

// check decodes b as the record under k and, if it is accepted, requires
// it to be the encoding of what it decoded, with and without the data.
func check(t *testing.T, k, b []byte) {
	e, unchecked, err := decode(k, b, false, true)
	if err != nil {
		if _, ok := err.(*recordError); !ok {
			t.Fatalf("decode failed with %T %v, not a *recordError", err, err)
		}
		return
	}
	if unchecked {
		t.Fatalf("a version 1 record accepted where checksums are required: %x", b)
	}
	if again := encode(e); !bytes.Equal(again, b) {
		t.Fatalf("%x decoded as %+v, which encodes as %x", b, e, again)
	}
	if tm, ok := recordTime(k, b, false); !ok || !tm.Equal(e.Time) {
		t.Fatalf("retention reads the time of %+v as %v, %v", e, tm, ok)
	}
	header, _, err := decode(k, b, false, false)
	if err != nil || header.Data != "" || header.Type != e.Type || header.Time != e.Time {
		t.Fatalf("the header alone decodes differently: %+v, %v", header, err)
	}
}
