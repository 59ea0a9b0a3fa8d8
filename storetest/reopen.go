package storetest

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/herd-sse/herd"
)

// testReopen: a reopened topic takes events again, on every node; its
// history stays, the close included, positions go on, and nothing of the
// reopen itself is ever read as an event. Closing and reopening repeat.
func testReopen(t *testing.T, c Config) {
	s := open(t, c, Options{})
	r, ok := s.(herd.Reopener)
	if !ok {
		t.Fatalf("%T is not a hub.Reopener", s)
	}
	appendMsg(t, s, data("a", "before"))
	first := appendMsg(t, s, herd.Message{Topics: []string{"a"}, Data: "bye", Close: true})
	refused(t, s, data("a", "refused"), "a")

	got, err := r.Reopen(ctx(t), []string{"a", "b"})
	if err != nil || !maps.Equal(got, map[string]herd.Pos{"a": first.Pos}) {
		t.Fatalf("Reopen(a, b) = %v, %v; want a's close at %d, and b (open) absent", got, err, first.Pos)
	}
	if closed, err := s.Closed(ctx(t), []string{"a"}); err != nil || len(closed) != 0 {
		t.Errorf("Closed(a) after Reopen = %v, %v; want none", closed, err)
	}
	if got, err := r.Reopen(ctx(t), []string{"a"}); err != nil || len(got) != 0 {
		t.Errorf("Reopen of an open topic = %v, %v; want nothing reopened", got, err)
	}
	again := appendMsg(t, s, data("a", "again"))
	if again.Pos <= first.Pos {
		t.Errorf("event after the reopen at %d, not after the close at %d", again.Pos, first.Pos)
	}
	second := appendMsg(t, s, herd.Message{Topics: []string{"a", "c"}, Data: "bye again", Close: true})
	refused(t, s, data("a", "refused again"), "a")
	if got, err := r.Reopen(ctx(t), []string{"a"}); err != nil || !maps.Equal(got, map[string]herd.Pos{"a": second.Pos}) {
		t.Fatalf("second Reopen(a) = %v, %v; want a's close at %d", got, err, second.Pos)
	}
	last := appendMsg(t, s, data("a", "third life"))
	refused(t, s, data("c", "c stays closed"), "c")

	want := []string{"before", "bye", "again", "bye again", "third life"}
	if got := datas(readAll(t, s, 0)); !slices.Equal(got, want) {
		t.Errorf("Read: %q, want %q", got, want)
	}
	if got := datas(followUntil(t, s, last.Pos)); !slices.Equal(got, want) {
		t.Errorf("Follow: %q, want %q", got, want)
	}
	stats, err := s.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range stats {
		if ts.Topic == "a" && (ts.Closed || ts.Retained != 5) || ts.Topic == "c" && !ts.Closed {
			t.Errorf("Stats: %+v", ts)
		}
	}
	if c.Peer != nil {
		peer := c.Peer(t, s)
		if closed, err := peer.Closed(ctx(t), []string{"a", "c"}); err != nil || !maps.Equal(closed, map[string]herd.Pos{"c": second.Pos}) {
			t.Errorf("another node: Closed = %v, %v; want c only, at %d", closed, err, second.Pos)
		}
		appendMsg(t, peer, data("a", "from another node"))
		if got := datas(readAll(t, peer, 0)); !slices.Equal(got, append(want, "from another node")) {
			t.Errorf("another node reads %q", got)
		}
	}
	s.Close()
	if _, err := r.Reopen(ctx(t), []string{"a"}); !errors.Is(err, herd.ErrStoreClosed) {
		t.Errorf("Reopen after Close: %v, want hub.ErrStoreClosed", err)
	}
}
