package hub

import (
	"testing"

	"github.com/herd-sse/herd"
)

// oldestWith finds the oldest cached event of a topic, and nothing once
// the cache has let it go.
func TestReplayCache_oldestWith(t *testing.T) {
	c := newReplayCache(3, 1<<20)
	add := func(p herd.Pos, topics ...string) {
		c.add(&frame{ev: herd.Event{Pos: p, ID: string(rune('a' + p)), Topics: topics}, size: 10})
	}
	add(1, "x")
	add(2, "x", "y")
	add(3, "z", "x")
	for _, tc := range []struct {
		topic string
		want  herd.Pos // 0: not found
	}{{"x", 1}, {"y", 2}, {"z", 3}, {"w", 0}} {
		e, ok := c.oldestWith(tc.topic)
		if ok != (tc.want != 0) || e.Pos != tc.want {
			t.Errorf("oldestWith(%q) = %d, %v; want %d", tc.topic, e.Pos, ok, tc.want)
		}
	}
	add(4, "w") // the ring holds 3: event 1 is gone
	if e, ok := c.oldestWith("x"); !ok || e.Pos != 2 {
		t.Errorf("oldestWith(x) after eviction = %d, %v; want 2", e.Pos, ok)
	}
	var none *replayCache // the cache disabled
	if _, ok := none.oldestWith("x"); ok {
		t.Error("a disabled cache found an event")
	}
}
