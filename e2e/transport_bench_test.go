//go:build linux && integration

package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/bench"
)

// These benchmarks measure what TLS and HTTP/2 cost herd, beside plain
// HTTP/1.1 in the same run: memory per idle stream (B1's HTTP/2 target,
// ≤ 8 KB; TLS HTTP/1.1 on the engine, ≤ 6 KB), herd's CPU per delivery
// (TLS within 1.5× of plain) with the latency of those deliveries (HTTP/1.1
// plain and over TLS, HTTP/2 on herd's server and on net/http's), and new
// subscriptions per second (B4's TLS
// target, ≥ 1,800/s). Run them alone, one at a time: they load both cores.
//
//	go test -tags integration ./e2e -run '^$' -bench Transports -benchtime 1x

func BenchmarkTransports(b *testing.B) {
	const streams = 4000
	insecure := &tls.Config{InsecureSkipVerify: true}
	for _, tc := range []struct {
		name   string
		args   []string
		client *http.Transport
		parked bool
	}{
		{"http1-engine", nil, &http.Transport{}, true},
		{"http1-net-http(baseline)", []string{"--engine=false"}, &http.Transport{}, false},
		{"http1-tls-engine", []string{"--tls", "self-signed"}, &http.Transport{TLSClientConfig: insecure, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}, true},
		{"http1-tls-net-http", []string{"--tls", "self-signed", "--engine=false"}, &http.Transport{TLSClientConfig: insecure, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}, false},
		{"http2-tls", []string{"--tls", "self-signed", "--h2-engine=false"}, &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}, false}, // net/http's HTTP/2: BenchmarkH2Streams sets herd's beside it
	} {
		b.Run("memory/"+tc.name, func(b *testing.B) {
			for range b.N {
				h := startHerd(b, append([]string{"--store", "memory", "--heartbeat", "1h", "--max-subscribers-per-ip", "0"}, tc.args...)...)
				hc := &http.Client{Transport: tc.client}
				time.Sleep(500 * time.Millisecond)
				before := sample(b, h)
				var wg sync.WaitGroup
				var opened atomic.Int64
				bodies := make(chan io.Closer, streams)
				// 32 at a time: a storm of thousands at once would measure
				// its own transient peak, not what a stream costs.
				gate := make(chan struct{}, 32)
				for i := range streams {
					gate <- struct{}{}
					wg.Go(func() {
						defer func() { <-gate }()
						resp, err := hc.Get(fmt.Sprintf("%s/events?topic=idle/%d", h.URL, i%100))
						if err != nil || resp.StatusCode != 200 {
							return
						}
						opened.Add(1)
						bodies <- resp.Body
					})
				}
				wg.Wait()
				if int(opened.Load()) != streams {
					b.Fatalf("%d of %d streams opened", opened.Load(), streams)
				}
				name := "herd_subscribers"
				if tc.parked {
					name = "herd_subscribers_parked"
				}
				for metricVia(hc, h.URL, name) != streams {
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(3 * time.Second)
				after := sample(b, h)
				b.ReportMetric(float64(after.RSS-before.RSS)/1024/streams, "KB/stream")
				close(bodies)
				for body := range bodies {
					body.Close()
				}
				tc.client.CloseIdleConnections()
				h.kill9()
			}
		})
	}
	h1TLS := func() *http.Transport {
		return &http.Transport{TLSClientConfig: insecure, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		client *http.Transport
	}{
		{"http1-engine(baseline)", nil, &http.Transport{}},
		{"http1-tls-engine", []string{"--tls", "self-signed"}, h1TLS()},
		{"http1-tls-net-http", []string{"--tls", "self-signed", "--engine=false"}, h1TLS()},
		{"http2-tls-herd", []string{"--tls", "self-signed"}, &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}},
		{"http2-tls-net-http", []string{"--tls", "self-signed", "--h2-engine=false"}, &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}},
	} {
		b.Run("delivery/"+tc.name, func(b *testing.B) {
			for range b.N {
				h := startHerd(b, append([]string{"--store", "memory", "--heartbeat", "1h", "--max-subscribers-per-ip", "0"}, tc.args...)...)
				perDelivery, p50, p99 := deliveryCost(b, h, &http.Client{Transport: tc.client})
				b.ReportMetric(perDelivery.Seconds()*1e6, "herd-µs/delivery")
				b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
				tc.client.CloseIdleConnections()
				h.kill9()
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		tls  bool
	}{
		{"plain(baseline)", nil, false},
		{"tls", []string{"--tls", "self-signed"}, true},
		{"tls-net-http", []string{"--tls", "self-signed", "--engine=false"}, true},
	} {
		b.Run("accept/"+tc.name, func(b *testing.B) {
			for range b.N {
				h := startHerd(b, append([]string{"--store", "memory", "--max-subscribers-per-ip", "0"}, tc.args...)...)
				addr := strings.TrimPrefix(strings.TrimPrefix(h.URL, "https://"), "http://")
				const total, workers = 6000, 32
				var next atomic.Int64
				var failed atomic.Int64
				start := time.Now()
				before := sample(b, h)
				var wg sync.WaitGroup
				for range workers {
					wg.Go(func() {
						for next.Add(1) <= total {
							if err := subscribeOnce(addr, tc.tls); err != nil {
								failed.Add(1)
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				if failed.Load() > 0 {
					b.Fatalf("%d subscriptions failed", failed.Load())
				}
				b.ReportMetric(total/elapsed.Seconds(), "subscriptions/s")
				// The client shares the two cores: what herd itself spends
				// per subscription says what it could take alone.
				perSub := (sample(b, h).CPU - before.CPU).Seconds() / total
				b.ReportMetric(perSub*1e6, "herd-µs/subscription")
				b.ReportMetric(2/perSub, "herd-capacity/s")
				h.kill9()
			}
		})
	}
}

// deliveryCost opens 500 streams on one topic, publishes 200 events of
// 200 bytes one at a time, 20 ms apart (each goes out in its own write:
// no burst to coalesce), waits until every stream has read them all, and
// returns herd's CPU time per delivery and the 50th and 99th percentiles
// of the latency from the publish's request to each stream's read.
func deliveryCost(b *testing.B, h *herd, hc *http.Client) (perDelivery, p50, p99 time.Duration) {
	const streams, events = 500, 200
	var wg sync.WaitGroup
	var opened, read atomic.Int64
	var sent [events]atomic.Int64 // when event i's publish was sent, in ns since start
	start := time.Now()
	latencies := make([][]time.Duration, streams)
	bodies := make(chan io.Closer, streams)
	gate := make(chan struct{}, 32)
	for i := range streams {
		gate <- struct{}{}
		wg.Go(func() {
			resp, err := hc.Get(h.URL + "/events?topic=delivery")
			<-gate
			if err != nil || resp.StatusCode != 200 {
				return
			}
			opened.Add(1)
			bodies <- resp.Body
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if n, ok := strings.CutPrefix(line, "data: "); ok {
					at := time.Since(start)
					if k, _, ok := strings.Cut(n, " "); ok {
						if j, err := strconv.Atoi(k); err == nil && j < events {
							latencies[i] = append(latencies[i], at-time.Duration(sent[j].Load()))
						}
					}
					read.Add(1)
				}
			}
		})
	}
	for opened.Load() < streams && metricVia(hc, h.URL, "herd_subscribers") < streams {
		time.Sleep(50 * time.Millisecond)
	}
	if opened.Load() != streams {
		b.Fatalf("%d of %d streams opened", opened.Load(), streams)
	}
	time.Sleep(time.Second)
	before := sample(b, h)
	data := strings.Repeat("d", 200)
	for j := range events {
		sent[j].Store(int64(time.Since(start)))
		resp, err := hc.Post(h.URL+"/events", "application/x-www-form-urlencoded", strings.NewReader(fmt.Sprintf("topic=delivery&data=%d+%s", j, data)))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(time.Minute); read.Load() < streams*events; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries read", read.Load(), streams*events)
		}
	}
	cpu := sample(b, h).CPU - before.CPU
	close(bodies)
	for body := range bodies {
		body.Close()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	return cpu / (streams * events), all[len(all)/2], all[len(all)*99/100]
}

// metricVia reads a figure through the benchmark's own client (which
// speaks TLS when herd does).
func metricVia(hc *http.Client, base, name string) int {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// sample reads herd's resource use from /proc.
func sample(b *testing.B, h *herd) bench.ProcSample {
	s, err := bench.Sample(h.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// subscribeOnce opens a connection (a full TLS handshake with useTLS, no
// session resumption), subscribes, reads the response head and leaves.
func subscribeOnce(addr string, useTLS bool) error {
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /events?topic=accept HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		return fmt.Errorf("status %q: %v", status, err)
	}
	return nil
}
