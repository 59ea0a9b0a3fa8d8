package cli

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/herd-sse/herd/hub"
)

// A trimmer decides when to hand memory back to the operating system.
//
// Go's runtime returns freed memory slowly: after a crowd of subscribers
// leaves, the heap is small again, but the process keeps its peak size
// until a periodic GC (every two minutes) and the background scavenger get
// to it. For a hub, whose memory is mostly its subscribers, a host sized
// for a busy hour would look full all night. So when the number of
// subscribers has fallen to half of its peak, and by at least minDrop,
// herd serve frees at once. A full GC costs milliseconds on a heap this
// size, and happens at most once per halving.
type trimmer struct {
	minDrop int
	peak    int
}

// observe records the subscriber count and reports whether to free now.
func (t *trimmer) observe(n int) bool {
	if n > t.peak {
		t.peak = n
		return false
	}
	if t.peak-n >= t.minDrop && n <= t.peak/2 {
		t.peak = n
		return true
	}
	return false
}

// returnMemory watches h every interval until ctx is done.
func returnMemory(ctx context.Context, h *hub.Hub, interval time.Duration, logger *slog.Logger) {
	t := trimmer{minDrop: 1000}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n := h.Stats().Subscribers
			if peak := t.peak; t.observe(n) {
				start := time.Now()
				debug.FreeOSMemory()
				logger.Debug("memory returned to the system", "subscribers", n, "peak", peak, "took", time.Since(start))
			}
		}
	}
}
