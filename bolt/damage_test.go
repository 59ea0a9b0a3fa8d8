package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/bolt"
)

// sampleStore writes a store file with small and large events, closed
// topics and idempotency keys, and returns its path.
func sampleStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herd.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 600 {
		m := herd.Message{Topics: []string{fmt.Sprintf("t/%d", i%17)}, Data: strings.Repeat("d", 10+i%300)}
		switch {
		case i%97 == 0:
			m.Data = strings.Repeat("big", 5000) // overflow pages
		case i%53 == 0:
			m.Topics, m.Close, m.NoData, m.Data = []string{fmt.Sprintf("done/%d", i)}, true, true, ""
		case i%7 == 0:
			m.IdempotencyKey = fmt.Sprint("key-", i)
		}
		if _, _, err := s.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// sampleBytes returns a sample store file's bytes and its check summary,
// the undamaged original that a test then damages.
func sampleBytes(t *testing.T) ([]byte, bolt.Summary) {
	t.Helper()
	src := sampleStore(t)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := bolt.Check(src)
	if err != nil {
		t.Fatal(err)
	}
	return data, sum
}

// damaged reports whether err is nil or a *DamagedError naming path, or a
// *hub.DamagedEventError (a damaged event, in a file that is otherwise
// sound) naming it; any other error fails the test.
func damaged(t *testing.T, what, path string, err error) bool {
	t.Helper()
	var d *bolt.DamagedError
	var de *herd.DamagedEventError
	switch {
	case err == nil:
		return false
	case strings.ContainsAny(err.Error(), "\n"):
	case errors.As(err, &d) && d.Path == path && strings.Contains(err.Error(), "restore it from a backup"):
		return true
	case errors.As(err, &de) && errors.Is(err, herd.ErrDamaged) && strings.Contains(err.Error(), path):
		return true
	}
	t.Errorf("%s: %v, want nil or a one-line *DamagedError or *hub.DamagedEventError", what, err)
	return true
}

// use exercises every read and write of an open store: each must work or
// report the damage, never crash.
func use(t *testing.T, s *bolt.Store, path string) {
	t.Helper()
	ctx := context.Background()
	after := herd.Pos(0)
	for range 100 {
		events, _, err := s.Read(ctx, after, herd.Limit{Events: 64, Bytes: 1 << 20})
		if len(events) > 0 {
			after = events[len(events)-1].Pos
		}
		var de *herd.DamagedEventError
		if errors.As(err, &de) && de.Pos > after { // read on after it, as the hub does
			after = de.Pos
			continue
		}
		if damaged(t, "Read", path, err) || len(events) == 0 {
			break
		}
	}
	_, err := s.Stats(ctx)
	damaged(t, "Stats", path, err)
	_, err = s.Bounds(ctx)
	damaged(t, "Bounds", path, err)
	_, err = s.Closed(ctx, []string{"done/53", "t/1"})
	damaged(t, "Closed", path, err)
	_, _, err = s.Append(ctx, herd.Message{Topics: []string{"t/new"}, Data: "after"})
	damaged(t, "Append", path, err)
	damaged(t, "Ping", path, s.Ping(ctx))
}

// TestDamaged_truncated: a file cut short of its records is refused with
// a one-line error naming it, at any length; one cut only in the room
// bbolt grew ahead opens.
func TestDamaged_truncated(t *testing.T) {
	data, sum := sampleBytes(t)
	used := int(sum.Used)
	path := filepath.Join(t.TempDir(), "herd.db")
	for _, n := range []int{100, 4096, 5000, 8192, 3 * 4096, used / 4, used / 2, used - 4096, used - 1, used, (used + len(data)) / 2} {
		os.WriteFile(path, data[:n], 0o600)
		s, err := bolt.Open(path, bolt.Options{})
		isDamaged := damaged(t, fmt.Sprintf("Open of the first %d of %d bytes", n, used), path, err)
		if err == nil {
			use(t, s, path)
			s.Close()
		}
		if isDamaged != (n < used) {
			t.Errorf("a file cut to %d bytes, of %d used: damaged %v (%v)", n, used, isDamaged, err)
		}
		if _, err := bolt.Check(path); damaged(t, "Check", path, err) != (n < used) {
			t.Errorf("Check of a file cut to %d bytes, of %d used: %v", n, used, err)
		}
	}
}

// TestDamaged_pages overwrites the pages of a store file that hold
// records, one at a time, with garbage, zeros or another page: opening and
// using the store must work or report the damage, and never crash the
// process.
func TestDamaged_pages(t *testing.T) {
	data, sum := sampleBytes(t)
	const page = 4096
	pages := int(sum.Used) / page
	rng := rand.New(rand.NewPCG(uint64(len(data)), 7))
	path := filepath.Join(t.TempDir(), "herd.db")
	found := 0
	for p := range pages {
		for kind := range 3 {
			bad := append([]byte(nil), data[:sum.Used]...)
			chunk := bad[p*page : (p+1)*page]
			switch kind {
			case 0:
				for i := range chunk {
					chunk[i] = byte(rng.Uint32())
				}
			case 1:
				clear(chunk)
			case 2:
				copy(chunk, data[rng.IntN(pages)*page:])
			}
			os.WriteFile(path, bad, 0o600)
			what := fmt.Sprintf("page %d overwritten (%d)", p, kind)
			s, err := bolt.Open(path, bolt.Options{})
			if damaged(t, what+": Open", path, err) {
				found++
				continue
			}
			use(t, s, path)
			s.Close()
			if _, err := bolt.Check(path); damaged(t, what+": Check", path, err) {
				found++
			}
		}
	}
	t.Logf("%d of %d damaged files reported (the others lost only free pages)", found, 3*pages)
	if found == 0 {
		t.Error("no damage found at all")
	}
}

// TestDamaged_whileOpen damages the file of an open store: every call
// then reports it, and the process survives.
func TestDamaged_whileOpen(t *testing.T) {
	for _, how := range []string{"overwritten", "truncated"} {
		t.Run(how, func(t *testing.T) {
			path := sampleStore(t)
			s, err := bolt.Open(path, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			info, _ := os.Stat(path)
			if how == "truncated" {
				os.Truncate(path, 3*4096)
			} else {
				f, _ := os.OpenFile(path, os.O_WRONLY, 0)
				f.WriteAt([]byte(strings.Repeat("\xff", int(info.Size())-2*4096)), 2*4096)
				f.Close()
			}
			_, _, err = s.Read(context.Background(), 0, herd.Limit{Events: 1000})
			if !damaged(t, "Read", path, err) {
				t.Fatal("Read of a damaged file succeeded")
			}
			use(t, s, path)
			if err := s.Ping(context.Background()); !damaged(t, "Ping", path, err) {
				t.Error("Ping of a damaged store succeeded")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	path := sampleStore(t)
	sum, err := bolt.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 600 || sum.First != 1 || sum.Last != 600 || sum.ClosedTopics != 11 || sum.Keys == 0 {
		t.Errorf("summary %+v", sum)
	}
	if _, err := bolt.Check(filepath.Join(t.TempDir(), "missing.db")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Check of a missing file: %v", err)
	}
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := bolt.Check(path); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("Check of a file in use: %v", err)
	}
}

// FuzzDamaged damages a store file as its input says (each 4 bytes: an
// offset in the file's records and a byte to put there) and opens and
// uses it: every call must work or report the damage, and the process
// must never crash. The seeds run with go test; test.sh fuzzes.
func FuzzDamaged(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 16, 0, 1, 0, 0x20, 0, 0xff})            // page 1's header
	f.Add([]byte{0, 0x40, 0x10, 7, 0, 0x50, 0x08, 0x02})    // into the tree
	f.Add([]byte{1, 0x00, 0x00, 0xff, 1, 0x00, 0x01, 0xff}) // a page id
	dir := f.TempDir()
	var src []byte
	f.Fuzz(func(t *testing.T, ops []byte) {
		if src == nil {
			s := sampleStore(t)
			data, err := os.ReadFile(s)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := bolt.Check(s)
			if err != nil {
				t.Fatal(err)
			}
			src = data[:sum.Used]
		}
		bad := append([]byte(nil), src...)
		for i := 0; i+4 <= len(ops) && i < 64; i += 4 {
			off := (int(ops[i])<<16 | int(ops[i+1])<<8 | int(ops[i+2])) % len(bad)
			bad[off] = ops[i+3]
		}
		path := filepath.Join(dir, "herd.db")
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := bolt.Open(path, bolt.Options{})
		if damaged(t, "Open", path, err) {
			return
		}
		use(t, s, path)
		s.Close()
	})
}
