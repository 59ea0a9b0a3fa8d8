//go:build linux && integration

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/bench"
)

// TestCapacity measures what one broker stream takes: acknowledged
// publishes per second through 1 and 3 herd nodes, on one Redis, on Redis
// with Sentinel and wait_replicas=1, on one NATS server and on a 3-server
// JetStream cluster with R3; and what a node that only follows the
// stream (no publisher, no subscriber) spends doing so. docs/clustering.md's
// capacity model is built on its figures. It is a measurement, not a
// check: in the test command it publishes for one second per case, which
// proves every setup acknowledges publishes through one node and three;
// HERD_CAPACITY sets the seconds per case for the figures (5 is enough on
// a quiet machine; docs/clustering.md).
func TestCapacity(t *testing.T) {
	t.Parallel()
	seconds, _ := strconv.Atoi(os.Getenv("HERD_CAPACITY"))
	if seconds <= 0 {
		seconds = 1
	}
	setups := []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"redis", func(t *testing.T) string { return startBroker(t, "redis").URL() + "?prefix=cap" }},
		{"redis-sentinel-wait1", func(t *testing.T) string { return redisSentinel(t, "cap").store }},
		{"nats", func(t *testing.T) string { return startBroker(t, "nats").URL() + "?prefix=cap" }},
		{"nats-cluster-r3", func(t *testing.T) string { return natsCluster(t, "cap").store }},
	}
	var report []string
	for _, s := range setups {
		for _, n := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/%dnodes", s.name, n), func(t *testing.T) {
				store := s.store(t)
				var nodes []*herd
				for range n {
					nodes = append(nodes, startHerd(t, "--store", store))
				}
				follower := startHerd(t, "--store", store)
				rate, cpu := measurePublishes(t, nodes, follower, time.Duration(seconds)*time.Second)
				line := fmt.Sprintf("%-22s %d node(s): %7.0f acknowledged publishes/s; a following node spends %.1f ms CPU per 1000 events",
					s.name, n, rate, cpu)
				t.Log(line)
				report = append(report, line)
			})
		}
	}
	t.Log("\n" + strings.Join(report, "\n"))
}

// measurePublishes publishes as fast as 32 concurrent clients can, spread
// over nodes, for d; it returns the acknowledged publishes per second and
// the CPU a node that only follows spent per 1000 events.
func measurePublishes(t *testing.T, nodes []*herd, follower *herd, d time.Duration) (float64, float64) {
	before, err := bench.Sample(follower.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for c := range 32 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				base := nodes[(c+i)%len(nodes)].URL
				body := fmt.Sprintf(`{"topic":"cap%d","data":"%d"}`, c%8, i)
				resp, err := hc.Post(base+"/events", "application/json", strings.NewReader(body))
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// Time for the follower to catch up; its idle CPU meanwhile is noise.
	time.Sleep(2 * time.Second)
	after, err := bench.Sample(follower.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	n := acked.Load()
	if n == 0 {
		t.Fatal("no publish acknowledged")
	}
	return float64(n) / d.Seconds(), float64((after.CPU - before.CPU).Milliseconds()) / float64(n) * 1000
}
