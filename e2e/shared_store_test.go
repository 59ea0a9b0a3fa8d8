//go:build linux && integration

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/sse"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
)

// serveRefused runs herd serve, which must refuse to start: it returns
// its exit status and standard error. A herd that serves instead is
// killed after a minute, and fails the test.
func serveRefused(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, herdBin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("herd serve %q served instead of refusing to start\n%s", args, errOut.String())
	}
	return cmd.ProcessState.ExitCode(), errOut.String()
}

// replay reads a resume from base, on topic, after lastID (the
// Last-Event-ID header, if any), until an event has data last; it returns
// the events' types and data.
func replay(t *testing.T, base, topic, lastID, last string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events?topic="+topic, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	} else {
		req.URL.RawQuery += "&last_event_id=earliest"
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []string
	r := sse.NewReader(resp.Body)
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatalf("resuming after %q on %s: %v, after %q", lastID, base, err, got)
		}
		got = append(got, e.Type+":"+e.Data)
		if e.Data == last {
			return got
		}
	}
}

// TestSettingsAgreement: nodes sharing a Redis prefix or a NATS stream
// agree on the history settings. A node started with others refuses to
// start, naming the setting, the recorded value, its own, and what to do,
// and the history is untouched; a node with the same settings starts; one
// node started with --change-history-settings (on the command line only)
// records its own, which the others then need.
func TestSettingsAgreement(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) {
			store := sharedStore(t, engine)
			a := startHerd(t, "--store", store, "--history-max-events", "1000")
			for i := range 20 {
				mustPublish(t, a.URL, map[string]any{"topic": "kept", "data": fmt.Sprint(i)})
			}
			for _, tc := range []struct{ flag, own, recorded string }{
				{"history-max-events", "10", "1000"},
				{"history-max-age", "1h0m0s", "24h0m0s"},
				{"idempotency-ttl", "1h0m0s", "24h0m0s"},
			} {
				args := []string{"--store", store, "--history-max-events", "1000", "--" + tc.flag, tc.own}
				code, errOut := serveRefused(t, nil, args...)
				for _, want := range []string{tc.flag + "=" + tc.recorded, "this node has " + tc.flag + "=" + tc.own,
					"Start this node with --" + tc.flag + "=" + tc.recorded, "--change-history-settings"} {
					if code == 0 || !strings.Contains(errOut, want) {
						t.Errorf("a node with --%s %s: exit %d, %q; want a refusal containing %q", tc.flag, tc.own, code, errOut, want)
					}
				}
			}
			// herd check shows what the store records, for the operator.
			if code, out, errOut := runHerd(t, "", "check", "--store", store); code != 0 ||
				!strings.Contains(out, "history-max-events=1000 history-max-age=24h0m0s idempotency-ttl=24h0m0s") {
				t.Errorf("herd check: exit %d, %q %q; want the recorded settings", code, out, errOut)
			}
			if got := replay(t, a.URL, "kept", "", "19"); len(got) != 20 {
				t.Errorf("the history after the refusals: %d events, want the 20 published: %q", len(got), got)
			}
			b := startHerd(t, "--store", store, "--history-max-events", "1000")
			mustPublish(t, b.URL, map[string]any{"topic": "kept", "data": "20"})

			// The flag is a one-time act: not from a variable (or a file).
			code, errOut := serveRefused(t, []string{"HERD_CHANGE_HISTORY_SETTINGS=true"}, "--store", store, "--history-max-events", "10")
			if code != 2 || !strings.Contains(errOut, "one-time act") {
				t.Errorf("--change-history-settings from a variable: exit %d, %q; want a usage error", code, errOut)
			}
			a.kill9()
			b.kill9()
			c := startHerd(t, "--store", store, "--history-max-events", "10", "--change-history-settings")
			mustPublish(t, c.URL, map[string]any{"topic": "kept", "data": "21"})
			if got := replay(t, c.URL, "kept", "", "21"); len(got) != 10 || got[0] != ":12" {
				t.Errorf("the history once changed to 10 events: %q, want the newest 10", got)
			}
			c.kill9()
			startHerd(t, "--store", store, "--history-max-events", "10")
			if code, errOut := serveRefused(t, nil, "--store", store, "--history-max-events", "1000"); code == 0 ||
				!strings.Contains(errOut, "history-max-events=10 but this node has history-max-events=1000") {
				t.Errorf("a node with the old setting after the change: exit %d, %q", code, errOut)
			}
		})
	}
}

// TestWipedStore: two nodes share a store; the store is wiped under them
// (Redis: every key of the prefix deleted, as FLUSHALL would; NATS: the
// stream and its bucket deleted, and created again by a node starting on
// the wiped server). A resume on the node that held the wiped events in
// its replay cache, with an id from before the wipe, gets a gap and the
// new history, and nothing wiped; the node's open stream of the old log
// ends (its client resumes the same way).
func TestWipedStore(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) {
			store := sharedStore(t, engine)
			a := startHerd(t, "--store", store)
			b := startHerd(t, "--store", store)

			// A stream on b sees every event, so b's replay cache holds them.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", b.URL+"/events?topic=w", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			live := sse.NewReader(resp.Body)
			var ids []string
			for i := range 5 {
				ids = append(ids, mustPublish(t, a.URL, map[string]any{"topic": "w", "data": fmt.Sprintf("wiped %d", i)}))
			}
			for i := range 5 {
				if e, err := live.Next(); err != nil || e.Data != fmt.Sprintf("wiped %d", i) {
					t.Fatalf("live on b: %+v %v", e, err)
				}
			}
			if got := replay(t, b.URL, "w", ids[1], "wiped 4"); len(got) != 3 {
				t.Fatalf("resume on b before the wipe: %q, want the 3 later events", got)
			}

			wipeStore(t, engine, store)
			mustPublish(t, a.URL, map[string]any{"topic": "w", "data": "fresh"})
			got := replay(t, b.URL, "w", ids[2], "fresh")
			if !strings.HasPrefix(got[0], "gap:") || len(got) != 2 {
				t.Errorf("resume on b with an id from before the wipe: %q, want a gap and the new event only", got)
			}
			// The stream b had open on the old log ends, whatever it was sent
			// meanwhile (nothing of the old log).
			for {
				e, err := live.Next()
				if err != nil {
					break
				}
				if strings.HasPrefix(e.Data, "wiped") {
					t.Errorf("b's open stream got %q after the wipe", e.Data)
				}
			}
			got = replay(t, b.URL, "w", ids[4], "fresh")
			if !strings.HasPrefix(got[0], "gap:") || len(got) != 2 {
				t.Errorf("resume on b after its follower started over: %q, want a gap and the new event only", got)
			}
		})
	}
}

// wipeStore deletes a shared store's data as wiping the broker would: for
// NATS, a node starting on the wiped server then creates the stream and
// bucket anew.
func wipeStore(t *testing.T, engine, store string) {
	t.Helper()
	prefix := store[strings.Index(store, "prefix=")+len("prefix="):]
	if engine == "redis" {
		opts, err := goredis.ParseURL(services.RedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		keys, err := c.Keys(t.Context(), "{"+prefix+"}:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys of prefix %s: %q %v", prefix, keys, err)
		}
		if err := c.Del(t.Context(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
		return
	}
	nc, err := natsgo.Connect(services.NATSURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(t.Context(), "HERD_"+prefix); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(t.Context(), "HERD_"+prefix+"_closed"); err != nil {
		t.Fatal(err)
	}
	startHerd(t, "--store", store).kill9()
}
