package hub

import (
	"context"
	"log/slog"
)

// Ends are counted where they happen (subscriber.endLocked) and logged
// once no lock is held: dispatch holds registry.mu while it offers a
// frame to every subscriber, and a log line is I/O, so a storm of slow
// subscribers logged there would stall every publish behind the logger.

// endLevel is the level an end for reason is logged at: the ends an
// operator should hear of (slow, lagged, store) are warnings.
func endLevel(reason closeReason) slog.Level {
	if reason == reasonSlow || reason == reasonLagged || reason == reasonStore {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// ended logs the end of s, for reason. The caller holds no lock.
func (e *env) ended(s *subscriber, reason closeReason) {
	ctx, level := context.Background(), endLevel(reason)
	if !e.log.Enabled(ctx, level) { // spare building the attributes
		return
	}
	e.log.Log(ctx, level, "subscriber ended", "reason", reason.String(), "topics", s.selectors)
}

// endings records the subscribers ended while registry.mu was held (by
// dispatch, or by ending them all), to be logged after it is released:
// one line per reason, with a count and the topics of the first one as a
// sample. The zero value is empty; a nil *endings is too.
type endings struct {
	count  [numReasons]int
	sample [numReasons]*subscriber
}

// add records that s ended for reason. It allocates x on its first end,
// so that dispatch, whose subscribers nearly always keep up, pays nothing.
func (x *endings) add(s *subscriber, reason closeReason) *endings {
	if x == nil {
		x = new(endings)
	}
	if x.count[reason] == 0 {
		x.sample[reason] = s
	}
	x.count[reason]++
	return x
}

// log logs what x recorded. The caller holds no lock.
func (x *endings) log(e *env) {
	if x == nil {
		return
	}
	for reason, n := range x.count {
		r := closeReason(reason)
		switch {
		case n == 0:
		case n == 1:
			e.ended(x.sample[r], r)
		default:
			ctx, level := context.Background(), endLevel(r)
			if e.log.Enabled(ctx, level) {
				e.log.Log(ctx, level, "subscribers ended", "reason", r.String(), "count", n,
					"sample_topics", x.sample[r].selectors)
			}
		}
	}
}
