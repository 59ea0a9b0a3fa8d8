package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herd-sse/herd"
)

// Foreign checks how a store answers entries that someone else wrote
// into its log (a broker's stream anyone with access can add to): add(i)
// writes the i-th of n malformed entries there, bypassing the store.
// Each must be refused as a *herd.DamagedEventError, never served: Read
// stops before it and reads on after it, Follow hands over the events
// before it and stops. (What a hub makes of such an error, a gap in its
// place for every subscriber, is the hub's, and tested there, over a bolt
// file damaged in place.) s must be new and empty; the caller closes it.
func Foreign(t *testing.T, s herd.Store, n int, add func(t *testing.T, i int)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound on a hung test, not a timing
	defer cancel()
	before, _, err := s.Append(ctx, herd.Message{Topics: []string{"a"}, Data: "before"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		add(t, i)
	}
	after, _, err := s.Append(ctx, herd.Message{Topics: []string{"a", "elsewhere"}, Data: "after"})
	if err != nil {
		t.Fatal(err)
	}

	// Read, going on after each damaged entry as the hub does.
	var served []herd.Event
	var damaged []herd.Pos
	for at := herd.Pos(0); ; {
		events, _, err := s.Read(ctx, at, herd.Limit{Events: 100})
		served = append(served, events...)
		if len(events) > 0 {
			at = events[len(events)-1].Pos
		}
		var d *herd.DamagedEventError
		if errors.As(err, &d) {
			if !errors.Is(err, herd.ErrDamaged) || d.ID != s.ID(d.Pos) || d.Pos <= at || d.Cause == "" {
				t.Fatalf("damaged entry reported as %#v", d)
			}
			damaged, at = append(damaged, d.Pos), d.Pos
			continue
		}
		if err != nil {
			t.Fatalf("Read after %d: %v", at, err)
		}
		if len(events) == 0 {
			break
		}
	}
	if len(served) != 2 || served[0].ID != before.ID || served[1].ID != after.ID {
		t.Errorf("Read served %d events: %v; want the 2 whole ones", len(served), dataOf(served))
	}
	if len(damaged) != n || (n > 0 && (damaged[0] <= before.Pos || damaged[n-1] >= after.Pos)) {
		t.Errorf("Read reported %d damaged entries at %v, want %d between %d and %d", len(damaged), damaged, n, before.Pos, after.Pos)
	}
	if n == 0 {
		return
	}
	var followed []herd.Event
	fctx, fcancel := context.WithCancel(ctx)
	err = s.Follow(fctx, 0, func(events []herd.Event) error { followed = append(followed, events...); return nil })
	fcancel()
	var d *herd.DamagedEventError
	if !errors.As(err, &d) || d.Pos != damaged[0] || len(followed) != 1 || followed[0].ID != before.ID {
		t.Errorf("Follow over a damaged entry: %v, after %v", err, dataOf(followed))
	}
	// Follow on after each, as the hub's follower does: the next damaged
	// entry stops it, and after the last the whole event after them comes.
	errAfter := errors.New("the event after the damage")
	for i, p := range damaged {
		followed = nil
		err := s.Follow(ctx, p, func(events []herd.Event) error {
			followed = append(followed, events...)
			if events[len(events)-1].ID == after.ID {
				return errAfter
			}
			return nil
		})
		switch {
		case i < n-1 && (!errors.As(err, &d) || d.Pos != damaged[i+1] || len(followed) != 0):
			t.Errorf("Follow after damaged entry %d: %v, after %v; want the next damaged entry, alone", p, err, dataOf(followed))
		case i == n-1 && (!errors.Is(err, errAfter) || len(followed) != 1):
			t.Errorf("Follow after the last damaged entry: %v, after %v; want the event after it", err, dataOf(followed))
		}
	}
}

func dataOf(events []herd.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Data)
	}
	return out
}
