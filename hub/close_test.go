package hub

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestClose_concurrent: a Close called while another drains returns only
// once the first has ended every stream and stopped the follower; a
// third whose context ends first returns that context's error.
func TestClose_concurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = 10 * time.Second
		h := newTimedHub(t, Config{ShutdownWindow: window})
		sub, err := h.Subscribe(t.Context(), []string{"a"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ended := make(chan error, 1)
		go func() {
			_, err := sub.Next(t.Context())
			ended <- err
		}()
		start := time.Now()
		first := make(chan error, 1)
		go func() { first <- h.Close(context.Background()) }()
		synctest.Wait() // the first Close is draining, waiting on the window's timers
		impatient, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if err := h.Close(impatient); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a Close whose context ends during the drain = %v, want its context's error", err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v", err)
		}
		synctest.Wait() // the reader of the stream, if it ended, has said so
		select {
		case err := <-ended:
			if !errors.Is(err, ErrShuttingDown) {
				t.Errorf("Next = %v, want ErrShuttingDown", err)
			}
		default:
			t.Fatal("the second Close returned before the stream ended")
		}
		select {
		case err := <-first:
			if err != nil {
				t.Errorf("first Close = %v", err)
			}
		default:
			t.Error("the second Close returned before the first ended")
		}
		if took := time.Since(start); took > window {
			t.Errorf("Close took %v, longer than the window", took)
		}
		if err := h.Close(context.Background()); err != nil { // once closed: at once
			t.Errorf("Close after Close = %v", err)
		}
	})
}

// TestClose_unopened: a hub never opened closes at once, twice.
func TestClose_unopened(t *testing.T) {
	h, err := New(Config{Store: memStore{}, NoEngine: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.Close(t.Context()); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
	if err := h.Open(t.Context()); err == nil {
		t.Error("Open after Close succeeded")
	}
}
