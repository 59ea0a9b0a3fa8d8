package mercure

import (
	"container/list"
	"sync"
)

// compiled shares compiled selectors between requests: a thousand
// subscribers of one URL pattern compile it once. It is bounded both in
// entries and in the instructions their programs hold, so that no sequence
// of requests makes it grow past a few megabytes.
var compiled = newSelectorCache(4096, 256<<10)

type selectorKey struct{ kind, value string }

type selectorCache struct {
	mu         sync.Mutex
	maxEntries int
	maxWeight  int // instructions held by the programs cached
	weight     int
	order      *list.List // of *cacheEntry, most recently used first
	entries    map[selectorKey]*list.Element
}

type cacheEntry struct {
	key    selectorKey
	sel    *selector
	weight int
}

func newSelectorCache(maxEntries, maxWeight int) *selectorCache {
	return &selectorCache{maxEntries: maxEntries, maxWeight: maxWeight, order: list.New(), entries: map[selectorKey]*list.Element{}}
}

func (c *selectorCache) get(kind, value string) (*selector, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[selectorKey{kind, value}]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).sel, true
}

// put caches sel, weighing weight instructions, evicting the least
// recently used entries as the bounds require.
func (c *selectorCache) put(sel *selector, weight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := selectorKey{sel.kind, sel.value}
	if _, ok := c.entries[k]; ok || weight > c.maxWeight {
		return
	}
	c.entries[k] = c.order.PushFront(&cacheEntry{key: k, sel: sel, weight: weight})
	c.weight += weight
	for len(c.entries) > c.maxEntries || c.weight > c.maxWeight {
		last := c.order.Back()
		e := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.entries, e.key)
		c.weight -= e.weight
	}
}

// len returns the entries and instructions cached.
func (c *selectorCache) len() (entries, weight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.weight
}
