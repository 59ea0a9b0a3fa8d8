package hub

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herd-sse/herd"
)

// flakyStore fails its appends while failing is set, as a store on a full
// disk does.
type flakyStore struct {
	nopStore
	failing *atomic.Bool
}

var errDiskFull = errors.New("write herd.db: no space left on device")

func (s flakyStore) Append(ctx context.Context, m herd.Message) (herd.Event, bool, error) {
	if err := ctx.Err(); err != nil {
		return herd.Event{}, false, err
	}
	if s.failing.Load() {
		return herd.Event{}, false, errDiskFull
	}
	return herd.Event{Pos: 1, ID: "1"}, false, nil
}

// checkingStore is a flakyStore that can check a write (a WriteChecker).
type checkingStore struct{ flakyStore }

func (s checkingStore) CheckWrite(ctx context.Context, size int) error {
	if s.failing.Load() {
		return errDiskFull
	}
	return nil
}

func openReadyHub(t *testing.T, store herd.Store) *Hub {
	t.Helper()
	h, err := New(Config{Store: store, NoEngine: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func publishOnce(h *Hub, ctx context.Context) error {
	_, _, err := h.Publish(ctx, herd.Message{Topics: []string{"t"}, Data: "x"})
	return err
}

// TestReadiness_failedPublish: a failed publish makes the hub not ready,
// with the cause; a publish cancelled by its own client does not; a store
// that cannot check a write keeps the hub not ready for failureHold, or
// until a publish succeeds.
func TestReadiness_failedPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := new(atomic.Bool)
		h := openReadyHub(t, flakyStore{failing: failing})
		if err := h.readiness(t.Context()); err != nil {
			t.Fatalf("readiness of a new hub: %v", err)
		}
		failing.Store(true)
		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		if err := publishOnce(h, cancelled); err == nil {
			t.Fatal("a publish to the failing store succeeded")
		}
		if err := h.readiness(t.Context()); err != nil {
			t.Errorf("readiness after a publish its client cancelled: %v, want ready", err)
		}
		if err := publishOnce(h, t.Context()); CodeOf(err) != EUnavailable {
			t.Fatalf("publish to the failing store: %v, want unavailable", err)
		}
		err := h.readiness(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Fatalf("readiness after a failed publish: %v, want the cause", err)
		}
		failing.Store(false)
		time.Sleep(failureHold - time.Second)
		if h.readiness(t.Context()) == nil {
			t.Error("ready again before failureHold passed, with no publish")
		}
		time.Sleep(time.Second)
		if err := h.readiness(t.Context()); err != nil {
			t.Errorf("readiness once failureHold passed: %v", err)
		}

		failing.Store(true)
		publishOnce(h, t.Context())
		failing.Store(false)
		if err := publishOnce(h, t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := h.readiness(t.Context()); err != nil {
			t.Errorf("readiness after a publish succeeded: %v", err)
		}
	})
}

// TestReadiness_writeChecker: with a store that can check a write, the
// hub stays not ready while the check fails, however long, and is ready as
// soon as it passes.
func TestReadiness_writeChecker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := new(atomic.Bool)
		h := openReadyHub(t, checkingStore{flakyStore{failing: failing}})
		failing.Store(true)
		publishOnce(h, t.Context())
		time.Sleep(10 * failureHold)
		if err := h.readiness(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot take publishes") {
			t.Fatalf("readiness while the write check fails: %v", err)
		}
		failing.Store(false)
		if err := h.readiness(t.Context()); err != nil {
			t.Fatalf("readiness once the write check passes: %v", err)
		}
		if h.writes.failure.Load() != nil {
			t.Error("the failure is still recorded after a write check passed")
		}
	})
}
