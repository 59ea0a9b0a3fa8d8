package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Target is a hub under test: one node, or several sharing a store.
type Target struct {
	Name  string
	Nodes []Node

	// SubPath is the subscription path for a topic: "{topic}" is replaced.
	SubPath string
	// PubPath, Body and ContentType make a publish request (POST).
	PubPath     string
	Body        BodyFunc
	ContentType string
	Header      http.Header
	// Resume says the hub resumes after Last-Event-ID (herd does).
	Resume bool
}

// A Node is one hub process. Subscribers and publishers are spread over a
// target's nodes round robin; /proc figures are summed over them.
type Node struct {
	Base string // http://host:port
	PID  int    // for /proc figures; 0 if unknown
}

func (t Target) addrs() ([]netip.AddrPort, error) {
	var aps []netip.AddrPort
	for _, n := range t.Nodes {
		u, err := url.Parse(n.Base)
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(u.Host)
		if err != nil {
			return nil, fmt.Errorf("%s: the generator connects to an IPv4 address:port, like http://127.0.0.1:8080 (%v)", n.Base, err)
		}
		aps = append(aps, ap)
	}
	if len(aps) == 0 {
		return nil, fmt.Errorf("target %s has no nodes", t.Name)
	}
	return aps, nil
}

// measured reports whether /proc figures are known for every node.
func (t Target) measured() bool {
	for _, n := range t.Nodes {
		if n.PID == 0 {
			return false
		}
	}
	return len(t.Nodes) > 0
}

func (t Target) pubURLs() []string {
	var urls []string
	for _, n := range t.Nodes {
		urls = append(urls, n.Base+t.PubPath)
	}
	return urls
}

func (t Target) request(topic string, header string) []byte {
	path := strings.ReplaceAll(t.SubPath, "{topic}", url.QueryEscape(topicName(topic)))
	return []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n" + header + "\r\n")
}

// Config are the settings of a run.
type Config struct {
	Subs     int           // subscribers; 0 means each scenario's default
	Duration time.Duration // each publishing step; 0 means 10s
	Payload  int           // event data bytes; 0 means 64
	Rate     float64       // events/s; 0 means each scenario's default
	Progress io.Writer     // a progress line goes here, if not nil
}

func (c Config) subs(def int) int { return cmp(c.Subs, def) }

func (c Config) duration() time.Duration {
	if c.Duration > 0 {
		return c.Duration
	}
	return 10 * time.Second
}

func (c Config) payload() int { return cmp(c.Payload, 64) }

func cmp[T int | float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// A Metric is one figure of a report.
type Metric struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
	Higher bool    `json:"higher_is_better"`
}

// A Report is one scenario's figures for one target.
type Report struct {
	Scenario string   `json:"scenario"`
	Title    string   `json:"title"`
	Target   string   `json:"target"`
	Params   string   `json:"params"`
	Metrics  []Metric `json:"metrics"`
	Notes    []string `json:"notes,omitempty"`
}

func (r *Report) add(name, unit string, v float64, higher bool) {
	r.Metrics = append(r.Metrics, Metric{name, unit, v, higher})
}

// A Scenario is one of the benchmarks of research/performance.md §5.
type Scenario struct {
	Name  string
	Alias string
	Title string
	Run   func(ctx context.Context, c Config, t Target) ([]Report, error)
}

// Scenarios are B1–B6.
var Scenarios = []Scenario{
	{"B1", "idle", "idle subscribers: memory and CPU per subscriber", runIdle},
	{"B2", "fanout", "fan-out: one topic to many subscribers, rate sweep and bursts", runFanout},
	{"B3", "latency", "publish-to-receive latency under load", runLatency},
	{"B4", "accept", "connection accept rate, and a reconnect storm with Last-Event-ID", runAccept},
	{"B5", "topics", "many topics, one subscriber each", runTopics},
	{"B6", "slow", "slow consumers among healthy ones", runSlow},
}

// Curve is the scenario behind the plot in BENCHMARKS.md: memory per
// subscriber and latency at growing subscriber counts. It is not part of
// "all".
var Curve = Scenario{"curve", "", "memory per subscriber and latency against subscriber count", runCurve}

// Lookup finds a scenario by name or alias.
func Lookup(name string) (Scenario, bool) {
	for _, s := range append(Scenarios, Curve) {
		if strings.EqualFold(s.Name, name) || strings.EqualFold(s.Alias, name) {
			return s, true
		}
	}
	return Scenario{}, false
}

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

func (t Target) publisher() *Publisher {
	return &Publisher{URLs: t.pubURLs(), Body: t.Body, ContentType: t.ContentType, Header: t.Header}
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
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\nLast-Event-ID: " + resumeFrom + "\r\n\r\n")
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

// publishOne publishes one event and returns the id the hub answered.
func publishOne(ctx context.Context, t Target, topic, data string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", t.pubURLs()[0], strings.NewReader(string(t.Body(topicName(topic), data))))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", t.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var answer struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("publish: %s", resp.Status)
	}
	return answer.ID, nil
}
