package herd

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// A scriptedLog is a log FollowByReading reads: events at positions, a
// damaged one, a trim point; wait blocks until ctx is done, and fails
// with an error of its own then.
type scriptedLog struct {
	events  []Event
	damaged Pos // 0: none
	trimmed Pos
	reads   []Pos // the positions read after, in order
	waits   int
	cancel  func() // if set, called by wait: ctx ends during it
}

func (l *scriptedLog) read(ctx context.Context, after Pos, lim Limit) ([]Event, bool, error) {
	l.reads = append(l.reads, after)
	var out []Event
	for _, e := range l.events {
		if e.Pos <= after {
			continue
		}
		if e.Pos == l.damaged {
			return out, after < l.trimmed, &DamagedEventError{Pos: e.Pos, ID: e.ID, Cause: "test"}
		}
		if !lim.Fits(len(out), 0, 0) || len(out) == 2 { // batches of two, to loop
			break
		}
		out = append(out, e)
	}
	return out, after < l.trimmed, nil
}

func (l *scriptedLog) wait(ctx context.Context, after Pos) error {
	l.waits++
	if l.cancel != nil {
		l.cancel()
	}
	<-ctx.Done()
	return errors.New("the wait's own error, masked by ctx's")
}

func logOf(n int) []Event {
	var events []Event
	for i := 1; i <= n; i++ {
		events = append(events, Event{Pos: Pos(i), ID: string(rune('a' + i - 1))})
	}
	return events
}

func positions(events []Event) []Pos {
	var out []Pos
	for _, e := range events {
		out = append(out, e.Pos)
	}
	return out
}

func TestFollowByReading(t *testing.T) {
	t.Run("in batches, then waits until ctx is done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		l := &scriptedLog{events: logOf(5), cancel: cancel}
		var got []Event
		err := FollowByReading(ctx, 1, func(events []Event) error { got = append(got, events...); return nil }, l.read, l.wait)
		if !errors.Is(err, context.Canceled) || !slices.Equal(positions(got), []Pos{2, 3, 4, 5}) {
			t.Errorf("got %v, %v; want events 2 to 5 and ctx's error", positions(got), err)
		}
		if !slices.Equal(l.reads, []Pos{1, 3, 5}) || l.waits != 1 {
			t.Errorf("read after %v, waited %d times; want after 1, 3, 5 and one wait", l.reads, l.waits)
		}
	})
	t.Run("fn's error as is", func(t *testing.T) {
		l := &scriptedLog{events: logOf(3)}
		stop := errors.New("stop")
		if err := FollowByReading(t.Context(), 0, func([]Event) error { return stop }, l.read, l.wait); err != stop {
			t.Errorf("got %v, want fn's error", err)
		}
	})
	t.Run("a gap is ErrLagged, before any event", func(t *testing.T) {
		l := &scriptedLog{events: logOf(3), trimmed: 2}
		called := false
		err := FollowByReading(t.Context(), 1, func([]Event) error { called = true; return nil }, l.read, l.wait)
		if !errors.Is(err, ErrLagged) || called {
			t.Errorf("got %v, fn called %v; want ErrLagged and no call", err, called)
		}
	})
	t.Run("a damaged event: the events before it, then its error", func(t *testing.T) {
		l := &scriptedLog{events: logOf(5), damaged: 4}
		var got []Event
		err := FollowByReading(t.Context(), 0, func(events []Event) error { got = append(got, events...); return nil }, l.read, l.wait)
		var d *DamagedEventError
		if !errors.As(err, &d) || d.Pos != 4 || !slices.Equal(positions(got), []Pos{1, 2, 3}) {
			t.Errorf("got %v, %v; want events 1 to 3 and the damage at 4", positions(got), err)
		}
	})
	t.Run("a read's error as is", func(t *testing.T) {
		failed := errors.New("store down")
		read := func(context.Context, Pos, Limit) ([]Event, bool, error) { return nil, false, failed }
		if err := FollowByReading(t.Context(), 0, func([]Event) error { return nil }, read, nil); err != failed {
			t.Errorf("got %v, want the read's error", err)
		}
	})
	t.Run("ctx done first: no read", func(t *testing.T) {
		l := &scriptedLog{events: logOf(1)}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := FollowByReading(ctx, 0, func([]Event) error { return nil }, l.read, l.wait); !errors.Is(err, context.Canceled) || len(l.reads) != 0 {
			t.Errorf("got %v after %d reads", err, len(l.reads))
		}
	})
}
