package hub

import (
	"testing"

	"github.com/herd-sse/herd"
)

// newestWith finds the newest cached event of a topic, and nothing once
// the cache has let it go.
func TestReplayCache_newestWith(t *testing.T) {
	c := newReplayCache(3, 1<<20)
	add := func(p herd.Pos, topics ...string) {
		c.add(&frame{ev: herd.Event{Pos: p, ID: string(rune('a' + p)), Topics: topics}, size: 10})
	}
	add(1, "x")
	add(2, "x", "y")
	add(3, "z")
	for _, tc := range []struct {
		topic string
		want  herd.Pos // 0: not found
	}{{"x", 2}, {"y", 2}, {"z", 3}, {"w", 0}} {
		e, ok := c.newestWith(tc.topic)
		if ok != (tc.want != 0) || e.Pos != tc.want {
			t.Errorf("newestWith(%q) = %d, %v; want %d", tc.topic, e.Pos, ok, tc.want)
		}
	}
	add(4, "w")
	add(5, "w")
	add(6, "w") // the ring holds 3: x, y and z are gone
	for _, topic := range []string{"x", "y", "z"} {
		if e, ok := c.newestWith(topic); ok {
			t.Errorf("newestWith(%q) after eviction = %d, want none", topic, e.Pos)
		}
	}
	if e, ok := c.newestWith("w"); !ok || e.Pos != 6 {
		t.Errorf("newestWith(w) = %d, %v; want 6", e.Pos, ok)
	}
	var disabled *replayCache
	if _, ok := disabled.newestWith("w"); ok {
		t.Error("a disabled cache found an event")
	}
}
