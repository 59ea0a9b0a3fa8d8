package memory

import (
	"context"

	"github.com/herd-sse/herd/hub"
)

var _ hub.Reopener = (*Store)(nil)

// Reopen implements hub.Reopener: the topics' closes are forgotten; their
// events stay.
func (s *Store) Reopen(ctx context.Context, topics []string) (map[string]hub.Pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil, hub.ErrStoreClosed
	}
	out := make(map[string]hub.Pos)
	for _, t := range topics {
		if p, ok := s.closed[t]; ok {
			out[t] = p
			delete(s.closed, t)
		}
	}
	return out, nil
}
