//go:build linux && integration

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/sse"
)

// TestCLI_pubSub runs herd sub and herd pub as processes against herd serve.
func TestCLI_pubSub(t *testing.T) {
	h := startHerd(t, "--store", "memory")
	sub := exec.Command(herdBin, "sub", "--hub", h.URL, "--json", "news")
	stdout, _ := sub.StdoutPipe()
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, h.URL, "news", 1)
	var ids []string
	for _, data := range []string{"one", "two\nlines"} {
		code, out, errOut := runHerd(t, "", "pub", "--hub", h.URL, "news", data)
		if code != 0 {
			t.Fatalf("pub: %d %s", code, errOut)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	if code, _, errOut := runHerd(t, "from stdin", "pub", "--hub", h.URL, "--event", "note", "news"); code != 0 {
		t.Fatalf("pub from stdin: %d %s", code, errOut)
	}
	if code, _, errOut := runHerd(t, "", "pub", "--hub", h.URL, "--close", "news"); code != 0 {
		t.Fatalf("pub --close: %d %s", code, errOut)
	}
	out, _ := io.ReadAll(stdout)
	if err := sub.Wait(); err != nil {
		t.Fatalf("herd sub did not exit 0 at the close: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{
		fmt.Sprintf(`{"event":"message","data":"one","id":"%s"}`, ids[0]),
		fmt.Sprintf(`{"event":"message","data":"two\nlines","id":"%s"}`, ids[1]),
	}
	if len(lines) != 4 || lines[0] != want[0] || lines[1] != want[1] ||
		!strings.HasPrefix(lines[2], `{"event":"note","data":"from stdin"`) || !strings.HasPrefix(lines[3], `{"event":"close"`) {
		t.Errorf("herd sub --json printed:\n%s", out)
	}
}

// topicStats reads /topics.
func topicStats(t *testing.T, base string) map[string]int {
	resp, err := http.Get(base + "/topics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var topics []struct {
		Topic       string
		Subscribers int
	}
	json.NewDecoder(resp.Body).Decode(&topics)
	m := map[string]int{}
	for _, ts := range topics {
		m[ts.Topic] = ts.Subscribers
	}
	return m
}

func waitSubscribers(t *testing.T, base, topic string, n int) {
	t.Helper()
	for range 400 {
		if topicStats(t, base)[topic] == n {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("topic %s never had %d subscribers", topic, n)
}

// seq is the position in an id of the bolt store ("epoch-N"); the test
// knows the format to sort what several publishers acknowledged.
func seq(t *testing.T, id string) int {
	n, err := strconv.Atoi(id[strings.LastIndex(id, "-")+1:])
	if err != nil {
		t.Fatalf("id %q", id)
	}
	return n
}

// follower subscribes with the sse client from the earliest event and
// records the ids it receives until the close event.
type follower struct {
	sels     []string
	ids      []string
	datas    []string
	err      error
	done     chan struct{}
	restart  float64 // chance of a forced reconnection after each event
	closedBy string  // the close event's id
}

func follow(ctx context.Context, base string, sels []string, restart float64, rnd *rand.Rand) *follower {
	f := &follower{sels: sels, done: make(chan struct{}), restart: restart}
	q := url.Values{"topic": sels}
	req, _ := http.NewRequest("GET", base+"/events?"+q.Encode(), nil)
	req.Header.Set("Last-Event-ID", "earliest")
	client := &sse.Client{Retry: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, SeeCloseEvent: true}
	go f.read(client.Subscribe(ctx, req), rnd)
	return f
}

// read records sub's events until the close event, then closes f.done.
// With rnd, it forces a reconnection after an event at f.restart's odds.
func (f *follower) read(sub *sse.Subscription, rnd *rand.Rand) {
	defer close(f.done)
	defer sub.Close()
	for {
		e, err := sub.Next()
		if err != nil {
			f.err = err
			return
		}
		if e.Type == "close" {
			f.closedBy = e.ID
			return
		}
		f.ids = append(f.ids, e.ID)
		f.datas = append(f.datas, e.Data)
		if rnd != nil && rnd.Float64() < f.restart {
			sub.Restart() // resume with Last-Event-ID mid-stream
		}
	}
}

func (f *follower) wait(t *testing.T) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("subscriber to %v did not reach the close within 60s (%d events)", f.sels, len(f.ids))
	}
	if f.err != nil {
		t.Fatalf("subscriber to %v: %v", f.sels, f.err)
	}
}

// TestResumeWhilePublishing is a randomized property test: while several
// publishers publish to random topics, subscribers to random topic sets
// are cut off at random and resume with Last-Event-ID. Whatever the
// interleaving, each must see every acknowledged event of its topics
// exactly once, in publish order.
func TestResumeWhilePublishing(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 2026))
			h := startHerd(t, "--store", "bolt:"+filepath.Join(t.TempDir(), "herd.db"))
			topics := []string{"t1", "t2", "t3", "t4"}
			pick := func(r *rand.Rand, n int) []string {
				p := r.Perm(len(topics))[:n]
				out := make([]string, n)
				for i, j := range p {
					out[i] = topics[j]
				}
				return out
			}
			var followers []*follower
			for i := range 8 {
				f := follow(t.Context(), h.URL, pick(rnd, 1+rnd.IntN(3)), 0.05, rand.New(rand.NewPCG(seed, uint64(i))))
				followers = append(followers, f)
			}

			type acked struct {
				id     string
				topics []string
			}
			var mu sync.Mutex
			var published []acked
			var wg sync.WaitGroup
			for p := range 3 {
				r := rand.New(rand.NewPCG(seed, uint64(100+p)))
				wg.Go(func() {
					for i := range 150 {
						ts := pick(r, 1+r.IntN(2))
						id, err := publish(t.Context(), h.URL, map[string]any{"topic": ts, "data": fmt.Sprintf("%d/%d", p, i)})
						if err != nil {
							t.Errorf("publish: %v", err)
							return
						}
						mu.Lock()
						published = append(published, acked{id, ts})
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			mustPublish(t, h.URL, map[string]any{"topic": topics, "close": true})
			slices.SortFunc(published, func(a, b acked) int { return seq(t, a.id) - seq(t, b.id) })

			for i, f := range followers {
				f.wait(t)
				var want []string
				for _, a := range published {
					if len(intersect(a.topics, f.sels)) > 0 {
						want = append(want, a.id)
					}
				}
				if !slices.Equal(f.ids, want) {
					t.Errorf("subscriber %d to %v: got %d events, want %d\nfirst difference at %d", i, f.sels, len(f.ids), len(want), firstDiff(f.ids, want))
				}
			}
		})
	}
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestKill9 crashes the hub while it is published to and followed. Every
// acknowledged event survives, ids keep their order across the restart,
// an in-flight publish retried with its idempotency key is stored once, and
// the subscriber, resuming with Last-Event-ID, sees everything once.
func TestKill9(t *testing.T) {
	db := filepath.Join(t.TempDir(), "herd.db")
	h := startHerd(t, "--store", "bolt:"+db)
	base := h.URL
	f := follow(t.Context(), base, []string{"k"}, 0, nil)
	waitSubscribers(t, base, "k", 1)

	const total, crashAt = 300, 150
	ids := make([]string, total)
	for i := range total {
		if i == crashAt {
			h.kill9()
			h = h.restart()
		}
		body, _ := json.Marshal(map[string]any{"topic": "k", "data": strconv.Itoa(i)})
		for attempt := 0; ; attempt++ {
			req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "k-"+strconv.Itoa(i))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				var answer struct{ ID string }
				json.NewDecoder(resp.Body).Decode(&answer)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ids[i] = answer.ID
					break
				}
			}
			if attempt > 100 {
				t.Fatalf("publish %d never acknowledged: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	mustPublish(t, base, map[string]any{"topic": "k", "close": true})
	f.wait(t)

	for i := 1; i < total; i++ {
		if seq(t, ids[i]) <= seq(t, ids[i-1]) {
			t.Fatalf("id %d (%s) not after id %d (%s): order lost across the restart", i, ids[i], i-1, ids[i-1])
		}
	}
	var wantData []string
	for i := range total {
		wantData = append(wantData, strconv.Itoa(i))
	}
	if !slices.Equal(f.ids, ids) || !slices.Equal(f.datas, wantData) {
		t.Errorf("subscriber saw %d events; want the %d acknowledged ones, once each, in order (first difference at %d)",
			len(f.ids), total, firstDiff(f.ids, ids))
	}
	// A fresh subscriber replays the same from the file.
	again := follow(t.Context(), base, []string{"k"}, 0, nil)
	again.wait(t)
	if !slices.Equal(again.ids, ids) {
		t.Errorf("replay after the crash: %d events, first difference at %d", len(again.ids), firstDiff(again.ids, ids))
	}
}

// TestSIGTERM drains: open streams end cleanly (so that clients resume),
// herd exits 0, and the store reopens with everything in it.
func TestSIGTERM(t *testing.T) {
	db := filepath.Join(t.TempDir(), "herd.db")
	h := startHerd(t, "--store", "bolt:"+db, "--shutdown-window", "1s")
	const n = 5
	ends := make(chan error, n)
	var ready sync.WaitGroup
	ready.Add(n)
	for range n {
		go func() {
			resp, err := http.Get(h.URL + "/events?topic=d")
			if err != nil {
				ready.Done()
				ends <- err
				return
			}
			defer resp.Body.Close()
			r := sse.NewReader(resp.Body)
			ready.Done()
			for _, err := range r.Events() {
				if err != nil {
					ends <- fmt.Errorf("stream ended with %v, want a clean end", err)
					return
				}
			}
			if r.LastEventID() == "" {
				ends <- fmt.Errorf("stream ended before the event")
				return
			}
			ends <- nil
		}()
	}
	ready.Wait()
	waitSubscribers(t, h.URL, "d", n)
	id := mustPublish(t, h.URL, map[string]any{"topic": "d", "data": "before shutdown"})
	if code := h.sigterm(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", code, h.stderr)
	}
	for range n {
		if err := <-ends; err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(h.stderr.String(), "herd stopped") {
		t.Errorf("no clean stop logged:\n%s", h.stderr)
	}
	h2 := startHerd(t, "--store", "bolt:"+db)
	resp, err := http.Get(h2.URL + "/events?topic=d&last_event_id=earliest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e, err := sse.NewReader(resp.Body).Next(); err != nil || e.ID != id {
		t.Errorf("after restart: %+v, %v; want the event %s", e, err, id)
	}
}

// openStuckReaders subscribes n clients at path that never read, each with
// a small receive buffer so that the hub's writes to it soon block. They
// are closed when the test ends.
func openStuckReaders(t *testing.T, base, path string, n int) {
	t.Helper()
	u, _ := url.Parse(base)
	for range n {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path)
	}
}

// TestStuckReaders opens many clients that never read: the hub cuts them
// off once their queues fill, while a healthy client gets every event.
func TestStuckReaders(t *testing.T) {
	h := startHerd(t, "--store", "memory", "--queue-bytes", "256KiB", "--max-event-size", "64KiB", "--write-timeout", "1s")
	const stuck = 50
	openStuckReaders(t, h.URL, "/events?topic=big", stuck)
	resp, err := http.Get(h.URL + "/events?topic=big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	waitSubscribers(t, h.URL, "big", stuck+1)
	payload := strings.Repeat("m", 32<<10)
	for i := range 200 {
		mustPublish(t, h.URL, map[string]any{"topic": "big", "data": payload})
		if e, err := r.Next(); err != nil || e.Data != payload {
			t.Fatalf("healthy client at event %d: %v", i, err)
		}
	}
	waitSubscribers(t, h.URL, "big", 1)
}

// TestBadInput checks that mistakes get a clear error from the real binary.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--store", "nope:x"}, 2, `unknown store "nope:x"`},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--store", "bolt:/proc/herd/herd.db"}, 1, "store bolt:/proc/herd/herd.db"},
		{[]string{"serve", "--max-event-size", "big"}, 2, "want a size like"},
		{[]string{"pub"}, 2, "pub takes a topic"},
		{[]string{"sub"}, 2, "sub needs hub topics or an SSE URL"},
		{[]string{"fly"}, 2, `unknown command "fly"`},
	} {
		code, _, errOut := runHerd(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("herd %q: exit %d, stderr %q; want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	h := startHerd(t, "--store", "memory")
	for _, tc := range []struct {
		body, want string
		status     int
	}{
		{`{"data": "x"}`, "topic is required", 400},
		{`{"topic": "a/*", "data": "x"}`, "wildcards are for subscribing", 400},
		{`{"topic": "a", "data": "x", "event": "a\nb"}`, "contains CR, LF or NUL", 400},
		{`{"topic": "a", "data": "` + strings.Repeat("x", 2<<20) + `"}`, "larger than", 413},
		{`not json`, "bad JSON", 400},
	} {
		req, _ := http.NewRequest("POST", h.URL+"/events", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var answer struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(answer.Error, tc.want) {
			t.Errorf("publish %.40q: %d %q; want %d with %q", tc.body, resp.StatusCode, answer.Error, tc.status, tc.want)
		}
	}
	resp, _ := http.Get(h.URL + "/events")
	if resp.StatusCode != 400 {
		t.Errorf("subscribe without topic: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestDemoPublisher runs herd serve --demo and follows its current run.
func TestDemoPublisher(t *testing.T) {
	h := startHerd(t, "--store", "memory", "--demo")
	resp, err := http.Get(h.URL + "/demo/cowsay?client=hub")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := strings.Index(string(page), "demo/cowsay/2")
	if i < 0 {
		t.Fatalf("page names no demo run topic:\n%s", page)
	}
	topic := strings.Fields(strings.NewReplacer("<", " ", "\"", " ", "&", " ").Replace(string(page[i:])))[0]
	resp, err = http.Get(h.URL + "/events?last_event_id=earliest&topic=" + url.QueryEscape(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := sse.NewReader(bufio.NewReader(resp.Body))
	for i := range 2 {
		if e, err := r.Next(); err != nil || e.Data != demo.Quotes[i] { // text, not markup
			t.Fatalf("demo run %s: %+v, %v", topic, e, err)
		}
	}
}
