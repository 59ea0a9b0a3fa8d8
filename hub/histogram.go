package hub

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the publish latency histogram's
// buckets, in seconds: from a fast memory store (tens of µs) to a broker
// timing out (seconds).
var latencyBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// A histogram counts durations into latencyBounds' buckets, lock-free.
type histogram struct {
	counts [17]atomic.Uint64 // one per bound, and one past the last
	sumNS  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBounds) && s > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(int64(d))
}

// A Histogram is a snapshot of durations counted into buckets.
type Histogram struct {
	Bounds  []float64 // upper bounds of the buckets, in seconds, ascending
	Buckets []uint64  // cumulative: observations ≤ Bounds[i]
	Count   uint64    // all observations (the +Inf bucket)
	Sum     float64   // in seconds
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: latencyBounds, Buckets: make([]uint64, len(latencyBounds))}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if i < len(latencyBounds) {
			out.Buckets[i] = cum
		}
	}
	out.Count = cum
	out.Sum = time.Duration(h.sumNS.Load()).Seconds()
	return out
}
