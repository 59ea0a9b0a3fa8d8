package hub

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herd-sse/herd"
)

// gateStore's Bounds hands each call to the test on calls and answers
// what the test sends back: a store whose network call takes as long as
// the test wants.
type gateStore struct {
	nopStore
	calls chan chan error
}

func (s gateStore) Bounds(ctx context.Context) (herd.Bounds, error) {
	reply := make(chan error)
	s.calls <- reply
	select {
	case err := <-reply:
		return herd.Bounds{}, err
	case <-ctx.Done():
		return herd.Bounds{}, ctx.Err()
	}
}

// openGated starts an Open of a hub on a gateStore, and returns once
// it waits in Bounds: the reply channel that ends it, and Open's result.
func openGated(t *testing.T) (*Hub, gateStore, chan error, chan error) {
	t.Helper()
	store := gateStore{calls: make(chan chan error)}
	h, err := New(Config{Store: store, NoEngine: true})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() { opened <- h.Open(context.Background()) }()
	return h, store, <-store.calls, opened
}

// notYet fails if ch has a value: what should still be waiting returned.
func notYet(t *testing.T, what string, ch chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) while Open waited on the store", what, err)
	default:
	}
}

// An Open waiting on its store holds no lock: the hub still answers (as
// not open), and Close waits for the Open, then closes what it opened.
func TestOpen_closeDuringOpen(t *testing.T) {
	for _, fail := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			h, _, reply, opened := openGated(t)
			if !h.mu.TryLock() {
				t.Fatal("h.mu is held while Open waits on the store")
			}
			h.mu.Unlock()
			if h.isOpen() {
				t.Error("the hub is open before its store answered")
			}
			closed := make(chan error, 1)
			go func() { closed <- h.Close(context.Background()) }()
			synctest.Wait()
			notYet(t, "Close", closed)

			var want error
			if fail {
				want = errors.New("unreachable")
			}
			reply <- want
			if err := <-opened; (err != nil) != fail {
				t.Errorf("Open = %v, want failure %v", err, fail)
			}
			if err := <-closed; err != nil {
				t.Errorf("Close = %v", err)
			}
			if h.isOpen() {
				t.Error("the hub is open after Close")
			}
			if err := h.Open(context.Background()); err == nil {
				t.Error("Open after Close succeeded")
			}
		})
	}
}

// A Close whose context ends while an Open waits on the store returns its
// context's error, and the Open goes on.
func TestOpen_impatientClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _, reply, opened := openGated(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := h.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want its context's error", err)
		}
		reply <- nil
		if err := <-opened; err != nil {
			t.Fatalf("Open = %v", err)
		}
		if !h.isOpen() {
			t.Error("the hub is not open")
		}
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

// A second Open waits for the first: it fails if the first succeeded, and
// tries the store itself if the first failed; one whose context ends
// meanwhile returns that error.
func TestOpen_twice(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			h, store, reply, opened := openGated(t)
			second := make(chan error, 1)
			go func() { second <- h.Open(context.Background()) }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := h.Open(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("an Open whose context ends while another is under way = %v", err)
			}
			synctest.Wait()
			notYet(t, "the second Open", second)

			if firstFails {
				reply <- errors.New("unreachable")
				if err := <-opened; err == nil {
					t.Error("the first Open succeeded")
				}
				(<-store.calls) <- nil // the second asks the store in turn
				if err := <-second; err != nil {
					t.Errorf("the second Open, after the first failed = %v", err)
				}
			} else {
				reply <- nil
				if err := <-opened; err != nil {
					t.Errorf("the first Open = %v", err)
				}
				if err := <-second; err == nil {
					t.Error("the second Open, after the first succeeded, did too")
				}
			}
			if !h.isOpen() {
				t.Error("the hub is not open")
			}
			if err := h.Close(context.Background()); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
}
