// Package bench is herd bench: a load generator for SSE hubs (herd or any
// other, through URL and publish templates), the scenarios B1–B6 of
// research/performance.md, and the naive net/http hub they are compared
// with in the same run.
package bench

import (
	"math"
	"math/bits"
	"time"
)

// A Hist is a log-linear latency histogram in the manner of HdrHistogram:
// 32 linear sub-buckets per power of two of nanoseconds, so any value is
// recorded within about 3%. The zero value is ready; it is not safe for
// concurrent use (each event loop keeps its own and they are merged).
type Hist struct {
	counts [64 * subBuckets]uint64
	n      uint64
	max    time.Duration
}

const subBits = 5
const subBuckets = 1 << subBits

func bucketOf(v int64) int {
	if v < subBuckets {
		return int(max(v, 0))
	}
	exp := bits.Len64(uint64(v)) - 1 - subBits
	return (exp+1)*subBuckets + int(v>>exp) - subBuckets
}

// lowest value in bucket b.
func valueOf(b int) int64 {
	if b < subBuckets {
		return int64(b)
	}
	exp := b/subBuckets - 1
	return int64(b%subBuckets+subBuckets) << exp
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's observations to h.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns the number of observations.
func (h *Hist) Count() uint64 { return h.n }

// Quantile returns the value below which q of the observations fall.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	target := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= target {
			// report the middle of the bucket
			return time.Duration((valueOf(b) + valueOf(b+1)) / 2)
		}
	}
	return h.max
}

// Max returns the largest observation.
func (h *Hist) Max() time.Duration { return h.max }

// Latency is the summary reported for a histogram.
type Latency struct {
	P50, P90, P99, P999, Max Millis
}

// Millis is a duration reported in milliseconds.
type Millis float64

func ms(d time.Duration) Millis { return Millis(math.Round(float64(d)/1e3) / 1e3) }

// Summary returns the reported percentiles.
func (h *Hist) Summary() Latency {
	return Latency{ms(h.Quantile(.5)), ms(h.Quantile(.9)), ms(h.Quantile(.99)), ms(h.Quantile(.999)), ms(h.max)}
}
