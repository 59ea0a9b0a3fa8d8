//go:build linux && integration

package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// TestReopenAcrossNodes: a topic closed through one node and reopened with
// herd reopen through another takes events on both; every node's history
// reads across the reopen, and a second close ends it again; on Redis and
// NATS.
func TestReopenAcrossNodes(t *testing.T) {
	for _, engine := range []string{"redis", "nats"} {
		t.Run(engine, func(t *testing.T) {
			store := sharedStore(t, engine)
			a := startHerd(t, "--store", store)
			b := startHerd(t, "--store", store)
			mustPublish(t, a.URL, map[string]any{"topic": "job/1", "data": "one"})
			closing := mustPublish(t, a.URL, map[string]any{"topic": "job/1", "data": "bye", "close": true})
			code, out, errOut := runHerd(t, "", "reopen", "--hub", b.URL, "job/1", "job/2")
			if code != 0 || out != "job/1: reopened (it was closed at id "+closing+")\njob/2: was open\n" {
				t.Fatalf("herd reopen through another node: exit %d, %q, %q", code, out, errOut)
			}
			if !strings.Contains(b.stderr.String(), "topic reopened") {
				t.Errorf("the node did not log the reopen:\n%s", b.stderr)
			}
			mustPublish(t, a.URL, map[string]any{"topic": "job/1", "data": "two"})
			mustPublish(t, b.URL, map[string]any{"topic": "job/1", "data": "end", "close": true})
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
				}
				resp.Body.Close()
				cancel()
				if strings.Join(got, " ") != `:one :bye :two :end close:{"topics":["job/1"]}` {
					t.Errorf("history through %s: %q", n.URL, got)
				}
			}
		})
	}
}
