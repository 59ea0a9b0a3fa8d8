package herd

import (
	"sort"
)

// A TopicCounter builds TopicStats from a scan of the retained log, for
// stores that have no cheaper way. Feed it events in order with Add and
// closed topics with Closed; Stats returns the figures sorted by topic.
type TopicCounter struct {
	m map[string]*TopicStats
}

func (c *TopicCounter) get(topic string) *TopicStats {
	if c.m == nil {
		c.m = make(map[string]*TopicStats)
	}
	ts := c.m[topic]
	if ts == nil {
		ts = &TopicStats{Topic: topic}
		c.m[topic] = ts
	}
	return ts
}

// Add counts a retained event.
func (c *TopicCounter) Add(e Event) {
	for _, t := range e.Topics {
		ts := c.get(t)
		ts.Retained++
		ts.LastPos, ts.LastID = e.Pos, e.ID
	}
}

// Closed records that topic was closed at p.
func (c *TopicCounter) Closed(topic string, p Pos, id string) {
	ts := c.get(topic)
	ts.Closed = true
	if p > ts.LastPos {
		ts.LastPos, ts.LastID = p, id
	}
}

// Stats returns the counted topics, sorted.
func (c *TopicCounter) Stats() []TopicStats {
	out := make([]TopicStats, 0, len(c.m))
	for _, ts := range c.m {
		out = append(out, *ts)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

// CountTopics returns the stats of a log held in memory.
func CountTopics(events []Event, closed map[string]Pos, id func(Pos) string) []TopicStats {
	var c TopicCounter
	for _, e := range events {
		c.Add(e)
	}
	for t, p := range closed {
		c.Closed(t, p, id(p))
	}
	return c.Stats()
}
