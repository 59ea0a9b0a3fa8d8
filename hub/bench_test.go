package hub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/bolt"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

// The fan-out benchmarks publish b.N events to one topic with n in-process
// subscribers draining it, and report deliveries per second and heap
// allocations per delivery. The baseline, in the same run, is the naive
// fan-out most SSE code starts from: a mutex, a slice of buffered
// channels, and a send to each (no store, no history, no resume, and a
// slow subscriber would block everyone).

func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("hub/subs=%d", n), func(b *testing.B) { benchHub(b, n) })
		b.Run(fmt.Sprintf("naive/subs=%d", n), func(b *testing.B) { benchNaive(b, n) })
	}
}

func benchHub(b *testing.B, n int) {
	store := memory.New(memory.Options{StoreOptions: herd.StoreOptions{Retention: herd.Retention{MaxEvents: 1 << 20}}})
	defer store.Close()
	h, err := hub.New(hub.Config{Store: store, QueueLength: 1 << 24, QueueBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	h.Open(context.Background())
	defer h.Close(cancelled())
	var done sync.WaitGroup
	subs := make([]*hub.Subscription, n)
	for i := range subs {
		s, err := h.Subscribe(context.Background(), []string{"bench"}, "")
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = s
	}
	m := herd.Message{Topics: []string{"bench"}, Data: `{"price": 42.17, "symbol": "HERD"}`}
	report := measure(b, n, func() {
		for _, s := range subs {
			done.Go(func() {
				for range b.N {
					if _, err := s.Next(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		for range b.N {
			if _, _, err := h.Publish(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
		done.Wait()
	})
	report()
}

type naiveEvent struct {
	id, data string
}

// naiveHub is the baseline: a mutex and a buffered channel per subscriber.
type naiveHub struct {
	mu   sync.Mutex
	subs []chan naiveEvent
	seq  int
}

func (h *naiveHub) publish(data string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e := naiveEvent{id: fmt.Sprint(h.seq), data: data}
	for _, ch := range h.subs {
		ch <- e
	}
}

func benchNaive(b *testing.B, n int) {
	h := &naiveHub{}
	for range n {
		h.subs = append(h.subs, make(chan naiveEvent, 1024))
	}
	var done sync.WaitGroup
	report := measure(b, n, func() {
		for _, ch := range h.subs {
			done.Go(func() {
				for range b.N {
					<-ch
				}
			})
		}
		for range b.N {
			h.publish(`{"price": 42.17, "symbol": "HERD"}`)
		}
		done.Wait()
	})
	report()
}

// measure runs fn (which publishes b.N events to n subscribers) under the
// timer and returns a function reporting deliveries/s and allocs/delivery.
func measure(b *testing.B, n int, fn func()) func() {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	fn()
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	return func() {
		deliveries := float64(n) * float64(b.N)
		b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
		b.ReportMetric(0, "ns/op")
	}
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// BenchmarkPublish measures acknowledged publishes per second through the
// hub, from 64 concurrent publishers: each Publish returns once the event
// is stored (fsynced, for bolt).
func BenchmarkPublish(b *testing.B) {
	stores := map[string]func(b *testing.B) herd.Store{
		"memory": func(b *testing.B) herd.Store { return memory.New(memory.Options{}) },
		"bolt": func(b *testing.B) herd.Store {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "herd.db"), bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"memory", "bolt"} {
		b.Run(name, func(b *testing.B) {
			store := stores[name](b)
			defer store.Close()
			h, _ := hub.New(hub.Config{Store: store})
			h.Open(context.Background())
			defer h.Close(cancelled())
			m := herd.Message{Topics: []string{"orders/42"}, Data: `{"status": "shipped", "carrier": "moo express"}`}
			b.SetParallelism(32) // 32 × GOMAXPROCS publishers
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := h.Publish(context.Background(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
		})
	}
}

// BenchmarkReplay measures a resume: a subscriber that comes back 1,000
// events behind and reads them all, served from the replay cache (events
// encoded once when published) and, as the baseline, from the store (each
// event read and encoded again for this subscriber).
func BenchmarkReplay(b *testing.B) {
	const behind = 1000
	for _, cached := range []bool{true, false} {
		name := map[bool]string{true: "cache", false: "store"}[cached]
		b.Run(name, func(b *testing.B) {
			cfg := hub.Config{}
			if !cached {
				cfg.ReplayCache = -1
			}
			h := newHub(b, cfg, herd.Retention{MaxEvents: 1 << 20})
			m := herd.Message{Topics: []string{"bench"}, Data: `{"price": 42.17, "symbol": "HERD"}`}
			first, _, err := h.Publish(context.Background(), m)
			if err != nil {
				b.Fatal(err)
			}
			for range behind {
				if _, _, err := h.Publish(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				s, err := h.Subscribe(context.Background(), []string{"bench"}, first.ID)
				if err != nil {
					b.Fatal(err)
				}
				for range behind {
					if _, err := s.Next(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*behind), "ns/event")
		})
	}
}
