package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd"
)

// failureHold is how long a failed publish keeps a node not ready when
// its store is no WriteChecker: without a publish to succeed, nothing
// else could tell it that the store recovered.
const failureHold = 10 * time.Second

// writeHealth is the outcome of the node's latest store append: the
// failure since the last success, if any. Publishes update it with one
// atomic load when nothing changes, so it costs the hot path nothing.
type writeHealth struct {
	failure atomic.Pointer[writeFailure]
}

type writeFailure struct {
	err error
	at  time.Time
}

// succeeded records an append the store took (or refused as it should).
func (w *writeHealth) succeeded() {
	if w.failure.Load() != nil {
		w.failure.Store(nil)
	}
}

// failed records an append the store could not take.
func (w *writeHealth) failed(err error) {
	w.failure.Store(&writeFailure{err: err, at: time.Now()})
}

// recordAppend records the outcome of a store append made for a request
// whose context was ctx: the request's own end (its client gone, its
// deadline passed) says nothing of the store.
func (w *writeHealth) recordAppend(ctx context.Context, err error) {
	var closed *herd.TopicClosedError
	switch {
	case err == nil, errors.As(err, &closed):
		w.succeeded()
	case ctx.Err() == nil || !errors.Is(err, ctx.Err()):
		w.failed(err)
	}
}

// readiness returns why the hub should take no traffic now, or nil: it is
// starting or draining, its store does not answer, or its publishes fail
// (the last append failed, and the store cannot take a write yet).
func (h *Hub) readiness(ctx context.Context) error {
	if !h.isOpen() {
		return errors.New("not serving (starting or shutting down)")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := h.cfg.Store.Ping(ctx); err != nil {
		return fmt.Errorf("store unavailable: %w", err)
	}
	f := h.writes.failure.Load()
	if f == nil {
		return nil
	}
	if wc, ok := h.cfg.Store.(herd.WriteChecker); ok {
		if err := wc.CheckWrite(ctx, h.cfg.MaxEventSize); err != nil {
			return fmt.Errorf("store cannot take publishes: %w", err)
		}
		h.writes.failure.CompareAndSwap(f, nil) // unless a newer failure came in meanwhile
		return nil
	}
	if time.Since(f.at) < failureHold {
		return fmt.Errorf("store cannot take publishes: the last one failed %s ago: %w",
			time.Since(f.at).Round(time.Second), f.err)
	}
	return nil
}

// serveReady answers /readyz: 200 when the hub can serve subscriptions and
// publishes, else 503 with the reason.
func (h *Hub) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := h.readiness(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
