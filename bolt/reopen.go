package bolt

import (
	"context"
	"errors"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/herd-sse/herd"
)

var _ herd.Reopener = (*Store)(nil)

// Reopen implements hub.Reopener: the topics' closes are removed from the
// file in one transaction, which bbolt orders with the appends'; their
// events stay.
func (s *Store) Reopen(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	s.mu.Lock()
	shut := s.shut
	s.mu.Unlock()
	if shut {
		return nil, herd.ErrStoreClosed
	}
	var out map[string]herd.Pos
	err := s.update(func(tx *bbolt.Tx) error {
		out = make(map[string]herd.Pos)
		b := tx.Bucket(bucketClosed)
		for _, t := range topics {
			if v := b.Get([]byte(t)); len(v) == 8 {
				out[t] = posOf(v)
				if err := b.Delete([]byte(t)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return nil, herd.ErrStoreClosed
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
