//go:build linux && integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/sse"
)

// sharedStore returns a store URL on the machine's shared broker, with a
// fresh prefix removed when the test ends.
func sharedStore(t *testing.T, engine string) string {
	if engine == "redis" {
		u := services.RedisURL(t)
		return u + "?prefix=" + services.RedisPrefix(t, u)
	}
	u := services.NATSURL(t)
	return u + "?prefix=" + services.NATSPrefix(t, u)
}

// A balancer plays the load balancer in front of hub nodes: each client
// prefers one node, and goes to the next live one when it cannot connect.
type balancer struct {
	mu    sync.Mutex
	nodes []string // host:port
}

func newBalancer(hs []*herd) *balancer {
	b := &balancer{}
	for _, h := range hs {
		u, _ := url.Parse(h.URL)
		b.nodes = append(b.nodes, u.Host)
	}
	return b
}

func (b *balancer) client(preferred int) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			b.mu.Lock()
			nodes := slices.Clone(b.nodes)
			b.mu.Unlock()
			var err error
			for i := range nodes {
				var c net.Conn
				if c, err = d.DialContext(ctx, network, nodes[(preferred+i)%len(nodes)]); err == nil {
					return c, nil
				}
			}
			return nil, err
		},
	}}
}

// clusterFollower follows topics through the balancer, from the earliest
// event, counting its reconnections.
type clusterFollower struct {
	follower
	reconnects atomic.Int64
}

func followVia(ctx context.Context, hc *http.Client, sels []string) *clusterFollower {
	f := &clusterFollower{follower: follower{sels: sels, done: make(chan struct{})}}
	req, _ := http.NewRequest("GET", "http://localhost/events?"+url.Values{"topic": sels}.Encode(), nil)
	req.Header.Set("Last-Event-ID", "earliest")
	client := &sse.Client{HTTPClient: hc, Retry: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, SeeCloseEvent: true,
		Reconnect: func(error, time.Duration) bool { f.reconnects.Add(1); return true }}
	go f.read(client.Subscribe(ctx, req), nil)
	return f
}

// publishVia publishes through the balancer, retrying with one idempotency
// key until some node acknowledges: the event is stored exactly once.
func publishVia(t *testing.T, hc *http.Client, key string, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	for attempt := range 400 {
		req, _ := http.NewRequest("POST", "http://localhost/events", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := hc.Do(req)
		if err == nil {
			var answer struct{ ID, Error string }
			json.NewDecoder(resp.Body).Decode(&answer)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return answer.ID
			}
			if resp.StatusCode != 503 {
				t.Fatalf("publish %s: %s %s", key, resp.Status, answer.Error)
			}
		}
		time.Sleep(time.Duration(min(attempt+1, 10)) * 20 * time.Millisecond)
	}
	t.Fatalf("publish %s never acknowledged", key)
	return ""
}

// TestCluster runs three herd nodes on one store. Subscribers spread over
// the nodes, publishes go to random nodes, and one node is killed (kill -9)
// mid-stream: every subscriber, its own connection moved to a live node
// with Last-Event-ID, sees every event of its topics exactly once, in
// order.
func TestCluster(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) { testCluster(t, engine) })
	}
}

func testCluster(t *testing.T, engine string) {
	store := sharedStore(t, engine)
	var nodes []*herd
	for range 3 {
		nodes = append(nodes, startHerd(t, "--store", store, "--retry", "200ms"))
	}
	lb := newBalancer(nodes)
	topics := []string{"c1", "c2", "c3"}
	var followers []*clusterFollower
	for i := range 9 {
		sels := []string{topics[i%3]}
		if i%2 == 0 {
			sels = append(sels, topics[(i+1)%3])
		}
		followers = append(followers, followVia(t.Context(), lb.client(i%3), sels))
	}
	perNode := make([]int, len(nodes))
	for i, f := range followers {
		perNode[i%3] += len(f.sels)
	}
	for i, h := range nodes {
		waitTopicSum(t, h.URL, perNode[i])
	}

	type acked struct {
		id     string
		topics []string
	}
	var mu sync.Mutex
	var published []acked
	var killed sync.Once
	var wg sync.WaitGroup
	for p := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), 1))
			for i := range 100 {
				if p == 0 && i == 40 {
					killed.Do(func() { nodes[1].kill9() }) // its subscribers move on
				}
				ts := []string{topics[r.IntN(3)]}
				if r.IntN(4) == 0 {
					ts = append(ts, topics[r.IntN(3)])
				}
				id := publishVia(t, lb.client(r.IntN(3)), fmt.Sprintf("p%d-%d", p, i), map[string]any{"topic": ts, "data": fmt.Sprintf("%d/%d", p, i)})
				mu.Lock()
				published = append(published, acked{id, ts})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	publishVia(t, lb.client(0), "close", map[string]any{"topic": topics, "close": true})

	ids := map[string]bool{}
	for _, a := range published {
		if ids[a.id] {
			t.Fatalf("id %s acknowledged for two events", a.id)
		}
		ids[a.id] = true
	}
	slices.SortFunc(published, func(a, b acked) int { return seq(t, a.id) - seq(t, b.id) })
	moved := 0
	for i, f := range followers {
		f.wait(t)
		var want []string
		for _, a := range published {
			if len(intersect(a.topics, f.sels)) > 0 {
				want = append(want, a.id)
			}
		}
		if !slices.Equal(f.ids, want) {
			t.Errorf("subscriber %d to %v: %d events, want %d; first difference at %d", i, f.sels, len(f.ids), len(want), firstDiff(f.ids, want))
		}
		if f.reconnects.Load() > 0 {
			moved++
		}
	}
	if moved < 3 {
		t.Errorf("only %d subscribers reconnected; the killed node's three should have", moved)
	}
}

// waitTopicSum waits until a node's /topics (whose subscriber counts are
// its own) adds up to want: a subscription to two topics counts twice.
func waitTopicSum(t *testing.T, base string, want int) {
	t.Helper()
	sum := 0
	for range 400 {
		sum = 0
		for _, n := range topicStats(t, base) {
			sum += n
		}
		if sum == want {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: subscribers per topic add up to %d, want %d", base, sum, want)
}

// TestBrokerOutage stops the broker under a running hub, and pauses it
// (SIGSTOP, as a network partition would look): publishes are refused with
// 503 and /readyz fails meanwhile, the open stream stays open, and once the
// broker is back every acknowledged event reaches it exactly once.
func TestBrokerOutage(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) {
			b := startBroker(t, engine)
			h := startHerd(t, "--store", b.URL()+"?prefix=outage", "--retry", "200ms", "--heartbeat", "1s")
			hc := http.DefaultClient
			f := followVia(t.Context(), &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					u, _ := url.Parse(h.URL)
					return (&net.Dialer{}).DialContext(ctx, network, u.Host)
				}}}, []string{"o"})
			waitSubscribers(t, h.URL, "o", 1)

			var acked []string
			n := 0
			pub := func() {
				n++
				acked = append(acked, publishRetry(t, hc, h.URL, fmt.Sprint("k", n)))
			}
			for range 5 {
				pub()
			}

			b.stop()
			expectUnavailable(t, h.URL)
			b.restart()
			for range 5 {
				pub() // retried until the hub has the broker back
			}

			b.pause()
			expectUnavailable(t, h.URL)
			b.resume()
			for range 5 {
				pub()
			}

			mustPublish(t, h.URL, map[string]any{"topic": "o", "close": true})
			f.wait(t)
			if !slices.Equal(f.ids, acked) {
				t.Errorf("subscriber got %d events, want the %d acknowledged, once each, in order (first difference at %d)",
					len(f.ids), len(acked), firstDiff(f.ids, acked))
			}
			if r := f.reconnects.Load(); r != 0 {
				t.Errorf("the stream was dropped %d times during the outages; it should stay open", r)
			}
		})
	}
}

// expectUnavailable checks that, with the broker gone, a publish is refused
// with 503 (nothing acknowledged) and /readyz fails.
func expectUnavailable(t *testing.T, base string) {
	t.Helper()
	// A topic of its own: a broker thawed after a pause may still store it
	// (503 means "not acknowledged", not "not stored").
	body := `{"topic": "probe", "data": "during the outage"}`
	req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "outage-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("publish during the outage: %v", err)
	}
	var answer struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(answer.Error, "event not acknowledged") {
		t.Errorf("publish during the outage: %s %q, want 503", resp.Status, answer.Error)
	}
	resp, err = (&http.Client{Timeout: 30 * time.Second}).Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz during the outage: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz during the outage: %d, want 503", resp.StatusCode)
	}
}

// publishRetry publishes to one node, retrying 503s with one idempotency
// key until acknowledged.
func publishRetry(t *testing.T, hc *http.Client, base, key string) string {
	t.Helper()
	for range 600 {
		req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(`{"topic": "o", "data": "`+key+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var answer struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return answer.ID
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("publish %s never acknowledged", key)
	return ""
}
