package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
)

// checksumStore writes a store file with four events, the second private,
// and returns its path and the events as stored.
func checksumStore(t *testing.T) (string, []herd.Event) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var events []herd.Event
	for _, m := range []herd.Message{
		{Topics: []string{"a"}, Data: "before"},
		{Topics: []string{"secret/x"}, Type: "memo", Data: "private payload", Private: true},
		{Topics: []string{"a"}, Data: "after!"}, // as long as "before": records of one length
		{Topics: []string{"b"}, Data: "other"},
	} {
		e, _, err := s.Append(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, events
}

// recordsIn returns the offsets of e's record in the file's bytes: its
// encoding is there once at least, and more often in pages that bbolt's
// copy-on-write freed; damage to those is harmless, so tests damage all.
func recordsIn(t *testing.T, file []byte, e herd.Event) ([]int, []byte) {
	t.Helper()
	rec := encode(e)
	var at []int
	for i := 0; ; i++ {
		j := bytes.Index(file[i:], rec)
		if j < 0 {
			break
		}
		i += j
		at = append(at, i)
	}
	if len(at) == 0 {
		t.Fatalf("the record of event %d is not in the file", e.Pos)
	}
	return at, rec
}

// flips are the damages done to one record in a real file, each of which
// must be caught: the record's offset in the file is i.
var flips = []struct {
	name   string
	target int // index of the damaged event
	flip   func(file []byte, i int, rec []byte, other []byte)
}{
	{"data byte", 1, func(f []byte, i int, rec, _ []byte) { f[i+len(rec)-1] ^= 0x01 }},
	{"private flag cleared", 1, func(f []byte, i int, _, _ []byte) { f[i+5] &^= flagPrivate }},
	{"topic byte", 1, func(f []byte, i int, rec, _ []byte) { f[i+bytes.Index(rec, []byte("secret/x"))] = 'S' }},
	{"type byte", 1, func(f []byte, i int, rec, _ []byte) { f[i+bytes.Index(rec, []byte("memo"))] = 'M' }},
	{"checksum byte", 1, func(f []byte, i int, _, _ []byte) { f[i+2] ^= 0x80 }},
	{"time byte", 1, func(f []byte, i int, _, _ []byte) { f[i+headerLen] ^= 0x02 }},
	{"version made 1 (no checksum)", 1, func(f []byte, i int, _, _ []byte) { f[i] = legacyVersion }},
	{"version unknown", 1, func(f []byte, i int, _, _ []byte) { f[i] = 3 }},
	{"zeroed", 1, func(f []byte, i int, rec, _ []byte) { clear(f[i : i+len(rec)]) }},
	// The record of event 0, whole and checksummed, copied over event 2's:
	// the checksum covers the key, so it is not event 2.
	{"record of another position", 2, func(f []byte, i int, _, other []byte) { copy(f[i:], other) }},
}

// TestChecksum_flipped damages one record of a real store file in each way
// of flips: herd check names the event, and the store never serves it:
// Read stops before it with a *hub.DamagedEventError and reads on after
// it, Follow hands over the events before it and stops, Stats leaves it
// out.
func TestChecksum_flipped(t *testing.T) {
	src, events := checksumStore(t)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range flips {
		t.Run(tc.name, func(t *testing.T) {
			target := events[tc.target]
			file := bytes.Clone(orig)
			at, rec := recordsIn(t, file, target)
			_, other := recordsIn(t, file, events[0])
			for _, i := range at {
				tc.flip(file, i, rec, other)
			}
			path := filepath.Join(t.TempDir(), "herd.db")
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}

			sum, err := Check(path)
			var fileErr *DamagedError
			if !errors.As(err, &fileErr) || !strings.Contains(err.Error(), fmt.Sprintf("1 of its 4 events are damaged, the first at position %d", target.Pos)) {
				t.Errorf("Check: %v", err)
			}
			if sum.DamagedEvents != 1 || len(sum.Damaged) != 1 || sum.Damaged[0].Pos != target.Pos || sum.Damaged[0].ID != target.ID {
				t.Fatalf("Check found %d damaged: %+v, want event %d (%s)", sum.DamagedEvents, sum.Damaged, target.Pos, target.ID)
			}
			if d := sum.Damaged[0]; !strings.Contains(d.Cause, path) {
				t.Errorf("the damage's cause does not name the file: %q", d.Cause)
			}

			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open of a file with one damaged event: %v", err)
			}
			defer s.Close()
			ctx := context.Background()
			got, _, err := s.Read(ctx, 0, herd.Limit{Events: 10})
			var d *herd.DamagedEventError
			if !errors.As(err, &d) || !errors.Is(err, herd.ErrDamaged) || d.Pos != target.Pos || d.ID != target.ID {
				t.Fatalf("Read over the damage: %v", err)
			}
			if want := events[:tc.target]; !sameEvents(got, want) {
				t.Errorf("Read over the damage returned %v, want the events before it %v", datas(got), datas(want))
			}
			rest, _, err := s.Read(ctx, d.Pos, herd.Limit{Events: 10})
			if err != nil || !sameEvents(rest, events[tc.target+1:]) {
				t.Errorf("Read after the damage: %v, %v", datas(rest), err)
			}
			var followed []herd.Event
			err = s.Follow(ctx, 0, func(batch []herd.Event) error { followed = append(followed, batch...); return nil })
			if !errors.As(err, &d) || d.Pos != target.Pos || !sameEvents(followed, events[:tc.target]) {
				t.Errorf("Follow over the damage: %v after %v", err, datas(followed))
			}
			stats, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range stats {
				if slices.Contains(target.Topics, st.Topic) && st.LastPos == target.Pos {
					t.Errorf("Stats count the damaged event: %+v", st)
				}
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("a damaged event made the store unavailable: %v", err)
			}
		})
	}
}

func sameEvents(a, b []herd.Event) bool {
	return slices.EqualFunc(a, b, func(x, y herd.Event) bool {
		return x.Pos == y.Pos && x.ID == y.ID && x.Data == y.Data && x.Private == y.Private && slices.Equal(x.Topics, y.Topics)
	})
}

func datas(events []herd.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Data)
	}
	return out
}

// TestChecksum_legacy opens a file written by herd before checksums
// (testdata/v1.db, made by the bolt store of commit 3a61b7a): its events
// read as they were, herd check counts them unchecked, and events written
// since carry checksums, so that a version 1 record among them is damage.
func TestChecksum_legacy(t *testing.T) {
	orig, err := os.ReadFile("testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "herd.db")
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := Check(path)
	if err != nil || sum.Events != 6 || sum.Unchecked != 6 || !strings.Contains(sum.String(), "6 events written before checksums, unchecked") {
		t.Fatalf("Check of a version 1 file: %v, %v", sum, err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old, _, err := s.Read(ctx, 0, herd.Limit{Events: 10})
	if err != nil || len(old) != 6 {
		t.Fatalf("Read of version 1 events: %d, %v", len(old), err)
	}
	if e := old[1]; e.Type != "update" || e.Data != "line 1\nline 2" || e.Retry != 1500e6 || !slices.Equal(e.Topics, []string{"news", "sport"}) {
		t.Errorf("a version 1 event read back as %+v", e)
	}
	if e := old[2]; !e.Private || e.Data != "private data" {
		t.Errorf("a version 1 private event read back as %+v", e)
	}
	if e := old[4]; !e.Close || !e.NoData {
		t.Errorf("a version 1 close read back as %+v", e)
	}
	added, _, err := s.Append(ctx, herd.Message{Topics: []string{"news"}, Data: "checked"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	sum, err = Check(path)
	if err != nil || sum.Events != 7 || sum.Unchecked != 6 {
		t.Fatalf("Check after an append: %v, %v", sum, err)
	}

	// The new event rewritten as version 1 (its checksum dropped) is not
	// taken for an old one.
	file, _ := os.ReadFile(path)
	at, rec := recordsIn(t, file, added)
	legacy := append([]byte{legacyVersion}, rec[5:]...)
	for _, i := range at {
		copy(file[i:], legacy) // the value keeps its length: its last 4 bytes are left as they were
	}
	os.WriteFile(path, file, 0o600)
	sum, err = Check(path)
	if err == nil || sum.DamagedEvents != 1 || sum.Damaged[0].Pos != added.Pos ||
		!strings.Contains(sum.Damaged[0].Cause, "a record without a checksum (version 1) where every record has one") {
		t.Errorf("Check of a checksummed position holding a version 1 record: %+v, %v", sum, err)
	}
}

// TestChecksum_trim: retention by age does not stop at a damaged event
// (its time is unknown), nor take it before the whole events after it are
// old enough.
func TestChecksum_trim(t *testing.T) {
	src, events := checksumStore(t)
	file, _ := os.ReadFile(src)
	at, _ := recordsIn(t, file, events[0])
	for _, i := range at {
		file[i+2] ^= 0xff // the oldest event's checksum
	}
	path := filepath.Join(t.TempDir(), "herd.db")
	os.WriteFile(path, file, 0o600)
	now := events[3].Time
	s, err := Open(path, Options{StoreOptions: herd.StoreOptions{
		Retention: herd.Retention{MaxAge: 1e9, MaxEvents: -1}, Now: func() time.Time { return now }}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.Append(ctx, herd.Message{Topics: []string{"c"}, Data: "young"}) // a commit runs retention
	if b, _ := s.Bounds(ctx); b.First != 1 {
		t.Errorf("retention took the damaged event while the events after it are young: %+v", b)
	}
	now = now.Add(1e9 + 1) // events 1 to 5 are too old, the sixth not
	s.Append(ctx, herd.Message{Topics: []string{"c"}, Data: "young too"})
	if b, _ := s.Bounds(ctx); b.First != 6 || b.Trimmed != 5 {
		t.Errorf("retention stopped at the damaged event: %+v", b)
	}
}
