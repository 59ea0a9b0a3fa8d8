package hub

import (
	"sync/atomic"

	"github.com/herd-sse/herd/sse"
)

// counters are a hub's figures, bumped on the hot paths with atomics
// only: no lock, no allocation. Stats reads them.
type counters struct {
	published    atomic.Int64
	delivered    atomic.Int64 // events handed to subscribers, replays included
	replayed     atomic.Int64
	bytesWritten atomic.Int64
	storeErrors  atomic.Int64
	damaged      atomic.Int64 // damaged stored events met, by the follower or a replay
	queueHigh    atomic.Int64 // the most frames any subscriber had queued
	publishTime  histogram    // Store.Append's latency
	ended        [numReasons]atomic.Int64
}

// raiseQueueHigh raises the queue high-water mark to n. The mark only
// rises, so callers check it first and call this rarely.
func (c *counters) raiseQueueHigh(n int64) {
	for {
		old := c.queueHigh.Load()
		if n <= old || c.queueHigh.CompareAndSwap(old, n) {
			return
		}
	}
}

// wrote counts frames written to a stream.
func (c *counters) wrote(frames []sse.Frame) {
	n := 0
	for _, f := range frames {
		n += f.Len()
	}
	c.bytesWritten.Add(int64(n))
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
	// DamagedEvents counts damaged stored events met (herd.DamagedEventError):
	// by the follower, and by each replay that reached one. None were
	// delivered; the hub logs each as an error.
	DamagedEvents int64
	// QueueHighWater is the most events any subscriber had waiting.
	QueueHighWater int64
	// PublishLatency is the time stores took to acknowledge publishes.
	PublishLatency Histogram
	// Ended counts subscriptions ended since Open, by reason: client,
	// slow, topic_closed, shutdown, lagged, write_failed, store_error,
	// token_expired.
	Ended map[string]int64
}

// Stats returns the hub's counters. It is cheap enough to call often.
func (h *Hub) Stats() Stats {
	c := &h.counters
	st := Stats{Subscribers: h.subs.count(), Parked: h.engine.parked() + h.parkedH2(), Published: c.published.Load(),
		Delivered: c.delivered.Load(), Replayed: c.replayed.Load(), BytesWritten: c.bytesWritten.Load(),
		StoreErrors: c.storeErrors.Load(), DamagedEvents: c.damaged.Load(), QueueHighWater: c.queueHigh.Load(), PublishLatency: c.publishTime.snapshot(),
		Ended: make(map[string]int64, numReasons)}
	for r := closeReason(1); r < numReasons; r++ {
		st.Ended[r.String()] = c.ended[r].Load()
	}
	return st
}
