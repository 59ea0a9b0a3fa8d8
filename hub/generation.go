package hub

import "github.com/herd-sse/herd"

// startOver makes the hub follow the log whose bounds are b, dropping what
// it held of an earlier one, and returns where to follow from.
func (h *Hub) startOver(b herd.Bounds, why error) (herd.Pos, string) {
	h.log.Error("the store's log was wiped or replaced: dropping the replay cache and disconnecting subscribers so they resume",
		"err", why, "generation", b.Generation)
	h.subs.each(func(s *subscriber) { s.end(reasonStore) })
	h.cache.reset(b.Last, b.Generation)
	return b.Last, b.Generation
}

// otherLog reports whether b are the bounds of another log than the one
// followed up to after in generation gen: another generation, or a log
// that went backwards.
func otherLog(b herd.Bounds, gen string, after herd.Pos) bool {
	return b.Generation != gen || b.Last < after
}
