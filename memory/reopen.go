package memory

import (
	"context"

	"github.com/herd-sse/herd"
)

var _ herd.Reopener = (*Store)(nil)

// Reopen implements hub.Reopener: the topics' closes are forgotten; their
// events stay.
func (s *Store) Reopen(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	return s.closes(topics, true)
}
