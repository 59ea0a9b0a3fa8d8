package hub

import "sync"

// A registry holds a hub's subscribers, indexed by their selectors so
// that dispatch finds the ones an event is for without looking at the
// rest, and admits new ones within the hub's limits until the hub closes.
//
// mu comes first in the lock order (see the package doc): dispatch holds
// it, to read, while it queues frames to subscribers (subscriber.mu).
type registry struct {
	limits *limits

	mu     sync.RWMutex
	index  *index
	subs   map[*subscriber]struct{}
	closed bool // the hub is closing: no new subscribers

	endedMu sync.Mutex // innermost: taken inside mu, or alone
	ended   *endings   // what offer ended, until it returns them
}

func newRegistry(l *limits) *registry {
	return &registry{limits: l, index: newIndex(), subs: make(map[*subscriber]struct{})}
}

// add admits s, unless the hub is closing or a limit refuses it.
func (r *registry) add(s *subscriber) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return shuttingDown
	}
	if err := r.limits.join(s.addr, len(r.subs)); err != nil {
		return err
	}
	for _, sel := range s.selectors {
		r.index.add(sel, s)
	}
	r.subs[s] = struct{}{}
	return nil
}

// remove takes s out, if it is in, and reports whether it was.
func (r *registry) remove(s *subscriber) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.subs[s]; !ok {
		return false
	}
	for _, sel := range s.selectors {
		r.index.remove(sel, s)
	}
	delete(r.subs, s)
	r.limits.leave(s.addr)
	return true
}

// offer offers f to every subscriber whose selectors match one of its
// topics (each takes it once: see subscriber.offer), and returns those it
// ended as slow, for the caller to log once the lock is released.
func (r *registry) offer(f *frame) *endings {
	r.mu.RLock()
	for _, t := range f.ev.Topics {
		// The closure writes to no variable it captures: one that did
		// (the ends, kept here) measured twice as slow, dispatching to
		// 10,000 subscribers (BenchmarkDispatch).
		r.index.match(t, func(s *subscriber) {
			if s.offer(f) {
				r.endedSlow(s)
			}
		})
	}
	r.mu.RUnlock()
	return r.takeEnded()
}

// endedSlow records s, which offer ended as slow.
func (r *registry) endedSlow(s *subscriber) {
	r.endedMu.Lock()
	r.ended = r.ended.add(s, reasonSlow)
	r.endedMu.Unlock()
}

// takeEnded returns the ends endedSlow recorded, if any.
func (r *registry) takeEnded() *endings {
	r.endedMu.Lock()
	defer r.endedMu.Unlock()
	x := r.ended
	r.ended = nil
	return x
}

// offerAll offers f to every subscriber, like offer.
func (r *registry) offerAll(f *frame) *endings {
	var ended *endings
	r.mu.RLock()
	defer r.mu.RUnlock()
	for s := range r.subs {
		if s.offer(f) {
			ended = ended.add(s, reasonSlow)
		}
	}
	return ended
}

// endAll ends every subscriber for reason, and returns those it ended
// (some may have ended already), for the caller to log once the lock is
// released.
func (r *registry) endAll(reason closeReason) *endings {
	var ended *endings
	r.mu.RLock()
	defer r.mu.RUnlock()
	for s := range r.subs {
		if s.endQuiet(reason) {
			ended = ended.add(s, reason)
		}
	}
	return ended
}

// close refuses new subscribers from now on and returns the ones there are.
func (r *registry) close() []*subscriber {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	subs := make([]*subscriber, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	return subs
}

func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.subs)
}

// reach returns, for each of topics and each topic subscribers name
// without wildcards, how many subscribers a publish to it would reach
// (wildcard subscribers included).
func (r *registry) reach(topics []string) map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int, len(topics)+len(r.index.exact))
	count := func(t string) {
		seen := map[*subscriber]bool{}
		r.index.match(t, func(s *subscriber) { seen[s] = true })
		out[t] = len(seen)
	}
	for _, t := range topics {
		count(t)
	}
	for t := range r.index.exact {
		if _, ok := out[t]; !ok {
			count(t)
		}
	}
	return out
}
