package hub

import (
	"slices"

	"github.com/herd-sse/herd"
)

// RecentFirst returns the oldest event with topic that this node still
// holds in its replay cache, and whether there is one: Recent's
// counterpart, for finding the first of several events sharing a topic
// (a Mercure id a publisher used twice). It reads memory only and is
// safe for concurrent use.
func (h *Hub) RecentFirst(topic string) (herd.Event, bool) { return h.cache.oldestWith(topic) }

// oldestWith returns the oldest cached event of a topic.
func (c *replayCache) oldestWith(topic string) (herd.Event, bool) {
	if c == nil {
		return herd.Event{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i := 0; i < c.n; i++ {
		if ev := c.frames[(c.head+i)%c.maxN].ev; slices.Contains(ev.Topics, topic) {
			return ev, true
		}
	}
	return herd.Event{}, false
}
