//go:build linux && integration

package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkH2Streams measures an idle HTTP/2 event stream on herd's own
// HTTP/2 server (--h2-engine) against net/http's, in the same run: memory
// (hub RSS) and goroutines per stream, with one stream per connection (a
// browser tab with one EventSource) and 100 per connection (a tab with
// many), over TLS and over h2c. With HERD_H2_PROFILE=DIR it also saves
// each case's heap profile; with HERD_H2_BASELINE_BIN=PATH it also runs
// herd's server from another herd binary (e.g. main's), in the same run.
//
//	go test -tags integration ./e2e -run '^$' -bench H2Streams -benchtime 1x -count 3
func BenchmarkH2Streams(b *testing.B) {
	type server struct {
		name, bin string
		args      []string
	}
	servers := []server{
		{"engine", herdBin, []string{"--h2-engine"}},
		{"net-http(baseline)", herdBin, []string{"--h2-engine=false"}},
	}
	if bin := os.Getenv("HERD_H2_BASELINE_BIN"); bin != "" {
		servers = append(servers, server{"engine(baseline-bin)", bin, []string{"--h2-engine"}})
	}
	for _, shape := range []struct {
		name           string
		conns, perConn int
	}{
		{"1-per-conn", 1000, 1},
		{"100-per-conn", 40, 100},
	} {
		for _, h2c := range []bool{false, true} {
			for _, server := range servers {
				transport := "tls"
				if h2c {
					transport = "h2c"
				}
				b.Run(shape.name+"/"+transport+"/"+server.name, func(b *testing.B) {
					benchH2Streams(b, server.bin, server.args, h2c, shape.conns, shape.perConn)
				})
			}
		}
	}
}

// benchH2Streams is one case of BenchmarkH2Streams: herd (bin, with
// args) over TLS or h2c, conns connections of perConn streams each.
func benchH2Streams(b *testing.B, bin string, args []string, h2c bool, conns, perConn int) {
	insecure := &tls.Config{InsecureSkipVerify: true}
	newTransport := func() *http.Transport {
		if h2c {
			var p http.Protocols
			p.SetUnencryptedHTTP2(true)
			return &http.Transport{Protocols: &p}
		}
		return &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}
	}
	args = append([]string{"--store", "memory", "--heartbeat", "1h", "--max-subscribers-per-ip", "0"}, args...)
	if h2c {
		args = append(args, "--h2c")
	} else {
		args = append(args, "--tls", "self-signed")
	}
	shape := struct{ conns, perConn int }{conns, perConn}
	for range b.N {
		debug := freeAddr(b)
		h := startHerdBin(b, bin, append(args, "--debug-addr", debug)...)
		probe := &http.Client{Transport: newTransport()}
		// Warm up: the first connection of each kind faults in the code
		// that serves it (0.7-0.8 MB of the binary's pages, counted in
		// RSS), once per process, not per stream. So one stream is opened
		// (and held to the end, in both samples) and the probe fetches
		// the metrics before the baseline is sampled. HERD_H2_COLD=1
		// samples it first, as this benchmark did before 2026-12-04.
		cold := os.Getenv("HERD_H2_COLD") == "1"
		warm := newTransport()
		warmResp, warmed := &http.Response{Body: http.NoBody}, 0
		if !cold {
			warmed = 1
			var err error
			warmResp, err = (&http.Client{Transport: warm}).Get(h.URL + "/events?topic=warm")
			if err != nil || warmResp.StatusCode != 200 {
				b.Fatalf("warm-up stream: %v %v", err, warmResp)
			}
			for metricVia(probe, h.URL, "herd_subscribers") != 1 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		collect(b, debug)
		time.Sleep(500 * time.Millisecond)
		ms0, st0 := memStats(b, debug), procStatus(b, h)
		before, g0 := sample(b, h), goroutines(b, debug)
		stack0, heap0 := metricVia(probe, h.URL, "go_memstats_stack_inuse_bytes"), metricVia(probe, h.URL, "go_memstats_heap_inuse_bytes")
		var bodies []io.Closer
		var transports []*http.Transport
		var mu sync.Mutex
		var wg sync.WaitGroup
		gate := make(chan struct{}, 32)
		for c := range shape.conns {
			tr := newTransport()
			transports = append(transports, tr)
			hc := &http.Client{Transport: tr}
			open := func(url string) {
				resp, err := hc.Get(url)
				if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
					b.Errorf("stream: %v %v", err, resp)
					return
				}
				mu.Lock()
				bodies = append(bodies, resp.Body)
				mu.Unlock()
			}
			for i := range shape.perConn {
				url := fmt.Sprintf("%s/events?topic=idle/%d", h.URL, (c*shape.perConn+i)%100)
				if i == 0 {
					open(url) // alone, so that the others share its connection
					continue
				}
				gate <- struct{}{}
				wg.Go(func() {
					defer func() { <-gate }()
					open(url)
				})
			}
		}
		wg.Wait()
		streams := shape.conns * shape.perConn
		if len(bodies) != streams {
			b.Fatalf("%d of %d streams opened", len(bodies), streams)
		}
		for metricVia(probe, h.URL, "herd_subscribers") != streams+warmed {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		// An idle hub collects at least every two minutes, and
		// each collection shrinks stacks that are mostly unused
		// (a connection's goroutine grew during its handshake):
		// measure after a few, as an idle hub soon is.
		for range 3 {
			collect(b, debug)
		}
		after, g1 := sample(b, h), goroutines(b, debug)
		ms1, st1 := memStats(b, debug), procStatus(b, h)
		// Where the RSS is (go test -v): the Go runtime's accounts and
		// the kernel's (anonymous memory against the binary's pages).
		for _, k := range []string{"HeapInuse", "HeapIdle", "HeapReleased", "GCSys", "OtherSys"} {
			b.Logf("%-12s %6.0f B/stream", k, float64(ms1[k]-ms0[k])/float64(streams))
		}
		for _, k := range []string{"RssAnon", "RssFile"} {
			b.Logf("%-12s %6.0f B/stream", k, float64(st1[k]-st0[k])*1024/float64(streams))
		}
		b.ReportMetric(float64(after.RSS-before.RSS)/1024/float64(streams), "KB/stream")
		b.ReportMetric(float64(g1-g0)/float64(streams), "goroutines/stream")
		// Where the memory is: goroutine stacks, and the heap
		// (which RSS holds with the GC's headroom).
		stack1, heap1 := metricVia(probe, h.URL, "go_memstats_stack_inuse_bytes"), metricVia(probe, h.URL, "go_memstats_heap_inuse_bytes")
		b.ReportMetric(float64(stack1-stack0)/1024/float64(streams), "stack-KB/stream")
		b.ReportMetric(float64(heap1-heap0)/1024/float64(streams), "heap-KB/stream")
		if dir := os.Getenv("HERD_H2_PROFILE"); dir != "" {
			saveHeap(b, debug, filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
		}
		// Then a fan-out: five events to each of the 100 topics,
		// every stream getting five; herd's CPU per delivery
		// (its publishes included, the same on both servers).
		var drain sync.WaitGroup
		for _, body := range bodies {
			drain.Go(func() { io.Copy(io.Discard, body.(io.Reader)) })
		}
		delivered0 := metricVia(probe, h.URL, "herd_events_delivered_total")
		cpu0 := sample(b, h).CPU
		for round := range 5 {
			for topic := range 100 {
				if _, err := h2Publish(b, probe, h.URL, fmt.Sprintf("idle/%d", topic), strconv.Itoa(round)); err != nil {
					b.Fatal(err)
				}
			}
		}
		for metricVia(probe, h.URL, "herd_events_delivered_total")-delivered0 < 5*streams {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second) // the last writes
		b.ReportMetric((sample(b, h).CPU-cpu0).Seconds()*1e6/float64(5*streams), "herd-µs/delivery")
		for _, body := range bodies {
			body.Close()
		}
		drain.Wait()
		warmResp.Body.Close()
		warm.CloseIdleConnections()
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
		probe.CloseIdleConnections()
		h.kill9()
	}
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// goroutines reads the goroutine count from herd's profiler.
func goroutines(b *testing.B, debug string) int {
	resp, err := http.Get("http://" + debug + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		b.Fatalf("goroutine profile: %q", line)
	}
	return n
}

// saveHeap writes herd's heap profile (after a GC) to path.
func saveHeap(b *testing.B, debug, path string) {
	resp, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

// collect makes herd run a garbage collection (through its profiler).
func collect(b *testing.B, debug string) {
	resp, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1")
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func memStats(b *testing.B, debug string) map[string]int64 {
	resp, err := http.Get("http://" + debug + "/debug/pprof/heap?debug=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var k string
		var v int64
		if n, _ := fmt.Sscanf(sc.Text(), "# %s = %d", &k, &v); n == 2 {
			m[k] = v
		}
	}
	return m
}

func procStatus(b *testing.B, h *herd) map[string]int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			m[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return m
}
