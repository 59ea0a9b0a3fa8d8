//go:build linux && integration

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFailover is a Jepsen-style checker of herd on highly available
// brokers: a 3-server JetStream cluster keeping the stream on 3 replicas,
// a Redis primary with a replica and three sentinels, and a Redis Cluster
// of three masters with a replica each (both Redis setups with
// wait_replicas=1). Two herd nodes serve each. Concurrent publishers (each
// publish with its own idempotency key, retried on every error) and
// subscribers (resuming with Last-Event-ID across every error, through
// either node) run while the test kills the stream's leader or the
// primary (kill -9), restarts it, then freezes the new one (SIGSTOP) long
// enough for a failover and thaws it. Every acknowledgement and every
// delivery is recorded, and checked: no acknowledged event lost, none
// delivered twice, every topic's events in one order that every
// subscriber shares (each view is the log, filtered to its topics, and no
// subscriber sees an event the others place elsewhere), no event that no
// one published, and closed topics refused by every node.
//
// HERD_FAILOVER_ROUNDS (default 1) repeats the faults for longer runs;
// each round adds about 20 s per setup. The figures (acknowledged,
// delivered, the longest stretch without an acknowledgement after each
// fault) are logged; HERD_FAILOVER_REPORT names a file to append them to.
func TestFailover(t *testing.T) {
	rounds := 1
	if v := os.Getenv("HERD_FAILOVER_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HERD_FAILOVER_ROUNDS=%q: want a number of rounds, 1 or more", v)
		}
		rounds = n
	}
	setups := map[string]func(*testing.T, string) *haSetup{
		"nats": natsCluster, "redis-sentinel": redisSentinel, "redis-cluster": redisCluster,
	}
	for _, name := range []string{"nats", "redis-sentinel", "redis-cluster"} {
		t.Run(name, func(t *testing.T) {
			setup := setups[name](t, "failover")
			runFailover(t, setup, rounds)
		})
	}
}

// A publication is one event a publisher tried to publish, and what came
// of it.
type publication struct {
	key    string // its idempotency key, and its data
	topics []string
	id     string // the acknowledged id; "" if never acknowledged
}

// A fault is one thing done to the broker, for the report.
type fault struct {
	what   string
	at     time.Time
	outage time.Duration // the longest stretch without an acknowledgement after it
}

func runFailover(t *testing.T, setup *haSetup, rounds int) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	nodes := []*herd{
		startHerd(t, "--store", setup.store, "--retry", "100ms", "--heartbeat", "1s"),
		startHerd(t, "--store", setup.store, "--retry", "100ms", "--heartbeat", "1s"),
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			for i, h := range nodes {
				t.Logf("node %d logged:\n%s", i, tail(h.stderr.String(), 4000))
			}
		}
	})
	lb := newBalancer(nodes)
	topics := []string{"f0", "f1", "f2", "f3"}
	var subscribers []*clusterFollower
	for i := range 6 {
		sels := []string{topics[i%4]}
		if i >= 4 {
			sels = append(sels, topics[(i+1)%4]) // two subscribers to two topics each
		}
		subscribers = append(subscribers, followVia(ctx, lb.client(i%2), sels))
	}

	// Publishers publish until told to stop, each event retried with its
	// idempotency key until acknowledged, or abandoned when the run ends.
	var mu sync.Mutex
	var pubs []*publication
	var acks []time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var attempts atomic.Int64
	for p := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ts := []string{topics[r.IntN(4)]}
				if r.IntN(5) == 0 {
					ts = append(ts, topics[r.IntN(4)])
				}
				pub := &publication{key: fmt.Sprintf("p%d-%d", p, i), topics: ts}
				mu.Lock()
				pubs = append(pubs, pub)
				mu.Unlock()
				id := publishUntil(stop, lb.client(r.IntN(2)), pub, &attempts)
				if id == "" {
					return
				}
				mu.Lock()
				pub.id = id
				acks = append(acks, time.Now())
				mu.Unlock()
				time.Sleep(time.Duration(r.IntN(10)) * time.Millisecond)
			}
		})
	}

	var faults []*fault
	pause := func(d time.Duration) { time.Sleep(d) }
	leader := func() *broker {
		var b *broker
		waitFor(t, 60*time.Second, "the "+setup.name+" leader", func() error {
			var err error
			b, err = setup.leader(ctx)
			return err
		})
		return b
	}
	pause(3 * time.Second)
	for range rounds {
		l := leader()
		faults = append(faults, &fault{what: fmt.Sprintf("kill -9 of the leader (port %d)", l.port), at: time.Now()})
		l.kill()
		pause(6 * time.Second)
		faults = append(faults, &fault{what: fmt.Sprintf("restart of port %d", l.port), at: time.Now()})
		l.restart()
		pause(4 * time.Second)
		l = leader()
		faults = append(faults, &fault{what: fmt.Sprintf("SIGSTOP of the leader (port %d) for 5s", l.port), at: time.Now()})
		l.pause()
		pause(5 * time.Second)
		l.resume()
		pause(4 * time.Second)
	}
	// The run ends once publishing has recovered from the last fault (or
	// fails if it does not).
	last := faults[len(faults)-1].at
	waitFor(t, 60*time.Second, "acknowledgements after the last fault", func() error {
		mu.Lock()
		defer mu.Unlock()
		if n := len(acks) - slices.IndexFunc(acks, last.Before); slices.ContainsFunc(acks, last.Before) && n >= 20 {
			return nil
		}
		return errors.New("too few")
	})
	close(stop)
	wg.Wait()
	stopped := time.Now()

	// Every topic is closed, through either node, once it is available.
	closeKey := "close-" + setup.name
	closeID := publishVia(t, lb.client(0), closeKey, map[string]any{"topic": topics, "close": true})
	for _, s := range subscribers {
		s.wait(t)
	}
	for i, h := range nodes {
		for _, topic := range topics {
			code, body := postStatus(t, h.URL, topic)
			if code != http.StatusConflict {
				t.Errorf("node %d: a publish to the closed topic %s: %d %s, want 409", i, topic, code, body)
			}
		}
	}
	// A run in which the broker hardly took publishes proves little.
	if len(acks) < 100 {
		t.Errorf("only %d publishes acknowledged", len(acks))
	}
	checkHistory(t, pubs, subscribers)
	for i, s := range subscribers {
		if s.closedBy != closeID {
			t.Errorf("subscriber %d to %v: closed by %q, want the close %s", i, s.sels, s.closedBy, closeID)
		}
	}

	// The figures.
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	for i, f := range faults {
		end := stopped
		if i+1 < len(faults) {
			end = faults[i+1].at
		}
		f.outage = longestGap(acks, f.at, end)
	}
	acked, delivered := 0, 0
	for _, p := range pubs {
		if p.id != "" {
			acked++
		}
	}
	for _, s := range subscribers {
		delivered += len(s.ids)
	}
	report := fmt.Sprintf("%s: %d publishes attempted (%d requests), %d acknowledged, %d deliveries to %d subscribers",
		setup.name, len(pubs), attempts.Load(), acked, delivered, len(subscribers))
	for _, f := range faults {
		report += fmt.Sprintf("\n  %s: %.1fs without an acknowledgement", f.what, f.outage.Seconds())
	}
	t.Log(report)
	if path := os.Getenv("HERD_FAILOVER_REPORT"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, report)
			f.Close()
		}
	}
}

// publishUntil publishes pub, retrying with its idempotency key on every
// error, until a node acknowledges it (its id) or stop is closed ("").
func publishUntil(stop chan struct{}, hc *http.Client, pub *publication, attempts *atomic.Int64) string {
	body, _ := json.Marshal(map[string]any{"topic": pub.topics, "data": pub.key})
	for {
		attempts.Add(1)
		// A request to a node stuck on a dead leader is given up, and
		// retried through either node, after 2s.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://localhost/events", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", pub.key)
		resp, err := hc.Do(req)
		if err == nil {
			var answer struct{ ID string }
			json.NewDecoder(resp.Body).Decode(&answer)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				cancel()
				return answer.ID
			}
		}
		cancel()
		select {
		case <-stop:
			return ""
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// postStatus publishes one event to topic on one node, and returns the
// answer's status and body.
func postStatus(t *testing.T, base, topic string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/events", "application/json", strings.NewReader(`{"topic":"`+topic+`","data":"late"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp.StatusCode, b.String()
}

// checkHistory checks what the subscribers saw against what was
// published and acknowledged.
func checkHistory(t *testing.T, pubs []*publication, subscribers []*clusterFollower) {
	t.Helper()
	byKey := map[string]*publication{}
	for _, p := range pubs {
		byKey[p.key] = p
	}
	// The log as the subscribers together saw it: id → the event's key.
	// An id must stand for one event, and an event have one id.
	keyOf := map[string]string{}
	idOf := map[string]string{}
	for i, s := range subscribers {
		seen := map[string]bool{}
		for j, id := range s.ids {
			key := s.datas[j]
			switch {
			case seen[id]:
				t.Errorf("subscriber %d to %v: event %s (%s) delivered twice", i, s.sels, id, key)
			case byKey[key] == nil:
				t.Errorf("subscriber %d to %v: event %s carries %q, which no one published", i, s.sels, id, key)
			case keyOf[id] != "" && keyOf[id] != key:
				t.Errorf("id %s stands for %s and for %s", id, keyOf[id], key)
			case idOf[key] != "" && idOf[key] != id:
				t.Errorf("event %s stored twice, as %s and %s", key, idOf[key], id)
			}
			seen[id] = true
			keyOf[id], idOf[key] = key, id
			if p := byKey[key]; p != nil && len(intersect(p.topics, s.sels)) == 0 {
				t.Errorf("subscriber %d to %v got %s, published to %v", i, s.sels, key, p.topics)
			}
			if j > 0 && seq(t, s.ids[j-1]) >= seq(t, id) {
				t.Errorf("subscriber %d to %v: %s after %s, out of order", i, s.sels, id, s.ids[j-1])
			}
		}
	}
	// Every acknowledged event is in the log with the id acknowledged.
	for _, p := range pubs {
		if p.id == "" {
			continue
		}
		if idOf[p.key] == "" {
			t.Errorf("acknowledged event %s (%s, topics %v) lost", p.key, p.id, p.topics)
		} else if idOf[p.key] != "" && idOf[p.key] != p.id {
			t.Errorf("event %s acknowledged as %s but delivered as %s", p.key, p.id, idOf[p.key])
		}
	}
	// Every subscriber's view is the whole log filtered to its topics: a
	// prefix (up to the close) of one sequence that all of them share.
	var log []string
	for id := range keyOf {
		log = append(log, id)
	}
	slices.SortFunc(log, func(a, b string) int { return seq(t, a) - seq(t, b) })
	for i, s := range subscribers {
		var want []string
		for _, id := range log {
			if len(intersect(byKey[keyOf[id]].topics, s.sels)) > 0 {
				want = append(want, id)
			}
		}
		if !slices.Equal(s.ids, want) {
			t.Errorf("subscriber %d to %v saw %d events, the log has %d for it; first difference at %d", i, s.sels, len(s.ids), len(want), firstDiff(s.ids, want))
		}
	}
}

// longestGap is the longest stretch of [from, to) without a time of acks
// (sorted).
func longestGap(acks []time.Time, from, to time.Time) time.Duration {
	last, gap := from, time.Duration(0)
	for _, a := range acks {
		if a.Before(from) {
			continue
		}
		if !a.Before(to) {
			break
		}
		gap = max(gap, a.Sub(last))
		last = a
	}
	return max(gap, to.Sub(last))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
