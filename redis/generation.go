package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herd-sse/herd"
)

// A prefix's generation is its epoch key: every id carries it (see
// hub.EpochIDs), and it is gone when the prefix's keys are deleted (a
// FLUSHALL, a restore without them). The store reads it with every Bounds
// and every Follow round; when it is gone or another, the store adopts
// the prefix's current one (creating it, with this node's history
// settings, if there is none), so that the earlier ids are unknown from
// then on, and Follow returns hub.ErrReplaced.

// ids returns the id format of the generation the store is in.
func (s *Store) ids() herd.EpochIDs { return *s.epoch.Load() }

// adopt makes epoch the store's generation.
func (s *Store) adopt(epoch string) {
	ids := herd.EpochIDs(epoch)
	s.epoch.Store(&ids)
}

// notice compares the epoch read from Redis (seen, "" if missing) with the
// store's generation, adopting the prefix's current one if they differ,
// and reports whether they did.
func (s *Store) notice(ctx context.Context, seen string) (bool, error) {
	if seen != "" && seen == string(s.ids()) {
		return false, nil
	}
	if _, err := s.record(ctx, false); err != nil {
		return false, err
	}
	return true, nil
}

// checkGeneration reads the prefix's epoch, adopting it if the store had
// not seen it yet, and returns hub.ErrReplaced if it is not gen.
func (s *Store) checkGeneration(ctx context.Context, gen herd.EpochIDs) error {
	seen, err := s.client.Get(ctx, s.keys.epoch).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return wrap("follow", err)
	}
	if _, err := s.notice(ctx, seen); err != nil {
		return err
	}
	if now := s.ids(); now != gen {
		return fmt.Errorf("%w: prefix %q was generation %s, it is %s now", herd.ErrReplaced, s.opts.Prefix, gen, now)
	}
	return nil
}
