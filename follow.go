package herd

import (
	"context"
	"errors"
	"fmt"
)

// followBatch is the Limit of the batches FollowByReading hands to fn.
var followBatch = Limit{Events: 1024, Bytes: 16 << 20}

// FollowByReading is Store.Follow for a store that has no feed of its
// own: it reads the events after after with read (Store.Read, or a
// wrapper of it; at most 1024 events and 16 MiB of data at a time), hands
// each batch to fn, and once nothing is left calls wait, then reads again.
//
// wait returns once events after after may have been stored (it may
// return early: the loop reads again and finds nothing), or with ctx's
// error, or with the store's. It must not miss an event stored while
// FollowByReading was between its read and the wait, which a wait on the
// log's position (not on a notification sent before the wait began)
// ensures.
//
// It returns as Store.Follow documents: ctx's error once ctx is done (also
// when a read or wait fails because of it), fn's error as is, ErrLagged
// when a read reports a gap (events were trimmed before they could be
// handed on), and, at a damaged event, the *DamagedEventError after
// handing fn the events before it. Any other error of read or wait is
// returned as is.
func FollowByReading(ctx context.Context, after Pos, fn func([]Event) error,
	read func(ctx context.Context, after Pos, lim Limit) ([]Event, bool, error),
	wait func(ctx context.Context, after Pos) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		events, gap, err := read(ctx, after, followBatch)
		if err != nil && !errors.Is(err, ErrDamaged) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if gap {
			return fmt.Errorf("%w: events after position %d were trimmed", ErrLagged, after)
		}
		if len(events) > 0 {
			if err := fn(events); err != nil {
				return err
			}
			after = events[len(events)-1].Pos
		}
		if err != nil {
			return err // a damaged event: the caller goes on after it
		}
		if len(events) > 0 {
			continue
		}
		if err := wait(ctx, after); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}
