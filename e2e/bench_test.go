//go:build linux && integration

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/herd-sse/herd/internal/services"
)

// TestBench runs herd bench as users do (it starts herd and the baseline
// itself), small and short, and checks its JSON: both hubs measured,
// nothing lost, the hub's /proc figures present.
func TestBench(t *testing.T) {
	code, out, errOut := runHerd(t, "", "bench", "--json", "--subs", "200", "--duration", "1s", "--rate", "20", "latency", "accept")
	if code != 0 {
		t.Fatalf("herd bench: exit %d\n%s", code, errOut)
	}
	var res struct {
		Reports []struct {
			Scenario, Target, Params string
			Metrics                  []struct {
				Name  string
				Value float64
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, r := range res.Reports {
		seen[r.Scenario+" "+r.Target] = true
		for _, m := range r.Metrics {
			switch m.Name {
			case "lost (acked, not received)", "duplicates", "publish errors", "subscribers not given exactly the 10 missed events":
				if m.Value != 0 && !(r.Target == "baseline" && m.Name == "lost (acked, not received)") {
					t.Errorf("%s %s (%s): %s = %v", r.Scenario, r.Target, r.Params, m.Name, m.Value)
				}
			case "deliveries/s", "accept rate", "hub CPU per delivery", "hub CPU per connection":
				if m.Value <= 0 {
					t.Errorf("%s %s (%s): %s = %v", r.Scenario, r.Target, r.Params, m.Name, m.Value)
				}
			}
		}
	}
	for _, want := range []string{"B3 herd", "B3 baseline", "B4 herd", "B4 baseline"} {
		if !seen[want] {
			t.Errorf("no report for %s: %v", want, seen)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nonsense"}, `unknown scenario "nonsense"`},
		{[]string{"--nodes", "0", "fanout"}, "--nodes must be at least 1"},
		{[]string{"--nodes", "3", "fanout"}, "--nodes 3 needs a shared store"},
		{[]string{"--nodes", "3", "--store", "redis://127.0.0.1:6379/0", "--hub", "http://127.0.0.1:1", "fanout"}, "use one or the other"},
		{[]string{"--store", "s3://bucket", "fanout"}, "unknown store"},
	} {
		code, _, errOut := runHerd(t, "", append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("herd bench %q: exit %d, %s; want 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestBench_cluster runs the fan-out benchmark on three herd nodes sharing
// Redis, then NATS, with one node on the same store as the baseline:
// every event reaches every subscriber, whichever node it was published
// to and whichever node the subscriber is on.
func TestBench_cluster(t *testing.T) {
	for _, store := range []string{services.RedisURL(t), services.NATSURL(t)} {
		code, out, errOut := runHerd(t, "", "bench", "--json", "--store", store, "--nodes", "3",
			"--subs", "300", "--duration", "1s", "--rate", "20", "fanout")
		if code != 0 {
			t.Fatalf("herd bench on %s: exit %d\n%s", store, code, errOut)
		}
		var res struct {
			Targets []string
			Reports []struct {
				Target, Params string
				Metrics        []struct {
					Name  string
					Value float64
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if len(res.Targets) != 2 || !strings.Contains(res.Targets[0], "herd: 3 herd node(s)") || !strings.Contains(res.Targets[1], "baseline: 1 herd node(s)") {
			t.Errorf("targets %q", res.Targets)
		}
		steps := 0
		for _, r := range res.Reports {
			steps++
			for _, m := range r.Metrics {
				switch m.Name {
				case "lost (acked, not received)", "duplicates", "publish errors":
					if m.Value != 0 {
						t.Errorf("%s %s (%s): %s = %v", store, r.Target, r.Params, m.Name, m.Value)
					}
				case "deliveries/s":
					if m.Value <= 0 {
						t.Errorf("%s %s (%s): no deliveries", store, r.Target, r.Params)
					}
				}
			}
		}
		if steps != 6 { // the rate step and two burst steps, on each target
			t.Errorf("%s: %d reports, want 6", store, steps)
		}
	}
}
