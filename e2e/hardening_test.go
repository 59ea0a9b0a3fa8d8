//go:build linux && integration

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/bench"
	"github.com/herd-sse/herd/sse"
)

// TestDamagedStore: herd serve and herd check, given a store file that
// was cut short or overwritten, exit 1 with one line naming the file and
// what to do: no crash, no goroutine dump.
func TestDamagedStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herd.db")
	h := startHerd(t, "--store", "bolt:"+path)
	for i := range 300 {
		mustPublish(t, h.URL, map[string]any{"topic": fmt.Sprint("t/", i%5), "data": strings.Repeat("x", 100+i)})
	}
	if code := h.sigterm(30 * time.Second); code != 0 {
		t.Fatalf("herd exited %d", code)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	overwritten := append([]byte(nil), data...)
	for i := 5 * 4096; i < 9*4096; i++ {
		overwritten[i] = 0xA5
	}
	for name, content := range map[string][]byte{"truncated": data[:6*4096], "overwritten": overwritten} {
		bad := filepath.Join(dir, name+".db")
		os.WriteFile(bad, content, 0o600)
		for _, args := range [][]string{
			{"serve", "--addr", "127.0.0.1:0", "--store", "bolt:" + bad},
			{"check", "--store", "bolt:" + bad},
		} {
			code, _, errOut := runHerd(t, "", args...)
			if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, bad+" is damaged") ||
				!strings.Contains(errOut, "restore it from a backup") || strings.Contains(errOut, "goroutine") {
				t.Errorf("herd %s on a %s file: exit %d, stderr %q", args[0], name, code, errOut)
			}
		}
	}
	code, out, errOut := runHerd(t, "", "check", "--store", "bolt:"+path)
	if code != 0 || !strings.Contains(out, "# store: sound: 300 events") {
		t.Errorf("herd check on the sound file: exit %d, %.200q %q", code, out, errOut)
	}
}

// TestReplayMemory: clients that replay a large history and never read
// cost the hub a bounded amount of memory each (the replay goes in
// batches bounded by --queue-bytes), while a slow reader of the same
// replay gets all of it.
func TestReplayMemory(t *testing.T) {
	h := startHerd(t, "--store", "memory", "--max-event-size", "128KiB", "--write-timeout", "60s")
	payload := strings.Repeat("r", 128<<10-16)
	const events = 600
	for i := range events {
		mustPublish(t, h.URL, map[string]any{"topic": "big", "data": fmt.Sprintf("%05d %s", i, payload)})
	}
	before := rss(t, h)
	const stuck = 6
	openStuckReaders(t, h.URL, "/events?topic=big&last_event_id=earliest", stuck)
	waitSubscribers(t, h.URL, "big", stuck)
	peak := before
	for range 20 { // the stuck replays fill their sockets and stop: watch a while
		peak = max(peak, rss(t, h))
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("RSS %d MB with the history held, %d MB with %d stuck replays of %d MB each", before>>20, peak>>20, stuck, events*128>>10)
	// Held whole, each stuck replay would cost its 75 MB and more (once
	// encoded, once copied): 2.4 GB before replays were bounded. Bounded,
	// each holds a batch of about --queue-bytes; the rest is garbage the
	// collector has not taken yet.
	if grown := peak - before; grown > 150<<20 {
		t.Errorf("RSS grew by %d MB for %d stuck replays, want it bounded (a few MB each)", grown>>20, stuck)
	}

	// A slow reader makes progress through the whole replay.
	resp, err := http.Get(h.URL + "/events?topic=big&last_event_id=earliest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := sse.NewReader(bufio.NewReaderSize(slowReader{resp.Body}, 4096))
	for i := range events {
		e, err := r.Next()
		if err != nil || !strings.HasPrefix(e.Data, fmt.Sprintf("%05d ", i)) {
			t.Fatalf("slow reader, event %d: %.20q %v", i, e.Data, err)
		}
	}
}

// slowReader reads at most 16 KiB at a time, pausing a little each time.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	return s.r.Read(p[:min(len(p), 16<<10)])
}

func rss(t *testing.T, h *herd) int64 {
	t.Helper()
	s, err := bench.Sample(h.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return s.RSS
}

// TestDNSRebinding: a request from this machine whose Host names another
// domain (a page rebound to 127.0.0.1) is refused by the real binary, for
// publishing, subscribing, /topics and /metrics alike.
func TestDNSRebinding(t *testing.T) {
	h := startHerd(t, "--store", "memory", "--allowed-hosts", "hub.test")
	u, _ := url.Parse(h.URL)
	send := func(method, host, path, body string) (int, string) {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
		if body != "" {
			req += fmt.Sprintf("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", len(body))
		}
		fmt.Fprint(conn, req+"\r\n"+body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 && method == "GET" && strings.HasPrefix(path, "/events") {
			return 200, ""
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, r := range [][3]string{{"POST", "/events", "topic=a&data=x"}, {"GET", "/events?topic=a", ""}, {"GET", "/topics", ""}, {"GET", "/metrics", ""}} {
		if code, body := send(r[0], "rebind.evil.example:"+u.Port(), r[1], r[2]); code != 403 || !strings.Contains(body, "--allowed-hosts") {
			t.Errorf("%s %s as rebind.evil.example: %d %q", r[0], r[1], code, body)
		}
		for _, host := range []string{"localhost:" + u.Port(), "hub.test:" + u.Port(), u.Host} {
			if code, body := send(r[0], host, r[1], r[2]); code != 200 {
				t.Errorf("%s %s as %s: %d %q", r[0], r[1], host, code, body)
			}
		}
	}
}

// TestClosedTopicAcrossNodes: a topic closed through one node refuses
// publishes through another, with 409, on Redis and NATS.
func TestClosedTopicAcrossNodes(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) {
			store := sharedStore(t, engine)
			a := startHerd(t, "--store", store)
			b := startHerd(t, "--store", store)
			mustPublish(t, a.URL, map[string]any{"topic": "job/1", "data": "working"})
			closing := mustPublish(t, a.URL, map[string]any{"topic": "job/1", "close": true})
			_, err := publish(t.Context(), b.URL, map[string]any{"topic": []string{"job/2", "job/1"}, "data": "late"})
			if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), `topic "job/1" is closed`) {
				t.Errorf("publish to the closed topic through another node: %v", err)
			}
			// Every node's subscribers see the history end with the close.
			for _, n := range []*herd{a, b} {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+"/events?topic=job/1&last_event_id=earliest", nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for e, err := range sse.Read(resp.Body) {
					if err != nil {
						break
					}
					got = append(got, e.Type+":"+e.Data)
					if e.Type == "close" && e.ID != closing {
						t.Errorf("close id %s, want %s", e.ID, closing)
					}
				}
				resp.Body.Close()
				cancel()
				if strings.Join(got, " ") != `:working close:{"topics":["job/1"]}` {
					t.Errorf("history through %s: %q", n.URL, got)
				}
			}
		})
	}
}
