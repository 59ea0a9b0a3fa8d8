package bolt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/bolt"
	"github.com/herd-sse/herd/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		FakeClock: true,
		Open: func(t *testing.T, opts storetest.Options) herd.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "herd.db"), bolt.Options{StoreOptions: herd.StoreOptions{
				Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL, Now: opts.Now}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herd.db")
	s, err := bolt.Open(path, bolt.Options{StoreOptions: herd.StoreOptions{Retention: herd.Retention{MaxEvents: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var events []herd.Event
	for i := range 5 {
		e, _, err := s.Append(ctx, herd.Message{Topics: []string{"a"}, Data: fmt.Sprint(i), IdempotencyKey: fmt.Sprint("k", i)})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	closeEv, _, _ := s.Append(ctx, herd.Message{Topics: []string{"done"}, NoData: true, Close: true})
	before, _ := s.Bounds(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = bolt.Open(path, bolt.Options{StoreOptions: herd.StoreOptions{Retention: herd.Retention{MaxEvents: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, _ := s.Bounds(ctx); b != before {
		t.Errorf("bounds after reopen %+v, before %+v", b, before)
	}
	for _, e := range events {
		if p, err := s.ParseID(e.ID); err != nil || p != e.Pos {
			t.Errorf("id %q from before the restart: %d, %v", e.ID, p, err)
		}
	}
	if e, dup, _ := s.Append(ctx, herd.Message{Topics: []string{"a"}, Data: "again", IdempotencyKey: "k4"}); !dup || e.ID != events[4].ID {
		t.Errorf("idempotency key forgotten across restart: %+v dup %v", e, dup)
	}
	next, _, _ := s.Append(ctx, herd.Message{Topics: []string{"a"}, Data: "next"})
	if next.Pos <= closeEv.Pos {
		t.Errorf("position after restart %d, not after %d", next.Pos, closeEv.Pos)
	}
	if closed, _ := s.Closed(ctx, []string{"done"}); closed["done"] != closeEv.Pos {
		t.Errorf("closed topic forgotten: %v", closed)
	}
	if _, gap, _ := s.Read(ctx, events[0].Pos, herd.Limit{Events: 10}); !gap {
		t.Error("trimming forgotten: no gap reported after reopen")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herd.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := bolt.Open(path, bolt.Options{}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second open of a locked file: %v", err)
	}
	notBolt := filepath.Join(dir, "notes.txt")
	os.WriteFile(notBolt, []byte(strings.Repeat("not a database\n", 1000)), 0o600)
	if _, err := bolt.Open(notBolt, bolt.Options{}); err == nil {
		t.Error("opened a text file as a store")
	}
	if _, err := bolt.Open(filepath.Join(dir, "missing", "dir", "herd.db"), bolt.Options{}); err == nil {
		t.Error("opened a store in a directory that does not exist")
	}
}
