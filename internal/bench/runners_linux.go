//go:build linux

package bench

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runIdle fills the hub with idle subscribers twice. The first fill also
// pays for one-off growth (runtime metadata, code pages first touched); the
// second shows what a subscriber costs a warmed-up hub, and whether memory
// came back after the first crowd left.
func runIdle(ctx context.Context, c Config, t Target) ([]Report, error) {
	n := c.subs(19_000)
	rep := Report{Scenario: "B1", Target: t.Name, Params: fmt.Sprintf("%d idle HTTP/1.1 subscribers, twice", n)}
	time.Sleep(time.Second)
	s0 := sample(t)
	var perSub [2]float64
	var connect time.Duration
	var s1, s2, s3, afterFirst ProcSample
	for round := range 2 {
		start := time.Now()
		sess, err := open(ctx, c, t, fmt.Sprintf("B1 %s fill %d", t.Name, round+1), n, func(i int) int { return i % 100 }, nil, "")
		if err != nil {
			return nil, err
		}
		connect = time.Since(start)
		time.Sleep(3 * time.Second) // let the hub settle
		s1 = sample(t)
		const idle = 5 * time.Second
		time.Sleep(idle)
		s2 = sample(t)
		sess.stop()
		time.Sleep(5 * time.Second)
		base := s0
		if round == 1 {
			base = s3
		}
		perSub[round] = float64(s1.RSS-base.RSS) / float64(n)
		s3 = sample(t)
		if round == 0 {
			afterFirst = s3
		}
	}
	rep.add("subscribers", "", float64(n), true)
	rep.add("connect rate", "1/s", float64(n)/connect.Seconds(), true)
	if t.measured() {
		rep.add("hub RSS per subscriber, first fill", "bytes", perSub[0], false)
		rep.add("hub RSS per subscriber, second fill", "bytes", perSub[1], false)
		rep.add("hub threads", "", float64(s1.Threads), false)
		rep.add("idle hub CPU per subscriber", "µs/s", float64((s2.CPU-s1.CPU).Microseconds())/5/float64(n), false)
		rep.add("hub RSS left after the first crowd, above the start", "MB", float64(afterFirst.RSS-s0.RSS)/1e6, false)
		rep.add("hub RSS left after the second crowd, above the first", "MB", float64(s3.RSS-afterFirst.RSS)/1e6, false)
	}
	return []Report{rep}, nil
}

// runCurve subscribes 1,000 to 19,000 subscribers to one topic and, at
// each count, measures the hub's memory per subscriber (its RSS above the
// empty hub's, divided by the count) and the latency of events published
// at a fixed rate (so deliveries grow with the count).
func runCurve(ctx context.Context, c Config, t Target) ([]Report, error) {
	counts := []int{1000, 2500, 5000, 10_000, 19_000}
	if c.Subs > 0 {
		counts = slices.DeleteFunc(counts, func(n int) bool { return n >= c.Subs })
		counts = append(counts, c.Subs)
	}
	rate := cmp(c.Rate, 5)
	var reps []Report
	// Memory is measured from the empty hub's: a hub that keeps what the
	// previous (smaller) crowd freed would otherwise look cheaper than it is.
	s0 := sample(t)
	for _, n := range counts {
		time.Sleep(3 * time.Second) // the previous crowd leaves
		var s1 ProcSample
		rep, err := runStep(ctx, c, t, "curve", step{name: fmt.Sprintf("%d subscribers", n), subs: n, topics: 1, rate: rate,
			opened: func() { time.Sleep(2 * time.Second); s1 = sample(t) }})
		if err != nil {
			return reps, err
		}
		rep.add("subscribers", "", float64(n), true)
		if t.measured() {
			rep.add("hub RSS per subscriber", "bytes", float64(s1.RSS-s0.RSS)/float64(n), false)
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

func runFanout(ctx context.Context, c Config, t Target) ([]Report, error) {
	n := c.subs(10_000)
	var reps []Report
	rates := []float64{1, 2, 5, 8, 10, 15}
	if c.Rate > 0 {
		rates = []float64{c.Rate}
	}
	for _, rate := range rates {
		rep, err := runStep(ctx, c, t, "B2", step{name: fmt.Sprintf("%.0f/s", rate), subs: n, topics: 1, rate: rate})
		if err != nil {
			return reps, err
		}
		reps = append(reps, rep)
	}
	for _, burst := range []int{16, 64} {
		rep, err := runStep(ctx, c, t, "B2", step{name: fmt.Sprintf("bursts of %d", burst), subs: n, topics: 1, rate: 100, burst: burst})
		if err != nil {
			return reps, err
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

func runLatency(ctx context.Context, c Config, t Target) ([]Report, error) {
	var reps []Report
	for _, st := range []step{
		{name: "a", subs: c.subs(10_000), topics: 1, rate: cmp(c.Rate, 5)},
		{name: "b", subs: 100, topics: 1, rate: 1000},
		{name: "c", subs: 1000, topics: 1, rate: 50},
	} {
		rep, err := runStep(ctx, c, t, "B3", st)
		if err != nil {
			return reps, err
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

func runTopics(ctx context.Context, c Config, t Target) ([]Report, error) {
	n := c.subs(19_000)
	rep, err := runStep(ctx, c, t, "B5", step{name: "one topic per subscriber", subs: n, topics: n,
		topicOf: func(i int) int { return i }, rate: cmp(c.Rate, 40_000)})
	if err != nil {
		return nil, err
	}
	// Idle topics: create many, each with one event and no subscriber.
	if t.measured() {
		const idle, first = 100_000, 1_000_000
		time.Sleep(5 * time.Second) // herd serve gives back the subscribers' memory first
		s0 := sample(t)
		t.publisher().Run(ctx, 1e6, idle*time.Microsecond, 1, first+idle,
			func(i int) int { return first + i }, c.payload())
		time.Sleep(time.Second)
		s1 := sample(t)
		rep.add("hub RSS per idle topic (one retained event each)", "bytes", float64(s1.RSS-s0.RSS)/idle, false)
	}
	return []Report{rep}, nil
}

func runSlow(ctx context.Context, c Config, t Target) ([]Report, error) {
	n := c.subs(10_000)
	rate := cmp(c.Rate, 5)
	base, err := runStep(ctx, c, t, "B6", step{name: "all healthy", subs: n, topics: 1, rate: rate})
	if err != nil {
		return nil, err
	}
	slowEvery := 100 // 1%
	s0 := sample(t)
	rep, err := runStep(ctx, c, t, "B6", step{name: "1% never read", subs: n, topics: 1, rate: rate,
		slow: func(i int) bool { return i%slowEvery == 0 }})
	if err != nil {
		return nil, err
	}
	s1 := sample(t)
	if t.measured() {
		rep.add("hub RSS change during the slow run", "MB", float64(s1.RSS-s0.RSS)/1e6, false)
	}
	return []Report{base, rep}, nil
}

func runAccept(ctx context.Context, c Config, t Target) ([]Report, error) {
	n := c.subs(19_000)
	rep := Report{Scenario: "B4", Target: t.Name, Params: fmt.Sprintf("%d subscriptions opened as fast as possible, 64 connecting at once", n)}
	aps, err := t.addrs()
	if err != nil {
		return nil, err
	}
	g := &Gen{Hubs: aps, Topic: func(i int) int { return 0 }, Request: func(i int) []byte { return t.request("0", "") }}
	if err := g.Start(); err != nil {
		return nil, err
	}
	sess := &session{gen: g, target: t, c: c, label: "B4 " + t.Name, stopProg: make(chan struct{})}
	go sess.progress()
	cpu0 := sample(t)
	start := time.Now()
	if err := g.Open(n, 0, 64); err != nil {
		sess.stop()
		return nil, err
	}
	err = sess.waitOpen(ctx, n, 120*time.Second)
	elapsed := time.Since(start)
	cpu1 := sample(t)
	res := sess.stop()
	if err != nil {
		return nil, err
	}
	rep.add("accept rate", "conn/s", float64(n)/elapsed.Seconds(), true)
	rep.add("time to first byte p99", "ms", float64(ms(res.FirstByte.Quantile(.99))), false)
	if t.measured() {
		rep.add("hub CPU per connection", "µs", float64((cpu1.CPU-cpu0.CPU).Microseconds())/float64(n), false)
	}
	reps := []Report{rep}
	if t.Resume {
		storm, err := runStorm(ctx, c, t, min(n, 10_000))
		if err != nil {
			return reps, err
		}
		reps = append(reps, storm)
	}
	return reps, nil
}

// runStorm publishes 20 events, then opens n subscriptions at once that all
// resume after the 10th: each must get exactly the last 10.
func runStorm(ctx context.Context, c Config, t Target, n int) (Report, error) {
	rep := Report{Scenario: "B4", Target: t.Name, Params: fmt.Sprintf("reconnect storm: %d subscribers resume with Last-Event-ID, 10 events behind", n)}
	topic := "storm" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var resumeFrom string
	for i := range 20 {
		id, err := publishOne(ctx, t, topic, Payload(i, time.Now(), c.payload()))
		if err != nil {
			return rep, err
		}
		if i == 9 {
			resumeFrom = id
		}
	}
	aps, _ := t.addrs()
	path := strings.ReplaceAll(t.SubPath, "{topic}", url.QueryEscape(topicName(topic)))
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + t.host() + "\r\nAccept: text/event-stream\r\nLast-Event-ID: " + resumeFrom + "\r\n\r\n")
	g := &Gen{Hubs: aps, Topic: func(int) int { return 0 }, Request: func(int) []byte { return req }}
	if err := g.Start(); err != nil {
		return rep, err
	}
	sess := &session{gen: g, target: t, c: c, label: "B4 storm " + t.Name, stopProg: make(chan struct{})}
	go sess.progress()
	start := time.Now()
	if err := g.Open(n, 0, 128); err != nil {
		sess.stop()
		return rep, err
	}
	sess.waitDelivered(int64(10*n), 60*time.Second)
	elapsed := time.Since(start)
	res := sess.stop()
	short := 0
	for _, got := range res.PerSub {
		if got != 10 {
			short++
		}
	}
	rep.add("resumes caught up per second", "1/s", float64(n)/elapsed.Seconds(), true)
	rep.add("subscribers not given exactly the 10 missed events", "", float64(short), false)
	rep.add("duplicates", "events", float64(res.Dups), false)
	return rep, nil
}

// runPerSubscriber measures what one subscriber costs a hub, with every
// subscriber on one topic and with one topic each: its memory (the hub's
// RSS above the warmed-up empty hub's, per subscriber, once all are
// subscribed, and again at the end of the load) and the hub's CPU per
// delivery. These are the figures that compare kinds of subscribers
// (herd's own API, the Mercure endpoint) on one hub, and hubs with one
// another.
//
// Each step runs on a fresh hub process when the target can be restarted
// (a hub bench started, or one given with --hub-cmd), warmed up by a
// small crowd (100 subscribers, a second of publishing) that leaves before
// the empty hub is measured: the first touch of code and runtime
// structures is not a subscriber's cost, and a heap that a previous
// crowd of thousands left behind would hide the next crowd's.
func runPerSubscriber(ctx context.Context, c Config, t Target) ([]Report, error) {
	n := c.subs(2000)
	var reps []Report
	for _, st := range []step{
		{name: "one topic", subs: n, topics: 1, rate: cmp(c.Rate, 20)},
		{name: "one topic each", subs: n, topics: n, topicOf: func(i int) int { return i }, rate: cmp(c.Rate, 20) * 50},
	} {
		fresh := t.Restart != nil
		if fresh {
			nodes, err := t.Restart()
			if err != nil {
				return reps, fmt.Errorf("restarting %s: %w", t.Name, err)
			}
			t.Nodes = nodes
			warm := st
			warm.subs, warm.topics = min(n, 100), min(st.topics, 100)
			warmCfg := c
			warmCfg.Duration = time.Second
			if _, err := runStep(ctx, warmCfg, t, "B7 warm-up", warm); err != nil {
				return reps, err
			}
		}
		time.Sleep(3 * time.Second) // the previous crowd leaves
		s0 := sample(t)
		var s1, s2 ProcSample
		st.opened = func() { time.Sleep(2 * time.Second); s1 = sample(t) }
		st.loaded = func() { s2 = sample(t) }
		rep, err := runStep(ctx, c, t, "B7", st)
		if err != nil {
			return reps, err
		}
		if t.measured() {
			rep.add("hub RSS per subscriber", "bytes", float64(s1.RSS-s0.RSS)/float64(n), false)
			rep.add("hub RSS per subscriber at the end of the load", "bytes", float64(s2.RSS-s0.RSS)/float64(n), false)
		}
		if !fresh {
			rep.Notes = append(rep.Notes, "measured on a hub that was not restarted (--hub without --hub-cmd): its heap may hold what earlier steps left")
		}
		reps = append(reps, rep)
	}
	return reps, nil
}
