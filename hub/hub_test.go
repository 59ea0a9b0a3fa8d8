package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

func newHub(t testing.TB, cfg hub.Config, retention herd.Retention) *hub.Hub {
	t.Helper()
	if cfg.Store == nil {
		store := memory.New(memory.Options{StoreOptions: herd.StoreOptions{Retention: retention}})
		t.Cleanup(func() { store.Close() })
		cfg.Store = store
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // end subscriptions at once
		h.Close(ctx)
	})
	return h
}

func publish(t *testing.T, h *hub.Hub, m herd.Message) herd.Event {
	t.Helper()
	e, _, err := h.Publish(t.Context(), m)
	if err != nil {
		t.Fatalf("Publish(%+v): %v", m, err)
	}
	return e
}

func msg(data string, topics ...string) herd.Message {
	return herd.Message{Topics: topics, Data: data}
}

func subscribe(t *testing.T, h *hub.Hub, lastID string, selectors ...string) *hub.Subscription {
	t.Helper()
	s, err := h.Subscribe(t.Context(), selectors, lastID)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", selectors, lastID, err)
	}
	t.Cleanup(s.Close)
	return s
}

func next(t *testing.T, s *hub.Subscription) herd.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

// expect checks the next events' data (a close event is "<close>", a gap
// "<gap>").
func expect(t *testing.T, s *hub.Subscription, want ...string) {
	t.Helper()
	for _, w := range want {
		e := next(t, s)
		got := e.Data
		switch e.Type {
		case "close":
			got = "<close>"
		case hub.GapEvent:
			got = "<gap>"
		}
		if got != w {
			t.Fatalf("got %q (%+v), want %q", got, e, w)
		}
	}
}

func expectEnd(t *testing.T, s *hub.Subscription, want error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, want) {
		t.Fatalf("Next = %v, want %v", err, want)
	}
}

// expectNothing checks that nothing more is on its way to s: it publishes
// a marker to topics (which s must match) and expects it next. Events
// reach a subscriber in publish order, so anything pending would come
// first; no waiting for a while is needed to prove absence.
func expectNothing(t *testing.T, h *hub.Hub, s *hub.Subscription, topics ...string) {
	t.Helper()
	publish(t, h, msg("<marker>", topics...))
	if e := next(t, s); e.Data != "<marker>" {
		t.Fatalf("unexpected event %+v before the marker", e)
	}
}

func TestLive(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	s := subscribe(t, h, "", "a")
	e := publish(t, h, herd.Message{Topics: []string{"a"}, Type: "greet", Data: "hi\nthere", Retry: time.Second})
	publish(t, h, msg("not for us", "b"))
	got := next(t, s)
	if got.ID != e.ID || got.Type != "greet" || got.Data != "hi\nthere" || got.Retry != time.Second || !slices.Equal(got.Topics, []string{"a"}) {
		t.Errorf("got %+v, published %+v", got, e)
	}
	expectNothing(t, h, s, "a")
}

func TestMultiTopicDeliveredOnce(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	s := subscribe(t, h, "", "a", "b", "*", "**")
	publish(t, h, msg("both", "a", "b"))
	publish(t, h, msg("one", "b"))
	expect(t, s, "both", "one")
	expectNothing(t, h, s, "a")
}

func TestWildcards(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	one := subscribe(t, h, "", "chat/*")
	rest := subscribe(t, h, "", "chat/**")
	for _, topic := range []string{"chat", "chat/x", "chat/x/y", "other/x"} {
		publish(t, h, msg(topic, topic))
	}
	expect(t, one, "chat/x")
	expect(t, rest, "chat/x", "chat/x/y")
	publish(t, h, msg("<marker>", "chat/m"))
	expect(t, one, "<marker>")
	expect(t, rest, "<marker>")
}

func TestResume(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	var ids []string
	for i := range 5 {
		ids = append(ids, publish(t, h, msg(fmt.Sprint(i), "a")).ID)
	}
	publish(t, h, msg("other topic", "b"))
	s := subscribe(t, h, ids[1], "a")
	expect(t, s, "2", "3", "4")
	publish(t, h, msg("live", "a"))
	expect(t, s, "live")

	all := subscribe(t, h, "earliest", "a")
	expect(t, all, "0", "1", "2", "3", "4", "live")

	last := subscribe(t, h, ids[4], "a", "b")
	expect(t, last, "other topic", "live")
	expectNothing(t, h, last, "a")
}

func TestGap(t *testing.T) {
	h := newHub(t, hub.Config{ReplayCache: -1}, herd.Retention{MaxEvents: 3})
	ids := publishInStep(t, h, 6, "a")
	s := subscribe(t, h, ids[0], "a")
	gap := next(t, s)
	var info struct{ Requested, Oldest string }
	if err := json.Unmarshal([]byte(gap.Data), &info); err != nil || gap.Type != hub.GapEvent || gap.ID != "" {
		t.Fatalf("first event %+v (%v), want a gap notice without id", gap, err)
	}
	if info.Requested != ids[0] || info.Oldest != ids[3] {
		t.Errorf("gap %+v, want requested %s oldest %s", info, ids[0], ids[3])
	}
	expect(t, s, "3", "4", "5")

	// Resuming right after the newest trimmed event misses nothing.
	edge := subscribe(t, h, ids[2], "a")
	expect(t, edge, "3", "4", "5")

	for _, bad := range []string{"not-an-id", ids[0] + "9999"} {
		u := subscribe(t, h, bad, "a")
		g := next(t, u)
		json.Unmarshal([]byte(g.Data), &info)
		if g.Type != hub.GapEvent || info.Requested != bad || info.Oldest != ids[3] {
			t.Errorf("unknown id %q: first event %+v", bad, g)
		}
		expect(t, u, "3", "4", "5")
	}
}

// publishInStep publishes n events to topic, waiting for the hub's
// follower to deliver each before the next: with a very short retention a
// burst would (rightly) make it lag and disconnect every subscriber.
func publishInStep(t *testing.T, h *hub.Hub, n int, topic string) []string {
	t.Helper()
	all := subscribe(t, h, "", "**")
	var ids []string
	for i := range n {
		ids = append(ids, publish(t, h, msg(fmt.Sprint(i), topic)).ID)
		expect(t, all, fmt.Sprint(i))
	}
	all.Close()
	return ids
}

// TestReplayCache checks that resumes are served from the replay cache
// when it holds the events after the resume point, and that the cache
// never serves what retention has removed from history: a resume from a
// trimmed id gets the gap notice and only what the store still holds,
// however much the cache holds.
func TestReplayCache(t *testing.T) {
	h := newHub(t, hub.Config{ReplayCache: 100}, herd.Retention{MaxEvents: 3})
	ids := publishInStep(t, h, 6, "a")
	s := subscribe(t, h, ids[3], "a")
	expect(t, s, "4", "5")
	old := subscribe(t, h, ids[0], "a")
	expect(t, old, "<gap>", "3", "4", "5")
	all := subscribe(t, h, hub.EarliestID, "a")
	expect(t, all, "3", "4", "5")
	// Beyond the cache, the store answers, with the gap.
	small := newHub(t, hub.Config{ReplayCache: 2}, herd.Retention{MaxEvents: 3})
	ids = publishInStep(t, small, 6, "a")
	g := subscribe(t, small, ids[0], "a")
	expect(t, g, "<gap>", "3", "4", "5")
}

func TestClose(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	s := subscribe(t, h, "", "job/1")
	first := publish(t, h, msg("working", "job/1"))
	end := publish(t, h, herd.Message{Topics: []string{"job/1"}, Data: "done", Close: true})
	expect(t, s, "working", "done")
	c := next(t, s)
	if c.Type != "close" || c.ID != end.ID || c.Data != `{"topics":["job/1"]}` {
		t.Errorf("close event %+v", c)
	}
	expectEnd(t, s, io.EOF)

	// Resuming at or after the close: nothing more will come (HTTP 204).
	if _, err := h.Subscribe(t.Context(), []string{"job/1"}, end.ID); !errors.Is(err, hub.ErrTopicsClosed) {
		t.Errorf("resume after close = %v, want ErrTopicsClosed", err)
	}
	// Resuming before it replays the rest, then the close.
	r := subscribe(t, h, first.ID, "job/1")
	expect(t, r, "done", "<close>")
	expectEnd(t, r, io.EOF)
	// A late subscriber gets the history, then the close.
	late := subscribe(t, h, "", "job/1")
	expect(t, late, "working", "done", "<close>")
	expectEnd(t, late, io.EOF)
	// A closed topic takes no more events: a publish to it, alone or with
	// others, is refused whole, and nobody ever sees it.
	w := subscribe(t, h, "", "job/*")
	for _, m := range []herd.Message{msg("after", "job/1"), msg("both", "job/2", "job/1"),
		{Topics: []string{"job/1"}, NoData: true, Close: true}} {
		_, _, err := h.Publish(t.Context(), m)
		var closed *herd.TopicClosedError
		if hub.CodeOf(err) != hub.EConflict || !errors.As(err, &closed) || closed.Topic != "job/1" ||
			err.Error() != `topic "job/1" is closed: a closed topic takes no more events (publish to a new topic, or reopen this one: herd reopen job/1)` {
			t.Errorf("Publish(%v) to a closed topic = %v (%s)", m.Topics, err, hub.CodeOf(err))
		}
	}
	publish(t, h, msg("open", "job/2"))
	expect(t, w, "open")
	again := subscribe(t, h, "", "job/1")
	expect(t, again, "working", "done", "<close>")
	expectEnd(t, again, io.EOF)
}

func TestCloseOnly(t *testing.T) {
	h := newHub(t, hub.Config{CloseEvent: "done"}, herd.Retention{})
	s := subscribe(t, h, "", "x")
	w := subscribe(t, h, "", "*")
	e := publish(t, h, herd.Message{Topics: []string{"x"}, NoData: true, Close: true})
	c := next(t, s)
	if c.Type != "done" || c.ID != e.ID {
		t.Errorf("close event %+v, want type done with id %s", c, e.ID)
	}
	expectEnd(t, s, io.EOF)
	expectNothing(t, h, w, "m") // a close without data is nothing to a wildcard subscriber
}

func TestCloseMultiTopic(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	s := subscribe(t, h, "", "a", "b")
	publish(t, h, herd.Message{Topics: []string{"a"}, Data: "a ends", Close: true})
	publish(t, h, msg("b goes on", "b"))
	expect(t, s, "a ends", "b goes on")
	publish(t, h, herd.Message{Topics: []string{"b"}, NoData: true, Close: true})
	expect(t, s, "<close>")
	expectEnd(t, s, io.EOF)
	// A new subscriber to a and b: history, then the close.
	late := subscribe(t, h, "", "b", "a")
	expect(t, late, "a ends", "b goes on", "<close>")
}

// TestCloseTrimmed checks that a close whose event retention removed still
// ends a resuming stream.
func TestCloseTrimmed(t *testing.T) {
	h := newHub(t, hub.Config{ReplayCache: -1}, herd.Retention{MaxEvents: 2})
	// With retention this short the follower must keep up, or it would
	// (rightly) disconnect everyone as lagged: step with each event.
	all := subscribe(t, h, "", "**")
	start := publish(t, h, msg("1", "job"))
	expect(t, all, "1")
	end := publish(t, h, herd.Message{Topics: []string{"job"}, Data: "bye", Close: true})
	expect(t, all, "bye")
	publish(t, h, msg("x", "other"))
	expect(t, all, "x")
	publish(t, h, msg("y", "other"))
	expect(t, all, "y")
	s := subscribe(t, h, start.ID, "job")
	expect(t, s, "<gap>")
	c := next(t, s)
	if c.Type != "close" || c.ID != end.ID {
		t.Errorf("got %+v, want the close with id %s", c, end.ID)
	}
	expectEnd(t, s, io.EOF)
}

func TestIdempotency(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	s := subscribe(t, h, "", "a")
	m := msg("pay", "a")
	m.IdempotencyKey = "invoice-7"
	e1, dup1, _ := h.Publish(t.Context(), m)
	e2, dup2, _ := h.Publish(t.Context(), m)
	if e1.ID != e2.ID || dup1 || !dup2 {
		t.Errorf("ids %s %s, dup %v %v", e1.ID, e2.ID, dup1, dup2)
	}
	expect(t, s, "pay")
	expectNothing(t, h, s, "a")
}

// TestSlowSubscriber checks that a subscriber that does not read is cut off
// once its queue is full, without delaying the publisher or the others.
func TestSlowSubscriber(t *testing.T) {
	h := newHub(t, hub.Config{QueueLength: 4}, herd.Retention{})
	slow := subscribe(t, h, "", "a")
	healthy := subscribe(t, h, "", "a")
	for i := range 50 {
		publish(t, h, msg(fmt.Sprint(i), "a"))
		expect(t, healthy, fmt.Sprint(i)) // it keeps up; the slow one reads nothing
	}
	expectEnd(t, slow, hub.ErrSlowSubscriber)
}

func TestQueueBytes(t *testing.T) {
	h := newHub(t, hub.Config{QueueBytes: 10 << 10}, herd.Retention{})
	s := subscribe(t, h, "", "a")
	keepsUp := subscribe(t, h, "", "a")
	payload := string(make([]byte, 4<<10))
	for range 5 {
		publish(t, h, msg(payload, "a"))
		expect(t, keepsUp, payload) // the event has been queued for s too
	}
	expectEnd(t, s, hub.ErrSlowSubscriber)
}

func TestPublishValidation(t *testing.T) {
	h := newHub(t, hub.Config{MaxEventSize: 100, MaxPublishTopics: 2}, herd.Retention{})
	tests := []struct {
		m    herd.Message
		code hub.ErrorCode
	}{
		{herd.Message{Data: "x"}, hub.EInvalid},
		{msg("x", "a/*"), hub.EInvalid},
		{msg("x", ""), hub.EInvalid},
		{msg("x", "a", "b", "c"), hub.EInvalid},
		{herd.Message{Topics: []string{"a"}, Type: "x\r\nevent: evil", Data: "x"}, hub.EInvalid},
		{herd.Message{Topics: []string{"a"}, Type: "close", Data: "x"}, hub.EInvalid},
		{herd.Message{Topics: []string{"a"}, Type: "gap", Data: "x"}, hub.EInvalid},
		{msg(string(make([]byte, 101)), "a"), hub.ETooLarge},
		{msg("\xff", "a"), hub.EInvalid},
		{herd.Message{Topics: []string{"a"}, NoData: true}, hub.EInvalid},
		{herd.Message{Topics: []string{"a"}, Data: "x", Retry: -1}, hub.EInvalid},
		{herd.Message{Topics: []string{"a"}, Data: "x", IdempotencyKey: "has space"}, hub.EInvalid},
	}
	for _, tc := range tests {
		_, _, err := h.Publish(t.Context(), tc.m)
		if hub.CodeOf(err) != tc.code {
			t.Errorf("Publish(%+v) = %v (%s), want %s", tc.m, err, hub.CodeOf(err), tc.code)
		}
	}
	if e := publish(t, h, msg("ok", "a", "a", "b")); !slices.Equal(e.Topics, []string{"a", "b"}) {
		t.Errorf("duplicate topics kept: %v", e.Topics)
	}
}

func TestSubscribeValidation(t *testing.T) {
	h := newHub(t, hub.Config{MaxSubscribeTopics: 2}, herd.Retention{})
	for _, sels := range [][]string{nil, {"a**"}, {"a", "b", "c"}, {""}} {
		if _, err := h.Subscribe(t.Context(), sels, ""); hub.CodeOf(err) != hub.EInvalid {
			t.Errorf("Subscribe(%q) = %v, want EInvalid", sels, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	store := memory.New(memory.Options{})
	for _, cfg := range []hub.Config{
		{},
		{Store: store, CloseEvent: "bad\nname"},
		{Store: store, CloseEvent: "gap"},
		{Store: store, QueueLength: -1},
		{Store: store, Heartbeat: -time.Second},
		{Store: store, CloseEvent: hub.ExpiredEvent},
		{Store: store, SubscribeAuth: true},
	} {
		if _, err := hub.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestHubClose(t *testing.T) {
	store := memory.New(memory.Options{})
	defer store.Close()
	h := newHub(t, hub.Config{Store: store, ShutdownWindow: 50 * time.Millisecond}, herd.Retention{})
	s := subscribe(t, h, "", "a")
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, s, hub.ErrShuttingDown)
	if _, _, err := h.Publish(t.Context(), msg("x", "a")); hub.CodeOf(err) != hub.EUnavailable {
		t.Errorf("Publish after Close = %v", err)
	}
	if _, err := h.Subscribe(t.Context(), []string{"a"}, ""); hub.CodeOf(err) != hub.EUnavailable {
		t.Errorf("Subscribe after Close = %v", err)
	}
	h.Close(t.Context()) // idempotent
}

// TestHandover publishes from several goroutines while subscribers join at
// random moments, resuming from random earlier events: each must see
// exactly the events of its topics after its resume point, once each, in
// order, through the hand-over from replay to live delivery.
func TestHandover(t *testing.T) {
	for _, cache := range []int{0, -1} { // replays from the cache, and from the store only
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("cache%d/seed%d", cache, seed), func(t *testing.T) {
				t.Parallel()
				testHandover(t, seed, cache)
			})
		}
	}
}

func testHandover(t *testing.T, seed uint64, cache int) {
	rnd := rand.New(rand.NewPCG(seed, 99))
	h := newHub(t, hub.Config{QueueLength: 100_000, QueueBytes: 1 << 30, ReplayCache: cache}, herd.Retention{})
	topics := []string{"a", "b", "c"}
	const publishers, each = 3, 300

	var mu sync.Mutex
	var published []herd.Event // in position order once sorted
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				m := msg(fmt.Sprintf("%d/%d", p, i), topics[(p+i)%3])
				if i%10 == 0 {
					m.Topics = append(m.Topics, topics[(p+i+1)%3])
				}
				e := publish(t, h, m)
				mu.Lock()
				published = append(published, e)
				mu.Unlock()
			}
		})
	}
	type sub struct {
		s      *hub.Subscription
		sels   []string
		cursor herd.Event
	}
	var subs []sub
	for range 12 {
		time.Sleep(time.Duration(rnd.IntN(3)) * time.Millisecond)
		mu.Lock()
		var cursor herd.Event
		if len(published) > 0 && rnd.IntN(4) != 0 {
			cursor = published[rnd.IntN(len(published))]
		}
		mu.Unlock()
		sels := []string{topics[rnd.IntN(3)]}
		if rnd.IntN(2) == 0 {
			sels = append(sels, topics[rnd.IntN(3)])
		}
		if rnd.IntN(5) == 0 {
			sels = []string{"*"}
		}
		id := cursor.ID
		if id == "" {
			id = "earliest"
		}
		subs = append(subs, sub{subscribe(t, h, id, sels...), sels, cursor})
	}
	wg.Wait()
	slices.SortFunc(published, func(a, b herd.Event) int { return int(a.Pos) - int(b.Pos) })
	for i, sb := range subs {
		var want []string
		for _, e := range published {
			if e.Pos > sb.cursor.Pos && matchesAny(sb.sels, e.Topics) {
				want = append(want, e.ID)
			}
		}
		for j, w := range want {
			if got := next(t, sb.s); got.ID != w {
				t.Fatalf("subscriber %d (%v after %q): event %d is %s, want %s", i, sb.sels, sb.cursor.ID, j, got.ID, w)
			}
		}
	}
	publish(t, h, msg("<marker>", topics...)) // every subscriber's next
	for _, sb := range subs {
		if e := next(t, sb.s); e.Data != "<marker>" {
			t.Fatalf("subscriber %v: unexpected event %+v after its events", sb.sels, e)
		}
	}
}

func matchesAny(sels, topics []string) bool {
	for _, s := range sels {
		for _, t := range topics {
			if herd.Match(s, t) {
				return true
			}
		}
	}
	return false
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestReplayCache_age: events that retention dropped for their age are
// gone from every replay, though the replay cache still holds them.
func TestReplayCache_age(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	store := memory.New(memory.Options{StoreOptions: herd.StoreOptions{Retention: herd.Retention{MaxAge: 3 * time.Second}, Now: clk.Now}})
	t.Cleanup(func() { store.Close() })
	h := newHub(t, hub.Config{Store: store}, herd.Retention{})
	ids := publishInStep(t, h, 3, "a")
	clk.Advance(4 * time.Second)
	fresh := publishInStep(t, h, 1, "a")
	all := subscribe(t, h, hub.EarliestID, "a")
	expect(t, all, "0")
	resumed := subscribe(t, h, ids[0], "a")
	expect(t, resumed, "<gap>", "0")
	if e := publish(t, h, msg("live", "a")); e.ID == fresh[0] {
		t.Fatal("same id twice")
	}
	expect(t, all, "live")
	expect(t, resumed, "live")
}

// countingStore records the limits of the reads a store serves.
type countingStore struct {
	herd.Store
	mu    sync.Mutex
	reads []herd.Limit
	most  int // the most data bytes one read returned
}

func (c *countingStore) Read(ctx context.Context, after herd.Pos, lim herd.Limit) ([]herd.Event, bool, error) {
	events, gap, err := c.Store.Read(ctx, after, lim)
	n := 0
	for _, e := range events {
		n += len(e.Data)
	}
	c.mu.Lock()
	c.reads = append(c.reads, lim)
	c.most = max(c.most, n)
	c.mu.Unlock()
	return events, gap, err
}

// TestReplayBounded: a replay reads the history in batches bounded by
// the queue's bytes, however large the events, and delivers all of it.
func TestReplayBounded(t *testing.T) {
	store := &countingStore{Store: memory.New(memory.Options{})}
	t.Cleanup(func() { store.Close() })
	h := newHub(t, hub.Config{Store: store, ReplayCache: -1, QueueBytes: 1 << 20, MaxEventSize: 1 << 20}, herd.Retention{})
	big := strings.Repeat("z", 128<<10)
	const n = 40
	for i := range n {
		publish(t, h, msg(fmt.Sprint(i, big), "a"))
	}
	publish(t, h, msg(strings.Repeat("y", 1<<20), "a")) // larger than a batch: read alone
	s := subscribe(t, h, hub.EarliestID, "a")
	for i := range n {
		if e := next(t, s); e.Data != fmt.Sprint(i, big) {
			t.Fatalf("event %d: %.20q…", i, e.Data)
		}
	}
	if e := next(t, s); len(e.Data) != 1<<20 {
		t.Fatalf("the largest event: %d bytes", len(e.Data))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, lim := range store.reads {
		if lim.Bytes != 1<<20 {
			t.Errorf("a replay read with %+v, want Bytes bounded by QueueBytes", lim)
		}
	}
	if store.most > 1<<20 || len(store.reads) < n*(128<<10)/(1<<20) {
		t.Errorf("%d reads, the largest of %d bytes", len(store.reads), store.most)
	}
}
