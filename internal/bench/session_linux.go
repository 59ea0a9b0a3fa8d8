//go:build linux

package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// session is one generator connected to a target.
type session struct {
	gen      *Gen
	target   Target
	c        Config
	label    string
	stopProg chan struct{}
}

func open(ctx context.Context, c Config, t Target, label string, n int, topic func(i int) int, slow func(i int) bool, header string) (*session, error) {
	aps, err := t.addrs()
	if err != nil {
		return nil, err
	}
	g := &Gen{Hubs: aps, Topic: topic, Slow: slow, RcvBuf: 16 << 10,
		Request: func(i int) []byte { return t.request(strconv.Itoa(topic(i)), header) }}
	if err := g.Start(); err != nil {
		return nil, err
	}
	s := &session{gen: g, target: t, c: c, label: label, stopProg: make(chan struct{})}
	go s.progress()
	if err := g.Open(n, 0, 256); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.waitOpen(ctx, n, 120*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *session) waitOpen(ctx context.Context, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c := s.gen.Counters()
		if c.Open+c.Failed >= int64(n) {
			if c.Failed > 0 {
				return fmt.Errorf("%s: %d of %d subscriptions failed", s.label, c.Failed, n)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := s.gen.Counters()
	return fmt.Errorf("%s: only %d of %d subscriptions open after %v", s.label, c.Open, n, within)
}

// waitDelivered waits until want events arrived, or the drain window ends.
func (s *session) waitDelivered(want int64, window time.Duration) {
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) && s.gen.Counters().Deliveries < want {
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *session) progress() {
	if s.c.Progress == nil {
		return
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last, lastAt := int64(0), time.Now()
	for {
		select {
		case <-s.stopProg:
			fmt.Fprintf(s.c.Progress, "\r\033[K")
			return
		case now := <-t.C:
			c := s.gen.Counters()
			rate := float64(c.Deliveries-last) / now.Sub(lastAt).Seconds()
			last, lastAt = c.Deliveries, now
			fmt.Fprintf(s.c.Progress, "\r\033[K[%s] open %d, connecting %d, failed %d, dropped %d, delivered %d (%.0f/s)",
				s.label, c.Open, c.Connecting, c.Failed, c.Dropped, c.Deliveries, rate)
		}
	}
}

func (s *session) stop() Result {
	close(s.stopProg)
	return s.gen.Stop()
}

// sample sums the /proc figures of t's nodes.
func sample(t Target) ProcSample {
	var sum ProcSample
	if !t.measured() {
		return sum
	}
	for _, n := range t.Nodes {
		s, _ := Sample(n.PID)
		sum.RSS += s.RSS
		sum.CPU += s.CPU
		sum.Threads += s.Threads
	}
	return sum
}

// missing counts the acknowledged events that healthy subscribers did not
// get.
func missing(r Result, pub PubResult) int {
	n := 0
	for i, got := range r.PerSub {
		if r.Slow[i] {
			continue
		}
		if want := pub.PerTopic[r.Topics[i]]; got < want {
			n += want - got
		}
	}
	return n
}

func latencyMetrics(rep *Report, h *Hist) {
	l := h.Summary()
	rep.add("latency p50", "ms", float64(l.P50), false)
	rep.add("latency p90", "ms", float64(l.P90), false)
	rep.add("latency p99", "ms", float64(l.P99), false)
	rep.add("latency p99.9", "ms", float64(l.P999), false)
	rep.add("latency max", "ms", float64(l.Max), false)
}

// step runs one publishing step: n subscribers, topics chosen by topic(i)
// among nTopics, rate events/s in bursts.
type step struct {
	name    string
	subs    int
	topics  int
	topicOf func(i int) int
	rate    float64
	burst   int
	slow    func(i int) bool
	// opened, if set, runs once everyone is subscribed, before publishing.
	opened func()
	// loaded, if set, runs once publishing ended and its events arrived,
	// before the subscribers leave.
	loaded func()
}

func runStep(ctx context.Context, c Config, t Target, scenario string, st step) (Report, error) {
	rep := Report{Scenario: scenario, Target: t.Name,
		Params: fmt.Sprintf("%s: %d subscribers, %d topic(s), %.0f events/s, bursts of %d, %v", st.name, st.subs, st.topics, st.rate, max(st.burst, 1), c.duration())}
	if st.topicOf == nil {
		st.topicOf = func(int) int { return 0 }
	}
	sess, err := open(ctx, c, t, fmt.Sprintf("%s %s %s", scenario, t.Name, st.name), st.subs, st.topicOf, st.slow, "")
	if err != nil {
		return rep, err
	}
	if st.opened != nil {
		st.opened()
	}
	before, cpu0 := sess.gen.Counters(), sample(t)
	pick := func(int) int { return 0 }
	if st.topics > 1 {
		rnd := rand.New(rand.NewPCG(1, 2))
		pick = func(int) int { return rnd.IntN(st.topics) }
	}
	pub := t.publisher().Run(ctx, st.rate, c.duration(), st.burst, st.topics, pick, c.payload())
	healthy := st.subs
	if st.slow != nil {
		for i := range st.subs {
			if st.slow(i) {
				healthy--
			}
		}
	}
	want := int64(pub.Acked) * int64(healthy) / int64(max(st.topics, 1))
	if st.topics <= 1 {
		want = int64(pub.Acked) * int64(healthy)
	}
	sess.waitDelivered(before.Deliveries+want, 10*time.Second)
	after, cpu1 := sess.gen.Counters(), sample(t)
	if st.loaded != nil {
		st.loaded()
	}
	res := sess.stop()
	delivered := after.Deliveries - before.Deliveries
	elapsed := pub.Elapsed.Seconds()
	rep.add("deliveries/s", "1/s", float64(delivered)/elapsed, true)
	rep.add("published/s (acked)", "1/s", float64(pub.Acked)/elapsed, true)
	rep.add("lost (acked, not received)", "events", float64(missing(res, pub)), false)
	rep.add("duplicates", "events", float64(res.Dups), false)
	rep.add("publish errors", "requests", float64(pub.Failed), false)
	if t.measured() && delivered > 0 {
		rep.add("hub CPU per delivery", "µs", float64((cpu1.CPU-cpu0.CPU).Microseconds())/float64(delivered), false)
	}
	latencyMetrics(&rep, &res.Latency)
	if pub.FirstErr != "" {
		rep.Notes = append(rep.Notes, "first publish error: "+pub.FirstErr)
	}
	if l := pub.Late.Quantile(.99); l > 100*time.Millisecond {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the publisher fell behind its schedule (p99 %v): latency includes it", l.Round(time.Millisecond)))
	}
	return rep, nil
}
