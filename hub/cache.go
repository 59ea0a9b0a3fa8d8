package hub

import (
	"slices"
	"sync"

	"github.com/herd-sse/herd"
)

// A replayCache holds the newest frames the follower dispatched: a
// contiguous stretch of the store's log, already encoded. Resumes from a
// point inside it are served from memory, so a reconnect storm costs no
// store reads and no encoding.
//
// Contiguity is what makes it safe: the follower receives every event of
// the log in order, so the cache holds every event after base, up to the
// newest it dispatched. Events stored but not yet dispatched are not in it;
// a subscriber replaying from the cache is registered already, so it gets
// them live, and the hand-over drops what it saw twice.
type replayCache struct {
	mu      sync.RWMutex
	frames  []*frame // ring; frames[head] is the oldest
	head    int
	n       int
	base    herd.Pos // the cache holds every event after base
	gen     string   // of the store's log (Bounds.Generation) it holds
	bytes   int
	maxN    int
	maxSize int
}

func newReplayCache(events, bytes int) *replayCache {
	if events <= 0 {
		return nil
	}
	return &replayCache{frames: make([]*frame, events), maxN: events, maxSize: bytes}
}

// reset empties the cache and makes it hold the events after base of
// generation gen: the follower is about to deliver from there.
func (c *replayCache) reset(base herd.Pos, gen string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.frames)
	c.head, c.n, c.bytes, c.base, c.gen = 0, 0, 0, base, gen
}

// add appends the next frame of the log.
func (c *replayCache) add(f *frame) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n > 0 && (c.n == c.maxN || c.bytes+f.size > c.maxSize) {
		old := c.frames[c.head]
		c.frames[c.head] = nil
		c.head = (c.head + 1) % c.maxN
		c.n--
		c.bytes -= old.size
		c.base = old.ev.Pos
	}
	c.frames[(c.head+c.n)%c.maxN] = f
	c.n++
	c.bytes += f.size
}

// after returns the frames after position p of generation gen, as far as
// lim allows (by their encoded size), and whether the cache covers p (if
// not, the caller reads the store). A cache of another generation covers
// nothing: its positions are another log's.
func (c *replayCache) after(gen string, p herd.Pos, lim herd.Limit) ([]*frame, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if p < c.base || gen != c.gen {
		return nil, false
	}
	// Find the first frame after p: positions increase along the ring.
	lo, hi := 0, c.n
	for lo < hi {
		mid := (lo + hi) / 2
		if c.frames[(c.head+mid)%c.maxN].ev.Pos <= p {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	var out []*frame
	bytes := 0
	for i := lo; i < c.n; i++ {
		f := c.frames[(c.head+i)%c.maxN]
		if !lim.Fits(len(out), bytes, f.size) {
			break
		}
		bytes += f.size
		out = append(out, f)
	}
	return out, true
}

// newestWith returns the newest cached event with topic, scanning from the
// newest back (at most the cache's capacity), and whether there is one.
func (c *replayCache) newestWith(topic string) (herd.Event, bool) {
	if c == nil {
		return herd.Event{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i := c.n - 1; i >= 0; i-- {
		if ev := c.frames[(c.head+i)%c.maxN].ev; slices.Contains(ev.Topics, topic) {
			return ev, true
		}
	}
	return herd.Event{}, false
}
