package e2e

import (
	"encoding/json"
	"testing"
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
	code, _, errOut = runHerd(t, "", "bench", "nonsense")
	if code != 2 {
		t.Errorf("herd bench nonsense: exit %d, %s", code, errOut)
	}
}
