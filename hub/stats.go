package hub

import "sort"

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

// Stats are a hub's own counters, for monitoring: figures of this node
// only, where TopicStats are the store's and so shared by all nodes.
type Stats struct {
	Subscribers int // subscriptions open now
	Parked      int // of which the connection engine holds (no goroutine each)
	Published   int64
	// Delivered counts events handed to subscribers (each subscriber's
	// copy counts), Replayed those of them from history.
	Delivered, Replayed int64
	// BytesWritten counts the bytes of events written to HTTP streams
	// (heartbeats and response heads not included).
	BytesWritten int64
	// StoreErrors counts failed store calls: publishes, reads, follows.
	StoreErrors int64
	// QueueHighWater is the most events any subscriber had waiting.
	QueueHighWater int64
	// PublishLatency is the time stores took to acknowledge publishes.
	PublishLatency Histogram
	// Ended counts subscriptions ended since Open, by CloseReason.String.
	Ended map[string]int64
}

// Stats returns the hub's counters. It is cheap enough to call often.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	st := Stats{Subscribers: len(h.subs), Published: h.published.Load(), Ended: make(map[string]int64, numReasons)}
	h.mu.RUnlock()
	st.Delivered, st.Replayed = h.delivered.Load(), h.replayed.Load()
	st.BytesWritten, st.StoreErrors = h.bytesWritten.Load(), h.storeErrors.Load()
	st.QueueHighWater = h.queueHigh.Load()
	st.PublishLatency = h.publishTime.snapshot()
	st.Parked = h.engine.parked()
	for r := CloseReason(1); r < numReasons; r++ {
		st.Ended[r.String()] = h.disconnected[r].Load()
	}
	return st
}
