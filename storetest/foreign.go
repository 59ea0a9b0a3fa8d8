package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// Foreign checks how a store answers entries that someone else wrote
// into its log (a broker's stream anyone with access can add to): add(i)
// writes the i-th of n malformed entries there, bypassing the store.
// Each must be refused as a *hub.DamagedEventError, never served: Read
// stops before it and reads on after it, Follow hands over the events
// before it and stops; a hub on the store delivers a gap in its place, to
// live subscribers and to a resume alike, and counts it. s must be new
// and empty; the caller closes it.
func Foreign(t *testing.T, s herd.Store, n int, add func(t *testing.T, i int)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound on a hung test, not a timing
	defer cancel()
	before, _, err := s.Append(ctx, herd.Message{Topics: []string{"a"}, Data: "before"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		done, stop := context.WithCancel(ctx)
		stop()
		h.Close(done)
	}()
	live, err := h.Subscribe(ctx, []string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	other, err := h.Subscribe(ctx, []string{"elsewhere"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := range n {
		add(t, i)
	}
	after, _, err := h.Publish(ctx, herd.Message{Topics: []string{"a", "elsewhere"}, Data: "after"})
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

	gaps := make([]string, n)
	for i, p := range damaged {
		gaps[i] = fmt.Sprintf(`gap {"damaged":%q}`, s.ID(p))
	}
	expect := func(who string, sub *hub.Subscription, want ...string) {
		t.Helper()
		for _, w := range want {
			e, err := sub.Next(ctx)
			got := e.Data
			if e.Type == hub.GapEvent {
				got = "gap " + e.Data
			}
			if err != nil || got != w {
				t.Fatalf("%s: got %q, %v; want %q", who, got, err, w)
			}
		}
	}
	expect("live subscriber", live, append(gaps, "after")...)
	expect("live subscriber of another topic", other, append(gaps, "after")...)
	resumed, err := h.Subscribe(ctx, []string{"a"}, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	expect("resume from before the damage", resumed, append(gaps, "after")...)
	if got := h.Stats().DamagedEvents; got < int64(2*n) {
		t.Errorf("Stats.DamagedEvents = %d, want at least %d (follower and replay)", got, 2*n)
	}
}

func dataOf(events []herd.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Data)
	}
	return out
}
