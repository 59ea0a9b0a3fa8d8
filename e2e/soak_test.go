//go:build linux && integration

package e2e

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

var soakFor = flag.Duration("soak", 20*time.Second, "length of each of TestSoak's two rounds of load (the test command's default is short; try -soak 10m)")

// TestSoak puts a durable herd (bolt) under churn: publishers, with some
// publishes retried under their idempotency key; subscribers that come
// and go, resume with Last-Event-ID, use several topics and wildcards;
// topics closed while in use. It runs two rounds of the same load and
// fails if, once each round's clients are gone, the second round left the
// hub with more goroutines, open files or live heap than the first (a
// leak grows with load; a warm cache does not), and if any subscriber
// chain lost, doubled or reordered an acknowledged event.
func TestSoak(t *testing.T) {
	t.Parallel()
	debug := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	h := startHerd(t, "--store", "bolt:"+t.TempDir()+"/herd.db", "--debug-addr", debug,
		"--max-subscribers-per-ip", "0", "--history-max-events", "-1")
	var after [2]usage
	for round := range 2 {
		s := &soak{t: t, base: h.URL, round: round, acked: map[string][]string{}}
		s.run(*soakFor)
		s.verify()
		after[round] = settle(t, h, debug)
		t.Logf("round %d: %d publishes, %d subscriber chains, %d events received, %d closes; after: %+v",
			round+1, s.published, len(s.chains), s.received, s.closes, after[round])
	}
	first, second := after[0], after[1]
	if second.goroutines > first.goroutines+2 || second.fds > first.fds+2 || second.heap > first.heap+8<<20 {
		t.Errorf("the hub grew from one round to the next: %+v after the first, %+v after the second\n%s", first, second, h.stderr)
	}
}

// A soak is one round of load.
type soak struct {
	t     *testing.T
	base  string
	round int

	mu        sync.Mutex
	acked     map[string][]string // topic: ids acknowledged, in the hub's order
	chains    []*chain
	published int
	received  int
	closes    int
}

// A chain is one subscriber's life over several connections: what it saw
// of one topic, in order, each connection resuming after the last id.
type chain struct {
	topic  string
	ids    []string
	closed bool // it saw the topic's close
}

func (s *soak) topic(gen int, i int) string { return fmt.Sprintf("soak%d/g%d/t%d", s.round, gen, i) }

func (s *soak) run(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	const topics = 8
	var gen struct {
		sync.Mutex
		n int
	}
	current := func(i int) string {
		gen.Lock()
		defer gen.Unlock()
		return s.topic(gen.n, i)
	}
	var wg sync.WaitGroup
	for p := range 4 { // publishers
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), uint64(s.round)))
			for n := 0; ctx.Err() == nil; n++ {
				topic := current(r.IntN(topics))
				key := fmt.Sprintf("r%d-p%d-%d", s.round, p, n)
				tries := 1 + r.IntN(2) // a retry under the same key must not publish twice
				var first string
				for range tries {
					id, err := s.publish(topic, topic+" "+key, key)
					if err != nil && strings.Contains(err.Error(), "409") {
						break // closed meanwhile: refused, and not stored
					}
					if err != nil {
						s.t.Errorf("publish to %s: %v", topic, err)
						return
					}
					if first != "" && id != first {
						s.t.Errorf("idempotency key %s answered %s, then %s", key, first, id)
					}
					if first == "" {
						first = id
						s.mu.Lock()
						s.acked[topic] = append(s.acked[topic], id)
						s.published++
						s.mu.Unlock()
					}
				}
			}
		})
	}
	wg.Go(func() { // closes: every second, a new generation of topics
		for g := 1; ; g++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			gen.Lock()
			old := gen.n
			gen.n = g
			gen.Unlock()
			for i := range topics {
				if _, err := s.publish(s.topic(old, i), "", ""); err != nil {
					s.t.Errorf("closing %s: %v", s.topic(old, i), err)
				}
			}
			s.mu.Lock()
			s.closes += topics
			s.mu.Unlock()
		}
	})
	for sub := range 16 { // subscribers
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(100+sub), uint64(s.round)))
			for ctx.Err() == nil {
				c := &chain{topic: current(r.IntN(topics))}
				s.follow(ctx, r, c)
				s.mu.Lock()
				s.chains = append(s.chains, c)
				s.received += len(c.ids)
				s.mu.Unlock()
			}
		})
	}
	wg.Wait()
	// The last generation is closed too, so that its history ends.
	for i := range topics {
		if _, err := s.publish(current(i), "", ""); err != nil {
			s.t.Errorf("closing %s: %v", current(i), err)
		}
	}
}

// soakClient keeps enough connections alive for the publishers: opening
// one per publish would exhaust the ephemeral ports.
var soakClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// publish publishes data to topic under an idempotency key, or closes the
// topic when data is empty.
func (s *soak) publish(topic, data, key string) (string, error) {
	form := url.Values{"topic": {topic}}
	if data == "" {
		form.Set("close", "true")
	} else {
		form.Set("data", data)
	}
	req, _ := http.NewRequest("POST", s.base+"/events", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return sendPublish(soakClient, req)
}

// follow subscribes c to its topic over several short connections, each
// resuming after the last id seen, until the topic closes or the round
// ends.
func (s *soak) follow(ctx context.Context, r *rand.Rand, c *chain) {
	last := ""
	for ctx.Err() == nil && !c.closed {
		connCtx, cancel := context.WithTimeout(ctx, time.Duration(50+r.IntN(400))*time.Millisecond)
		selector := c.topic
		if r.IntN(3) == 0 {
			selector = c.topic[:strings.LastIndexByte(c.topic, '/')] + "/*" // a wildcard, filtered below
		}
		req, _ := http.NewRequestWithContext(connCtx, "GET", s.base+"/events?topic="+selector, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			if ctx.Err() == nil && connCtx.Err() == nil {
				s.t.Errorf("subscribe %s: %v", selector, err)
			}
			return
		}
		if resp.StatusCode == http.StatusNoContent { // closed, and nothing left to replay
			resp.Body.Close()
			cancel()
			c.closed = true
			return
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			s.t.Errorf("subscribe %s: %s %s", selector, resp.Status, b)
			return
		}
		for e, err := range sse.Read(bufio.NewReader(resp.Body)) {
			if err != nil {
				break // this connection's time is up
			}
			switch {
			case e.Type == "gap":
				s.t.Errorf("%s: a gap with no retention limit: %q", c.topic, e.Data)
			case e.Type == "close":
				if strings.Contains(e.Data, `"`+c.topic+`"`) {
					c.closed = true
				}
			case e.ID != "" && e.Data != "":
				last = e.ID
				if topic, _, _ := strings.Cut(e.Data, " "); topic == c.topic { // a wildcard gets its neighbours too
					c.ids = append(c.ids, e.ID)
				}
			}
			if c.closed {
				break
			}
		}
		resp.Body.Close()
		cancel()
	}
}

func (s *soak) verify() {
	t := s.t
	// The hub's own order of each topic, as a new subscriber replays it.
	history := map[string][]string{}
	for topic := range s.acked {
		history[topic] = replayAll(t, s.base, topic)
	}
	for topic, ids := range s.acked {
		stored := map[string]bool{}
		for _, id := range history[topic] {
			stored[id] = true
		}
		for _, id := range ids {
			if !stored[id] {
				t.Errorf("%s: acknowledged %s is not in the history", topic, id)
			}
		}
		if len(history[topic]) != len(ids) {
			t.Errorf("%s: %d events acknowledged, %d in the history (doubled?)", topic, len(ids), len(history[topic]))
		}
	}
	if s.published == 0 || len(s.chains) == 0 {
		t.Fatalf("no load: %d publishes, %d chains", s.published, len(s.chains))
	}
	for _, c := range s.chains {
		h := history[c.topic]
		if len(c.ids) == 0 {
			continue
		}
		start := -1
		for i, id := range h {
			if id == c.ids[0] {
				start = i
			}
		}
		if start < 0 {
			t.Errorf("%s: a subscriber got %s, which is not in the history", c.topic, c.ids[0])
			continue
		}
		for i, id := range c.ids {
			if start+i >= len(h) || h[start+i] != id {
				t.Errorf("%s: a subscriber's event %d is %s, the history has %v there: lost, doubled or reordered\nchain %v", c.topic, i, id, h[start+i:min(len(h), start+i+3)], c.ids)
				break
			}
		}
		if c.closed && start+len(c.ids) != len(h) {
			t.Errorf("%s: a subscriber saw the close after %d of the %d events from its first", c.topic, len(c.ids), len(h)-start)
		}
	}
}

// replayAll returns a topic's event ids, from the earliest.
func replayAll(t *testing.T, base, topic string) []string {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events?topic="+topic+"&last_event_id=earliest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ids []string
	for e, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatalf("replaying %s: %v (is it closed?)", topic, err)
		}
		if e.Type == "close" {
			return ids
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// usage is what the hub holds when idle.
type usage struct {
	goroutines, fds int
	heap            int64 // live heap after a collection
}

// settle waits until the hub has no subscriber left, then reads its usage
// after a forced collection, waiting for goroutines and files to wind
// down (connections close asynchronously).
func settle(t *testing.T, h *herd, debug string) usage {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	soakClient.CloseIdleConnections()
	var u usage
	deadline := time.Now().Add(30 * time.Second)
	prev := usage{goroutines: -1}
	for {
		resp, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		m := metrics(t, h.URL)
		u = usage{goroutines: int(m["go_goroutines"]), fds: int(m["process_open_fds"]), heap: int64(m["go_memstats_heap_alloc_bytes"])}
		if m["herd_subscribers"] == 0 && u.goroutines == prev.goroutines && u.fds == prev.fds {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not settle in 30s: %v subscribers, %+v then %+v", m["herd_subscribers"], prev, u)
		}
		prev = u
		time.Sleep(500 * time.Millisecond)
	}
}

// metrics reads the hub's /metrics, unlabelled series only.
func metrics(t *testing.T, base string) map[string]float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		name, value, ok := strings.Cut(lines.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Fatal(errors.New("/metrics has no go_goroutines"))
	}
	return m
}
