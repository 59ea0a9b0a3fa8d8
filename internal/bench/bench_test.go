//go:build linux

package bench

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

func TestHist(t *testing.T) {
	var h Hist
	rnd := rand.New(rand.NewPCG(1, 1))
	var vals []time.Duration
	for range 100_000 {
		v := time.Duration(rnd.ExpFloat64() * float64(5*time.Millisecond))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{.5, .9, .99, .999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > .04 || diff < -.04 {
			t.Errorf("q%.3f = %v, exact %v (%.1f%% off)", q, got, exact, 100*diff)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Count() != 100_000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
}

// TestGenerator runs a latency step against herd's hub and the baseline,
// in process: every acknowledged event reaches every subscriber once.
func TestGenerator(t *testing.T) {
	store := memory.New(memory.Options{})
	defer store.Close()
	h, _ := hub.New(hub.Config{Store: store})
	h.Open(t.Context())
	defer h.Close(context.Background())
	for _, tc := range []struct {
		name   string
		server *httptest.Server
	}{
		{"herd", httptest.NewServer(h)},
		{"baseline", httptest.NewServer(NewRefHub())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.server.Close()
			tgt := Target{Name: tc.name, Nodes: []Node{{Base: tc.server.URL}}, SubPath: "/events?topic={topic}",
				PubPath: "/events", Body: FormBody, ContentType: "application/x-www-form-urlencoded"}
			rep, err := runStep(t.Context(), Config{Duration: time.Second}, tgt, "T", step{name: "t", subs: 50, topics: 5,
				topicOf: func(i int) int { return i % 5 }, rate: 200})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]float64{}
			for _, x := range rep.Metrics {
				m[x.Name] = x.Value
			}
			if m["lost (acked, not received)"] != 0 || m["duplicates"] != 0 || m["publish errors"] != 0 || m["deliveries/s"] == 0 {
				t.Errorf("report %+v", rep)
			}
		})
	}
}
