package hub

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/herd-sse/herd"
)

// lockProbe is a slog handler that notes, for every record, whether
// registry.mu was held when it was logged.
type lockProbe struct {
	reg *registry

	mu      sync.Mutex
	records []slog.Record
	held    []string // the messages logged under registry.mu
}

func (p *lockProbe) Enabled(context.Context, slog.Level) bool { return true }
func (p *lockProbe) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *lockProbe) WithGroup(string) slog.Handler            { return p }

func (p *lockProbe) Handle(_ context.Context, r slog.Record) error {
	free := p.reg.mu.TryLock() // fails if anyone holds it, to read or to write
	if free {
		p.reg.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, r)
	if !free {
		p.held = append(p.held, r.Message)
	}
	return nil
}

// take returns the records logged since the last take.
func (p *lockProbe) take() ([]slog.Record, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, h := p.records, p.held
	p.records, p.held = nil, nil
	return r, h
}

func attrs(r slog.Record) map[string]slog.Value {
	m := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value
		return true
	})
	return m
}

// TestEndings_notUnderLock: the subscribers dispatch ends as slow, and
// those the follower ends all at once (the store replaced, a damaged
// event's gap filling their queues), are logged after registry.mu is
// released, in one line per reason, however many they are.
func TestEndings_notUnderLock(t *testing.T) {
	probe := &lockProbe{}
	h, err := New(Config{Store: nopStore{}, QueueLength: 1, ReplayCache: -1, NoEngine: true, Logger: slog.New(probe)})
	if err != nil {
		t.Fatal(err)
	}
	probe.reg = h.subs
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	subscribe := func(n int, topic string) []*subscriber {
		subs := make([]*subscriber, n)
		for i := range subs {
			if subs[i], err = h.subscribe(t.Context(), []string{topic}, "", nil, netip.Addr{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		return subs
	}
	check := func(what string, want closeReason, n int, subs []*subscriber) {
		t.Helper()
		for _, s := range subs {
			if r := s.endReason(); r != want {
				t.Fatalf("%s: a subscriber ended for %v, want %v", what, r, want)
			}
		}
		all, held := probe.take()
		if len(held) > 0 {
			t.Errorf("%s: logged under registry.mu: %q", what, held)
		}
		var records []slog.Record
		for _, r := range all {
			if strings.HasPrefix(r.Message, "subscriber") {
				records = append(records, r)
			}
		}
		if len(records) != 1 {
			t.Fatalf("%s: %d log records, want 1 for every subscriber ended", what, len(records))
		}
		a := attrs(records[0])
		if records[0].Message != "subscribers ended" || a["reason"].String() != want.String() || a["count"].Int64() != int64(n) {
			t.Errorf("%s: logged %q %v, want %d subscribers ended for %v", what, records[0].Message, a, n, want)
		}
		for _, s := range subs {
			h.unsubscribe(s, reasonClient) // already ended: logs nothing
		}
		if records, _ := probe.take(); len(records) != 0 {
			t.Errorf("%s: removing ended subscribers logged %d records", what, len(records))
		}
	}

	const n = 50
	slow := subscribe(n, "a")
	h.dispatch(herd.Event{Pos: 1, ID: "1", Topics: []string{"a"}, Data: "fills the queue"})
	if records, _ := probe.take(); len(records) != 0 {
		t.Fatalf("logged %d records before anyone ended", len(records))
	}
	h.dispatch(herd.Event{Pos: 2, ID: "2", Topics: []string{"a"}, Data: "overflows it"})
	check("dispatch", reasonSlow, n, slow)

	full := subscribe(n, "b")
	h.dispatch(herd.Event{Pos: 3, ID: "3", Topics: []string{"b"}, Data: "fills the queue"})
	h.skipDamaged(&herd.DamagedEventError{Pos: 4, ID: "4"}, "") // its gap overflows them
	check("a damaged event's gap", reasonSlow, n, full)

	replaced := subscribe(n, "c")
	probe.take()
	h.subs.endAll(reasonStore).log(h.env)
	check("the store replaced", reasonStore, n, replaced)
}

// TestEndings_one: a lone end is logged as before, with its topics.
func TestEndings_one(t *testing.T) {
	probe := &lockProbe{}
	h, err := New(Config{Store: nopStore{}, QueueLength: 1, ReplayCache: -1, NoEngine: true, Logger: slog.New(probe)})
	if err != nil {
		t.Fatal(err)
	}
	probe.reg = h.subs
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	s, err := h.subscribe(t.Context(), []string{"a"}, "", nil, netip.Addr{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.dispatch(herd.Event{Pos: 1, ID: "1", Topics: []string{"a"}})
	h.dispatch(herd.Event{Pos: 2, ID: "2", Topics: []string{"a"}})
	records, held := probe.take()
	if len(held) > 0 || len(records) != 1 || records[0].Message != "subscriber ended" ||
		attrs(records[0])["reason"].String() != "slow" || attrs(records[0])["topics"].String() != "[a]" {
		t.Errorf("records %v (under the lock: %q), want one: subscriber ended, slow, [a]", records, held)
	}
	h.unsubscribe(s, reasonClient)
}
