package hub

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herd-sse/herd"
)

// memStore is the smallest Store for the timer tests: it holds nothing and
// never blocks but in Follow (the real stores import hub).
type memStore struct{ nopStore }

// newTimedHub opens a hub, without the connection engine (its sockets
// would not be durably blocked), inside a synctest bubble.
func newTimedHub(t *testing.T, cfg Config) *Hub {
	t.Helper()
	cfg.Store, cfg.NoEngine = memStore{}, true
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestClose_spread: on Close, open subscriptions end at random moments
// within the shutdown window, not all at once, and Close returns once they
// all have.
func TestClose_spread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, n = 10 * time.Second, 40
		h := newTimedHub(t, Config{ShutdownWindow: window})
		start := time.Now()
		ends := make(chan time.Duration, n)
		for range n {
			sub, err := h.Subscribe(t.Context(), []string{"a"}, "")
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				if _, err := sub.Next(t.Context()); !errors.Is(err, ErrShuttingDown) {
					t.Errorf("Next = %v, want ErrShuttingDown", err)
				}
				ends <- time.Since(start)
			}()
		}
		synctest.Wait()
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > window {
			t.Errorf("Close took %v, longer than the window", took)
		}
		distinct := map[time.Duration]bool{}
		for range n {
			d := <-ends
			if d > window {
				t.Errorf("a subscription ended after %v, past the window", d)
			}
			distinct[d] = true
		}
		if len(distinct) < n/2 {
			t.Errorf("%d distinct end times for %d subscriptions: not spread", len(distinct), n)
		}
	})
}

// TestClose_deadline: a Close whose context ends ends every subscription
// at once.
func TestClose_deadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTimedHub(t, Config{ShutdownWindow: time.Hour})
		sub, err := h.Subscribe(t.Context(), []string{"a"}, "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.Close(ctx)
		if took := time.Since(start); took != 2*time.Second {
			t.Errorf("Close took %v, want its context's 2s", took)
		}
		if _, err := sub.Next(t.Context()); !errors.Is(err, ErrShuttingDown) {
			t.Errorf("Next = %v", err)
		}
	})
}

// TestExpiry: a stream whose token expires gets the token-expired event
// when it does, after what was queued before, and ends.
func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTimedHub(t, Config{})
		defer h.Close(context.Background())
		expires := time.Now().Add(time.Hour)
		s, err := h.subscribe(t.Context(), []string{"a"}, "", &Grant{Subscribe: []string{"**"}, Expires: expires}, netip.Addr{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.expiry = time.AfterFunc(time.Until(expires), s.expire)
		defer h.unsubscribe(s, reasonClient)
		h.dispatch(herd.Event{Pos: 1, ID: "1", Topics: []string{"a"}, Data: "before"})
		items, err := s.next(t.Context(), nil, nil)
		if err != nil || len(items) != 1 || items[0].ev.Data != "before" {
			t.Fatalf("next = %+v, %v", items, err)
		}
		items, err = s.next(t.Context(), nil, items[:0])
		if err != nil || len(items) != 1 || items[0].ev.Type != ExpiredEvent || !time.Now().Equal(expires) {
			t.Fatalf("next = %+v, %v at %v; want the expired event at %v", items, err, time.Now(), expires)
		}
		if _, err := s.next(t.Context(), nil, nil); err != io.EOF {
			t.Errorf("after the expired event: %v, want io.EOF", err)
		}
	})
}
