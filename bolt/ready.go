package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/herd-sse/herd"
)

var _ herd.WriteChecker = (*Store)(nil)

// writeCheckKey is the meta record CheckWrite writes and removes.
var writeCheckKey = []byte("writecheck")

// CheckWrite implements hub.WriteChecker: it commits size bytes of scratch
// data to the file, synced, as an append of an event that large would,
// then removes them in a second commit (the pages return to the file's
// free list, for the next appends). A full disk fails the first commit.
func (s *Store) CheckWrite(ctx context.Context, size int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	scratch := make([]byte, max(size, 1))
	if err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(writeCheckKey, scratch)
	}); err != nil {
		return fmt.Errorf("bolt: write check: %w", err)
	}
	if err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(writeCheckKey)
	}); err != nil {
		return fmt.Errorf("bolt: write check: %w", err)
	}
	return nil
}
