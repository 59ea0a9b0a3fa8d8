package mercure

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/herd-sse/herd/hub"
)

// regProbe is a slog handler that notes whether the Handler's reg.mu was
// held when each record was logged.
type regProbe struct {
	reg *registry

	mu       sync.Mutex
	messages []string
	held     []string // logged under reg.mu
}

func (p *regProbe) Enabled(context.Context, slog.Level) bool { return true }
func (p *regProbe) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *regProbe) WithGroup(string) slog.Handler            { return p }

func (p *regProbe) Handle(_ context.Context, r slog.Record) error {
	reg := p.reg
	free := reg == nil || reg.mu.TryLock()
	if free && reg != nil {
		reg.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.messages = append(p.messages, r.Message)
	if !free {
		p.held = append(p.held, r.Message)
	}
	return nil
}

// TestAnnounce_endsLoggedAfterLock: a subscription event that fills a
// watcher's queue ends the watcher as slow, and the hub logs that end
// after the subscriptions registry's lock is released (a log line is I/O:
// a storm of slow watchers must not hold every subscribe behind it).
func TestAnnounce_endsLoggedAfterLock(t *testing.T) {
	probe := &regProbe{}
	f := newFixtureHub(t, hub.Config{QueueLength: 1, NoEngine: true, Logger: slog.New(probe)}, true,
		func(h *Handler) { h.Subscriptions = true })
	h := f.handler
	probe.mu.Lock()
	probe.reg = &h.reg
	probe.mu.Unlock()
	all, err := parseSelector(kindExact, "*", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Watchers of every subscription whose streams are never served: their
	// queues (one frame) fill with their own subscription's event.
	var ends []func()
	for range 2 {
		fs, err := h.Hub.SubscribeFace(t.Context(), h.face(), hub.FaceOptions{Selectors: []string{"w"}}, httptest.NewRequest("GET", "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fs.Close)
		sub := &subscriber{selectors: []*selector{all}, private: []*selector{all}}
		ends = append(ends, h.open(fs, sub, []*selector{all}, nil))
	}
	for _, end := range ends {
		end()
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if len(probe.held) > 0 {
		t.Errorf("logged under the subscriptions registry's lock: %q", probe.held)
	}
	ended := 0
	for _, m := range probe.messages {
		if m == "subscriber ended" || m == "subscribers ended" {
			ended++
		}
	}
	if ended == 0 {
		t.Errorf("no watcher ended as slow (logged %q): the test fills no queue", probe.messages)
	}
}
