package hub

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// BenchmarkDispatch measures the hot path every event takes: encode it
// once, then offer the shared frame to each matching subscriber's queue.
// The baseline, in the same run, encodes the event for each subscriber
// into a buffer of its own, as most SSE code does. Queues are drained
// outside the timer.
func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("encode-once/subs=%d", n), func(b *testing.B) { benchDispatch(b, n, false) })
		b.Run(fmt.Sprintf("encode-each/subs=%d", n), func(b *testing.B) { benchDispatch(b, n, true) })
	}
}

func benchDispatch(b *testing.B, n int, each bool) {
	h, err := New(Config{Store: nopStore{}, QueueLength: 1 << 20, QueueBytes: 1 << 40, ReplayCache: -1})
	if err != nil {
		b.Fatal(err)
	}
	subs := make([]*subscriber, n)
	bufs := make([][]byte, n) // the baseline's per-subscriber buffers
	for i := range subs {
		subs[i] = newSubscriber(h.env, []string{"prices/herd"})
		h.subs.add(subs[i])
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = strconv.Itoa(1_000_000 + i)
	}
	topics := []string{"prices/herd"}
	const data = `{"price": 42.17, "symbol": "HERD"}`
	drain := func() {
		for i, s := range subs {
			batch, _, _ := s.take(nil)
			clear(batch)
			s.batch = batch[:0] // as a consumer gives it back
			bufs[i] = bufs[i][:0]
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		e := herd.Event{Pos: herd.Pos(i + 1), ID: ids[i], Topics: topics, Data: data}
		if each {
			for j := range subs {
				bufs[j], _ = sse.AppendEvent(bufs[j], sse.Event{ID: e.ID, Data: e.Data})
			}
		} else {
			h.dispatch(e)
		}
		if i%64 == 63 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/event")
}

// BenchmarkFrame is the encode-once step alone: an event to the bytes all
// its subscribers share.
func BenchmarkFrame(b *testing.B) {
	h, err := New(Config{Store: nopStore{}})
	if err != nil {
		b.Fatal(err)
	}
	e := herd.Event{Pos: 1, ID: "1795905180500813284-17", Topics: []string{"prices/herd"}, Data: `{"price": 42.17, "symbol": "HERD"}`}
	b.ReportAllocs()
	for b.Loop() {
		h.env.newFrame(e)
	}
}

// nopStore is a Store that holds nothing, for benchmarks of the hub's own
// work. (The real stores import hub, so an in-package test cannot use them.)
type nopStore struct{}

func (nopStore) Append(context.Context, herd.Message) (herd.Event, bool, error) {
	return herd.Event{}, false, nil
}
func (nopStore) Read(context.Context, herd.Pos, herd.Limit) ([]herd.Event, bool, error) {
	return nil, false, nil
}
func (nopStore) Follow(ctx context.Context, _ herd.Pos, _ func([]herd.Event) error) error {
	<-ctx.Done()
	return ctx.Err()
}
func (nopStore) Bounds(context.Context) (herd.Bounds, error)                   { return herd.Bounds{}, nil }
func (nopStore) Closed(context.Context, []string) (map[string]herd.Pos, error) { return nil, nil }
func (nopStore) Stats(context.Context) ([]herd.TopicStats, error)              { return nil, nil }
func (nopStore) ID(p herd.Pos) string                                          { return strconv.FormatInt(int64(p), 10) }
func (nopStore) ParseID(string) (herd.Pos, error)                              { return 0, herd.ErrUnknownID }
func (nopStore) Ping(context.Context) error                                    { return nil }
func (nopStore) Close() error                                                  { return nil }
