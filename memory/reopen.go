package memory

import (
	"context"

	"github.com/herd-sse/herd/hub"
)

var _ hub.Reopener = (*Store)(nil)

// Reopen implements hub.Reopener: the topics' closes are forgotten; their
// events stay.
func (s *Store) Reopen(ctx context.Context, topics []string) (map[string]hub.Pos, error) {
	return s.closes(topics, true)
}
