// Package storetest is the conformance suite every hub.Store must pass:
// ordering, reading and following, resume, the retention edge, gaps,
// closed topics and idempotency. A store's tests call Run, as file systems
// call fstest.TestFS.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
)

// Options are the settings the suite opens a store with.
type Options struct {
	Retention      herd.Retention
	IdempotencyTTL time.Duration
	// Now is the clock the store must use for event times, age retention
	// and idempotency expiry (only when Config.FakeClock is set).
	Now func() time.Time
}

// Config describes the store under test.
type Config struct {
	// Open returns a new, empty store with opts. The suite closes it.
	Open func(t *testing.T, opts Options) herd.Store
	// FakeClock says the store honours Options.Now. Without it (a store
	// whose clock is its server's) the tests of age retention and key
	// expiry let a second or two of real time pass instead.
	FakeClock bool
	// Peer, if set, opens another store on the log of s, as another hub
	// node would. Stores that cannot be shared leave it nil.
	Peer func(t *testing.T, s herd.Store) herd.Store
	// Wipe, if set, deletes the data of s's log on its server, as an
	// operator wiping or restoring the broker would, and leaves it ready
	// for a new log (as a node starting on it would). Stores that cannot
	// be wiped under a running hub leave it nil.
	Wipe func(t *testing.T, s herd.Store)
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	tests := []struct {
		name string
		fn   func(*testing.T, Config)
	}{
		{"Empty", testEmpty},
		{"AppendRead", testAppendRead},
		{"Fields", testFields},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Follow", testFollow},
		{"FollowError", testFollowError},
		{"RetentionByCount", testRetentionByCount},
		{"RetentionByAge", testRetentionByAge},
		{"Close", testClose},
		{"CloseOutlivesRetention", testCloseOutlivesRetention},
		{"Idempotency", testIdempotency},
		{"IdempotencyExpiry", testIdempotencyExpiry},
		{"Stats", testStats},
		{"StatsAfterRetention", testStatsAfterRetention},
		{"ForeignIDs", testForeignIDs},
		{"PublishToClosed", testPublishToClosed},
		{"CloseRace", testCloseRace},
		{"Reopen", testReopen},
		{"ReadLimit", testReadLimit},
		{"RoundTrip", testRoundTrip},
		{"Closed", testStoreClosed},
		{"Generation", testGeneration},
		{"Wipe", testWipe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, c) })
	}
}

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, c Config, opts Options) herd.Store {
	t.Helper()
	s := c.Open(t, opts)
	t.Cleanup(func() { s.Close() })
	return s
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func appendMsg(t *testing.T, s herd.Store, m herd.Message) herd.Event {
	t.Helper()
	e, dup, err := s.Append(ctx(t), m)
	if err != nil {
		t.Fatalf("Append(%+v): %v", m, err)
	}
	if dup {
		t.Fatalf("Append(%+v) reported a duplicate", m)
	}
	return e
}

func data(topic, d string) herd.Message {
	return herd.Message{Topics: []string{topic}, Data: d}
}

func read(t *testing.T, s herd.Store, after herd.Pos, max int) ([]herd.Event, bool) {
	t.Helper()
	events, gap, err := s.Read(ctx(t), after, herd.Limit{Events: max})
	if err != nil {
		t.Fatalf("Read(%d, %d): %v", after, max, err)
	}
	return events, gap
}

func bounds(t *testing.T, s herd.Store) herd.Bounds {
	t.Helper()
	b, err := s.Bounds(ctx(t))
	if err != nil {
		t.Fatalf("Bounds: %v", err)
	}
	return b
}

func datas(events []herd.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Data
	}
	return out
}

func sameEvent(a, b herd.Event) bool {
	return a.Pos == b.Pos && a.ID == b.ID && a.Time.Equal(b.Time) && slices.Equal(a.Topics, b.Topics) &&
		a.Type == b.Type && a.Data == b.Data && a.Retry == b.Retry && a.ZeroRetry == b.ZeroRetry && a.NoData == b.NoData && a.Close == b.Close &&
		a.Private == b.Private
}

func testEmpty(t *testing.T, c Config) {
	s := open(t, c, Options{})
	if b := bounds(t, s); b != (herd.Bounds{Generation: b.Generation}) {
		t.Errorf("Bounds of an empty store = %+v", b)
	}
	if events, gap := read(t, s, 0, 10); len(events) != 0 || gap {
		t.Errorf("Read of an empty store = %d events, gap %v", len(events), gap)
	}
	if closed, err := s.Closed(ctx(t), []string{"a"}); err != nil || len(closed) != 0 {
		t.Errorf("Closed = %v, %v", closed, err)
	}
	if stats, err := s.Stats(ctx(t)); err != nil || len(stats) != 0 {
		t.Errorf("Stats = %v, %v", stats, err)
	}
	for _, bad := range []string{"", "x", "0", "-1", "earliest", "1-2-3", "💥"} {
		if _, err := s.ParseID(bad); !errors.Is(err, herd.ErrUnknownID) {
			t.Errorf("ParseID(%q) = %v, want ErrUnknownID", bad, err)
		}
	}
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testAppendRead(t *testing.T, c Config) {
	s := open(t, c, Options{})
	var events []herd.Event
	for i := range 5 {
		events = append(events, appendMsg(t, s, data("a", fmt.Sprint(i))))
	}
	ids := map[string]bool{}
	for i, e := range events {
		if i > 0 && e.Pos <= events[i-1].Pos {
			t.Errorf("positions not increasing: %d then %d", events[i-1].Pos, e.Pos)
		}
		if e.ID == "" || ids[e.ID] {
			t.Errorf("id %q empty or repeated", e.ID)
		}
		ids[e.ID] = true
		if s.ID(e.Pos) != e.ID {
			t.Errorf("ID(%d) = %q, want %q", e.Pos, s.ID(e.Pos), e.ID)
		}
		if p, err := s.ParseID(e.ID); err != nil || p != e.Pos {
			t.Errorf("ParseID(%q) = %d, %v; want %d", e.ID, p, err, e.Pos)
		}
		if e.Time.IsZero() {
			t.Errorf("event %d has no time", i)
		}
	}
	got, gap := read(t, s, 0, 10)
	if gap || len(got) != 5 {
		t.Fatalf("Read(0) = %d events, gap %v", len(got), gap)
	}
	for i := range got {
		if !sameEvent(got[i], events[i]) {
			t.Errorf("read back %+v, stored %+v", got[i], events[i])
		}
	}
	if got, _ := read(t, s, events[1].Pos, 2); len(got) != 2 || got[0].Pos != events[2].Pos || got[1].Pos != events[3].Pos {
		t.Errorf("Read(after 2nd, max 2) = %v, want the 3rd and 4th", datas(got))
	}
	if got, _ := read(t, s, events[4].Pos, 10); len(got) != 0 {
		t.Errorf("Read(after last) = %v", datas(got))
	}
	if b := bounds(t, s); b.First != events[0].Pos || b.Last != events[4].Pos || b.Trimmed != 0 {
		t.Errorf("Bounds = %+v", b)
	}
}

func testFields(t *testing.T, c Config) {
	s := open(t, c, Options{})
	msgs := []herd.Message{
		{Topics: []string{"a", "b/c", "d/e/f"}, Type: "update", Data: "line 1\nline 2\n\nünïcödé\x00nul", Retry: 1500 * time.Millisecond},
		{Topics: []string{"a"}, Data: ""},
		{Topics: []string{"z"}, NoData: true, Close: true},
		{Topics: []string{"p/1", "p/2"}, Data: "secret", Private: true},
		{Topics: []string{"p/3"}, Data: "secret close", Private: true, Close: true},
		{Topics: []string{"big"}, Data: string(make([]byte, 256<<10))},
	}
	var stored []herd.Event
	for _, m := range msgs {
		stored = append(stored, appendMsg(t, s, m))
	}
	got, _ := read(t, s, 0, 10)
	if len(got) != len(msgs) {
		t.Fatalf("read %d events", len(got))
	}
	for i, m := range msgs {
		e := got[i]
		if !slices.Equal(e.Topics, m.Topics) || e.Type != m.Type || e.Data != m.Data || e.Retry != m.Retry ||
			e.NoData != m.NoData || e.Close != m.Close || e.Private != m.Private {
			t.Errorf("message %d read back as %+v", i, e)
		}
		if !sameEvent(e, stored[i]) {
			t.Errorf("event %d read back differs from Append's result", i)
		}
	}
}

func testConcurrentAppends(t *testing.T, c Config) {
	s := open(t, c, Options{})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	results := make(chan herd.Event, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e, _, err := s.Append(ctx(t), data(fmt.Sprintf("t%d", w), fmt.Sprintf("%d/%d", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				results <- e
			}
		})
	}
	wg.Wait()
	close(results)
	seen := map[herd.Pos]bool{}
	for e := range results {
		if seen[e.Pos] {
			t.Fatalf("position %d assigned twice", e.Pos)
		}
		seen[e.Pos] = true
	}
	all := readAll(t, s, 0)
	if len(all) != workers*each {
		t.Fatalf("read %d events, want %d", len(all), workers*each)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Pos <= all[i-1].Pos {
			t.Fatalf("read order not increasing at %d", i)
		}
	}
	// Each writer's events are in its own order.
	next := map[string]int{}
	for _, e := range all {
		var w, i int
		fmt.Sscanf(e.Data, "%d/%d", &w, &i)
		key := fmt.Sprint(w)
		if i != next[key] {
			t.Fatalf("writer %d: event %d read before %d", w, i, next[key])
		}
		next[key]++
	}
}

func readAll(t *testing.T, s herd.Store, after herd.Pos) []herd.Event {
	var all []herd.Event
	for {
		batch, _ := read(t, s, after, 100)
		if len(batch) == 0 {
			return all
		}
		all = append(all, batch...)
		after = batch[len(batch)-1].Pos
	}
}

func testFollow(t *testing.T, c Config) {
	s := open(t, c, Options{})
	before := appendMsg(t, s, data("a", "before"))
	fctx, cancel := context.WithCancel(ctx(t))
	got := make(chan herd.Event, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(fctx, before.Pos, func(events []herd.Event) error {
			for _, e := range events {
				got <- e
			}
			return nil
		})
	}()
	var want []herd.Event
	for i := range 20 {
		want = append(want, appendMsg(t, s, data("a", fmt.Sprint(i))))
		if i%7 == 0 {
			time.Sleep(5 * time.Millisecond) // let some arrive one by one
		}
	}
	for i, w := range want {
		select {
		case e := <-got:
			if !sameEvent(e, w) {
				t.Fatalf("followed event %d = %+v, want %+v", i, e, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not followed within 10s", i)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow after cancel = %v, want context.Canceled", err)
	}
	select {
	case e := <-got:
		t.Errorf("followed an event twice or from before: %+v", e)
	default:
	}

	// Following from 0 replays what is held, then continues.
	fctx, cancel = context.WithCancel(ctx(t))
	defer cancel()
	n := 0
	err := s.Follow(fctx, 0, func(events []herd.Event) error {
		n += len(events)
		if n == 21 {
			cancel()
		}
		return nil
	})
	if n != 21 || !errors.Is(err, context.Canceled) {
		t.Errorf("Follow(0) delivered %d (want 21), returned %v", n, err)
	}
}

func testFollowError(t *testing.T, c Config) {
	s := open(t, c, Options{})
	appendMsg(t, s, data("a", "x"))
	boom := errors.New("boom")
	if err := s.Follow(ctx(t), 0, func([]herd.Event) error { return boom }); err != boom {
		t.Errorf("Follow returned %v, want fn's error", err)
	}
}

func testRetentionByCount(t *testing.T, c Config) {
	s := open(t, c, Options{Retention: herd.Retention{MaxEvents: 5}})
	var events []herd.Event
	for i := range 12 {
		events = append(events, appendMsg(t, s, data("a", fmt.Sprint(i))))
	}
	got, gap := read(t, s, 0, 100)
	if want := []string{"7", "8", "9", "10", "11"}; !slices.Equal(datas(got), want) {
		t.Errorf("retained %v, want %v", datas(got), want)
	}
	if !gap {
		t.Error("Read(0) after trimming: no gap reported")
	}
	b := bounds(t, s)
	if b.First != events[7].Pos || b.Last != events[11].Pos || b.Trimmed < events[6].Pos || b.Trimmed >= events[7].Pos {
		t.Errorf("Bounds = %+v; events 6,7,11 at %d,%d,%d", b, events[6].Pos, events[7].Pos, events[11].Pos)
	}
	// The edge: resuming after the last trimmed event misses nothing;
	// resuming from before it has missed some.
	if got, gap := read(t, s, events[6].Pos, 100); gap || len(got) != 5 {
		t.Errorf("Read(after last trimmed) = %v, gap %v; want 5 events, no gap", datas(got), gap)
	}
	if got, gap := read(t, s, events[5].Pos, 100); !gap || len(got) != 5 {
		t.Errorf("Read(after an earlier trimmed one) = %v, gap %v; want 5 events and a gap", datas(got), gap)
	}
	if _, gap := read(t, s, events[7].Pos, 100); gap {
		t.Error("Read(after first retained) reports a gap")
	}
	if err := s.Follow(ctx(t), events[2].Pos, func([]herd.Event) error { return nil }); !errors.Is(err, herd.ErrLagged) {
		t.Errorf("Follow from a trimmed position = %v, want ErrLagged", err)
	}
	// Ids of trimmed events still parse: a resume from one is a gap, not
	// an unknown id.
	if p, err := s.ParseID(events[0].ID); err != nil || p != events[0].Pos {
		t.Errorf("ParseID of a trimmed event's id = %d, %v", p, err)
	}
}

func testRetentionByAge(t *testing.T, c Config) {
	if !c.FakeClock {
		// The store's clock is its server's: let real time pass.
		s := open(t, c, Options{Retention: herd.Retention{MaxAge: time.Second}})
		old := appendMsg(t, s, data("a", "old"))
		time.Sleep(1500 * time.Millisecond)
		appendMsg(t, s, data("a", "new"))
		got, gap := read(t, s, 0, 10)
		if !slices.Equal(datas(got), []string{"new"}) || !gap {
			t.Errorf("retained %v, gap %v; want [new] and a gap", datas(got), gap)
		}
		if b := bounds(t, s); b.Trimmed < old.Pos {
			t.Errorf("Trimmed = %d, want at least %d", b.Trimmed, old.Pos)
		}
		return
	}
	clk := newClock()
	s := open(t, c, Options{Retention: herd.Retention{MaxAge: time.Hour}, Now: clk.Now})
	old := appendMsg(t, s, data("a", "old"))
	clk.Advance(40 * time.Minute)
	appendMsg(t, s, data("a", "middle"))
	clk.Advance(30 * time.Minute) // "old" is 70 minutes old now
	appendMsg(t, s, data("a", "new"))
	got, gap := read(t, s, 0, 10)
	if !slices.Equal(datas(got), []string{"middle", "new"}) || !gap {
		t.Errorf("retained %v, gap %v; want [middle new] and a gap", datas(got), gap)
	}
	if b := bounds(t, s); b.Trimmed != old.Pos {
		t.Errorf("Trimmed = %d, want %d", b.Trimmed, old.Pos)
	}
}

func testClose(t *testing.T, c Config) {
	s := open(t, c, Options{})
	appendMsg(t, s, data("a", "x"))
	e := appendMsg(t, s, herd.Message{Topics: []string{"a", "b"}, Data: "bye", Close: true})
	closeOnly := appendMsg(t, s, herd.Message{Topics: []string{"c"}, NoData: true, Close: true})
	closed, err := s.Closed(ctx(t), []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]herd.Pos{"a": e.Pos, "b": e.Pos, "c": closeOnly.Pos}
	if fmt.Sprint(closed) != fmt.Sprint(want) {
		t.Errorf("Closed = %v, want %v", closed, want)
	}
	got, _ := read(t, s, e.Pos-1, 10)
	if len(got) < 1 || !got[0].Close || got[0].Data != "bye" {
		t.Errorf("the closing event reads back as %+v", got)
	}
}

func testCloseOutlivesRetention(t *testing.T, c Config) {
	s := open(t, c, Options{Retention: herd.Retention{MaxEvents: 2}})
	e := appendMsg(t, s, herd.Message{Topics: []string{"a"}, Data: "bye", Close: true})
	for i := range 3 {
		appendMsg(t, s, data("other", fmt.Sprint(i)))
	}
	closed, err := s.Closed(ctx(t), []string{"a"})
	if err != nil || closed["a"] != e.Pos {
		t.Errorf("after the close event was trimmed: Closed = %v, %v; want a closed at %d", closed, err, e.Pos)
	}
}

func testIdempotency(t *testing.T, c Config) {
	s := open(t, c, Options{Retention: herd.Retention{MaxEvents: 3}})
	m := data("a", "once")
	m.IdempotencyKey = "order-42"
	first := appendMsg(t, s, m)
	m.Data = "twice" // a retry with other content still answers the first event
	again, dup, err := s.Append(ctx(t), m)
	if err != nil || !dup || again.Pos != first.Pos || again.ID != first.ID {
		t.Fatalf("second Append = %+v, dup %v, %v; want the first event", again, dup, err)
	}
	m.IdempotencyKey = "order-43"
	other := appendMsg(t, s, m)
	if other.Pos == first.Pos {
		t.Error("another key got the same event")
	}
	if got := readAll(t, s, 0); len(got) != 2 {
		t.Errorf("log holds %d events, want 2", len(got))
	}
	// A key still answers after its event left the history.
	for i := range 4 {
		appendMsg(t, s, data("b", fmt.Sprint(i)))
	}
	m.IdempotencyKey = "order-42"
	again, dup, err = s.Append(ctx(t), m)
	if err != nil || !dup || again.Pos != first.Pos || again.ID != first.ID {
		t.Errorf("Append after the event was trimmed = %+v, dup %v, %v; want the first event's id", again, dup, err)
	}
}

func testIdempotencyExpiry(t *testing.T, c Config) {
	if !c.FakeClock {
		s := open(t, c, Options{IdempotencyTTL: time.Second})
		m := data("a", "x")
		m.IdempotencyKey = "k"
		first := appendMsg(t, s, m)
		if _, dup, _ := s.Append(ctx(t), m); !dup {
			t.Error("key forgotten at once")
		}
		time.Sleep(2 * time.Second)
		e, dup, err := s.Append(ctx(t), m)
		if err != nil || dup || e.Pos == first.Pos {
			t.Errorf("after the TTL: %+v, dup %v, %v; want a new event", e, dup, err)
		}
		return
	}
	clk := newClock()
	s := open(t, c, Options{IdempotencyTTL: time.Hour, Now: clk.Now})
	m := data("a", "x")
	m.IdempotencyKey = "k"
	first := appendMsg(t, s, m)
	clk.Advance(59 * time.Minute)
	if _, dup, _ := s.Append(ctx(t), m); !dup {
		t.Error("key forgotten before its TTL")
	}
	clk.Advance(2 * time.Minute)
	e, dup, err := s.Append(ctx(t), m)
	if err != nil || dup || e.Pos == first.Pos {
		t.Errorf("after the TTL: %+v, dup %v, %v; want a new event", e, dup, err)
	}
}

func testStats(t *testing.T, c Config) {
	s := open(t, c, Options{})
	appendMsg(t, s, data("a", "1"))
	appendMsg(t, s, herd.Message{Topics: []string{"a", "b"}, Data: "2"})
	last := appendMsg(t, s, data("a", "3"))
	closeB := appendMsg(t, s, herd.Message{Topics: []string{"b"}, NoData: true, Close: true})
	stats, err := s.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []herd.TopicStats{
		{Topic: "a", Retained: 3, LastID: last.ID, LastPos: last.Pos},
		{Topic: "b", Retained: 2, LastID: closeB.ID, LastPos: closeB.Pos, Closed: true},
	}
	if fmt.Sprint(stats) != fmt.Sprint(want) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", stats, want)
	}
}

// testStatsAfterRetention: a topic whose events retention removed is no
// longer listed, unless it is closed.
func testStatsAfterRetention(t *testing.T, c Config) {
	s := open(t, c, Options{Retention: herd.Retention{MaxEvents: 2}})
	appendMsg(t, s, data("gone", "1"))
	closeGone := appendMsg(t, s, herd.Message{Topics: []string{"closed"}, Data: "bye", Close: true})
	appendMsg(t, s, data("kept", "2"))
	last := appendMsg(t, s, data("kept", "3"))
	stats, err := s.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []herd.TopicStats{
		{Topic: "closed", LastID: closeGone.ID, LastPos: closeGone.Pos, Closed: true},
		{Topic: "kept", Retained: 2, LastID: last.ID, LastPos: last.Pos},
	}
	if fmt.Sprint(stats) != fmt.Sprint(want) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", stats, want)
	}
}

func testForeignIDs(t *testing.T, c Config) {
	s1 := open(t, c, Options{})
	s2 := open(t, c, Options{})
	e := appendMsg(t, s1, data("a", "x"))
	appendMsg(t, s2, data("a", "y"))
	if _, err := s2.ParseID(e.ID); !errors.Is(err, herd.ErrUnknownID) {
		t.Errorf("another store's id %q parsed by this one: %v", e.ID, err)
	}
}

func testStoreClosed(t *testing.T, c Config) {
	s := c.Open(t, Options{})
	appendMsg(t, s, data("a", "x"))
	followErr := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		followErr <- s.Follow(ctx(t), 0, func([]herd.Event) error {
			select {
			case <-started:
			default:
				close(started)
			}
			return nil
		})
	}()
	<-started
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case err := <-followErr:
		if err == nil {
			t.Error("Follow ended without an error when the store closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow still running 10s after Close")
	}
	if _, _, err := s.Append(ctx(t), data("a", "y")); !errors.Is(err, herd.ErrStoreClosed) {
		t.Errorf("Append after Close = %v, want ErrStoreClosed", err)
	}
	if _, _, err := s.Read(ctx(t), 0, herd.Limit{Events: 1}); !errors.Is(err, herd.ErrStoreClosed) {
		t.Errorf("Read after Close = %v, want ErrStoreClosed", err)
	}
}
