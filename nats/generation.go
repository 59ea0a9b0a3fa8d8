package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/herd-sse/herd"
)

// A stream's generation is its creation time: every id carries it (see
// hub.EpochIDs), and a stream deleted and created again (a wiped server,
// a restore) has another. Every stream info the store reads (Bounds,
// Read, the start of Follow, the closed-topics reader) is compared with
// it; when it changes the store adopts the new one, so that the earlier
// ids are unknown from then on, starts its closed topics over from the
// new stream and its bucket, and Follow returns hub.ErrReplaced.

// ids returns the id format of the generation the store is in.
func (s *Store) ids() herd.EpochIDs { return *s.gen.Load() }

// observe adopts the generation of a stream created at created, if it is
// not the store's: the first time (Open) it just records it.
func (s *Store) observe(created time.Time) {
	ids := herd.EpochIDs(strconv.FormatInt(created.UnixNano(), 36))
	for {
		cur := s.gen.Load()
		if cur != nil && *cur == ids {
			return
		}
		if s.gen.CompareAndSwap(cur, &ids) {
			if cur != nil {
				s.restartTopics()
			}
			return
		}
	}
}

// restartTopics replaces the closed-topics reader with one reading the new
// stream from its start. The old one is closed on its own goroutine: this
// may run on its reader's.
func (s *Store) restartTopics() {
	next := newClosedTopics(s)
	old := s.topics.Swap(next)
	go next.run(s.opts.Logger)
	if old != nil {
		s.retiring.Add(1)
		go func() {
			defer s.retiring.Done()
			old.close()
		}()
	}
}

// replaced is the error of a Follow that began in generation was.
func (s *Store) replaced(was herd.EpochIDs) error {
	return fmt.Errorf("%w: stream HERD_%s was created again (generation %s, now %s)", herd.ErrReplaced, s.opts.Prefix, was, s.ids())
}

// generationEvery is how often a Follow checks the stream's generation:
// an ordered consumer whose stream was deleted and created again resumes
// on the new stream as if it were the old one, at the old position.
const generationEvery = 5 * time.Second

// A followCheck bounds each wait of a Follow for its next message, so that
// the stream's generation is checked at least every generationEvery. One
// deadline serves every wait of a period: no timer per message.
type followCheck struct {
	s        *Store
	gen      herd.EpochIDs
	checked  time.Time
	deadline context.Context // of the current period, derived from Follow's
	cancel   context.CancelFunc
}

func (s *Store) generationCheck(gen herd.EpochIDs) *followCheck {
	return &followCheck{s: s, gen: gen, checked: time.Now()}
}

// next returns the context of the next wait.
func (c *followCheck) next(ctx context.Context) context.Context {
	if c.deadline == nil {
		c.deadline, c.cancel = context.WithDeadline(ctx, c.checked.Add(generationEvery))
	}
	return c.deadline
}

// done takes the error of a wait on the context from next, and returns
// the error Follow should return: ctx's, the wait's, or hub.ErrReplaced
// if the check is due and finds another generation. A nil result with no
// message means wait again.
func (c *followCheck) done(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		c.stop()
		return ctx.Err()
	case err != nil && !errors.Is(err, context.DeadlineExceeded):
		c.stop()
		return c.s.wrap("follow", err)
	case time.Since(c.checked) < generationEvery:
		return nil
	}
	c.stop()
	c.checked = time.Now()
	if _, err := c.s.state(ctx); err != nil {
		return err
	}
	if c.s.ids() != c.gen {
		return c.s.replaced(c.gen)
	}
	return nil
}

// stop ends the current period's deadline.
func (c *followCheck) stop() {
	if c.cancel != nil {
		c.cancel()
		c.deadline, c.cancel = nil, nil
	}
}

// resetAttempts bounds how often a reader's ordered consumer recreates
// itself (after 0s, 1s, 2s) before its reader sees the error and starts
// over on its own, checking the stream's generation: by default it would
// retry forever, and once a deleted stream is created again, go on
// reading the new stream from the old one's position.
const resetAttempts = 3
