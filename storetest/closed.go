package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/herd-sse/herd"
)

// refused checks that Append refuses m because topic is closed.
func refused(t *testing.T, s herd.Store, m herd.Message, topic string) {
	t.Helper()
	e, dup, err := s.Append(ctx(t), m)
	var closed *herd.TopicClosedError
	if !errors.As(err, &closed) || closed.Topic != topic {
		t.Errorf("Append(%+v) = %+v, dup %v, %v; want a *TopicClosedError for %q", m, e, dup, err, topic)
	}
}

func testPublishToClosed(t *testing.T, c Config) {
	s := open(t, c, Options{})
	appendMsg(t, s, data("a", "before"))
	closeA := herd.Message{Topics: []string{"a"}, Data: "bye", Close: true, IdempotencyKey: "close-a"}
	closing := appendMsg(t, s, closeA)

	refused(t, s, data("a", "after"), "a")
	refused(t, s, herd.Message{Topics: []string{"b", "a"}, Data: "to b and a"}, "a") // refused whole
	refused(t, s, herd.Message{Topics: []string{"a"}, NoData: true, Close: true}, "a")
	keyed := data("a", "keyed")
	keyed.IdempotencyKey = "k1"
	refused(t, s, keyed, "a")
	refused(t, s, keyed, "a") // a refused publish leaves no key behind

	// The close's own retry answers its event, as any repeated key does.
	again, dup, err := s.Append(ctx(t), closeA)
	if err != nil || !dup || again.Pos != closing.Pos {
		t.Errorf("retry of the close = %+v, dup %v, %v; want its event %d", again, dup, err, closing.Pos)
	}
	appendMsg(t, s, data("b", "b alone"))
	if got, want := datas(readAll(t, s, 0)), []string{"before", "bye", "b alone"}; !slices.Equal(got, want) {
		t.Errorf("log holds %q, want %q: refused messages must not be in it", got, want)
	}
	closed, err := s.Closed(ctx(t), []string{"a", "b"})
	if err != nil || len(closed) != 1 || closed["a"] != closing.Pos {
		t.Errorf("Closed = %v, %v; want a at %d only", closed, err, closing.Pos)
	}
	if c.Peer != nil {
		refused(t, c.Peer(t, s), data("a", "from another node"), "a")
	}
}

// testCloseRace has publishers race a close of their topic, on two nodes
// when the store can be shared: every acknowledged event precedes the
// close in the log, every refused one is absent, and Read and Follow
// agree.
func testCloseRace(t *testing.T, c Config) {
	s := open(t, c, Options{})
	nodes := []herd.Store{s}
	if c.Peer != nil {
		nodes = append(nodes, c.Peer(t, s))
	}
	const workers, each = 6, 30
	var (
		mu      sync.Mutex
		acked   = map[string]herd.Pos{}
		nRefuse int
		started = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if i == each/3 {
					once.Do(func() { close(started) })
				}
				d := fmt.Sprintf("%d/%d", w, i)
				e, _, err := nodes[(w+i)%len(nodes)].Append(ctx(t), data("race", d))
				var closed *herd.TopicClosedError
				mu.Lock()
				switch {
				case err == nil:
					acked[d] = e.Pos
				case errors.As(err, &closed):
					nRefuse++
				default:
					t.Errorf("Append: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	<-started
	closing := appendMsg(t, nodes[len(nodes)-1], herd.Message{Topics: []string{"race"}, NoData: true, Close: true})
	wg.Wait()
	if nRefuse == 0 {
		t.Log("no publish came after the close (the race was not met this time)")
	}
	for d, p := range acked {
		if p >= closing.Pos {
			t.Errorf("event %s acknowledged at %d, after the close at %d", d, p, closing.Pos)
		}
	}
	marker := appendMsg(t, s, data("other", "end"))

	check := func(how string, events []herd.Event) {
		t.Helper()
		found := map[string]bool{}
		for _, e := range events {
			switch {
			case e.Pos == marker.Pos || e.Pos == closing.Pos:
			case e.Pos > closing.Pos:
				t.Errorf("%s: event %q at %d after the close at %d", how, e.Data, e.Pos, closing.Pos)
			case acked[e.Data] != e.Pos:
				t.Errorf("%s: event %q at %d was not acknowledged there", how, e.Data, e.Pos)
			}
			found[e.Data] = true
		}
		for d := range acked {
			if !found[d] {
				t.Errorf("%s: acknowledged event %q missing", how, d)
			}
		}
	}
	check("Read", readAll(t, s, 0))
	for i, node := range nodes {
		check(fmt.Sprintf("Follow on node %d", i), followUntil(t, node, marker.Pos))
	}
}

// followUntil follows s from the start until the event at p.
func followUntil(t *testing.T, s herd.Store, p herd.Pos) []herd.Event {
	t.Helper()
	fctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	var got []herd.Event
	err := s.Follow(fctx, 0, func(events []herd.Event) error {
		got = append(got, events...)
		if events[len(events)-1].Pos >= p {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow: %v", err)
	}
	return got
}
