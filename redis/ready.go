package redis

import (
	"context"
	"time"

	"github.com/herd-sse/herd"
)

var _ herd.WriteChecker = (*Store)(nil)

// CheckWrite implements hub.WriteChecker with a write of a small key that
// expires at once: Redis refuses every write alike, whatever its size,
// when it cannot take them (over maxmemory, a failing disk under
// persistence, a read-only replica), so size does not matter.
func (s *Store) CheckWrite(ctx context.Context, size int) error {
	if err := s.client.Set(ctx, s.keys.writeCheck, "1", time.Second).Err(); err != nil {
		return wrap("write check", err)
	}
	return nil
}
