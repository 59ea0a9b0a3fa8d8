package hub

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
)

// TestIndex_agreesWithMatch checks the index finds exactly the subscribers
// Match says, for random selectors and topics, as they come and go.
func TestIndex_agreesWithMatch(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "c"}
	randTopic := func() string {
		n := 1 + rnd.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[rnd.IntN(len(segs))]
		}
		return strings.Join(parts, "/")
	}
	randSelector := func() string {
		parts := strings.Split(randTopic(), "/")
		for i := range parts {
			if rnd.IntN(3) == 0 {
				parts[i] = "*"
			}
		}
		if rnd.IntN(3) == 0 {
			parts[len(parts)-1] = "**"
		}
		return strings.Join(parts, "/")
	}
	x := newIndex()
	subs := map[*subscriber]string{}
	for round := range 2000 {
		if len(subs) > 0 && rnd.IntN(3) == 0 {
			for s, sel := range subs {
				x.remove(sel, s)
				delete(subs, s)
				break
			}
		} else {
			sel := randSelector()
			if err := herd.ValidateSelector(sel); err != nil {
				t.Fatalf("generated an invalid selector %q: %v", sel, err)
			}
			s := &subscriber{}
			x.add(sel, s)
			subs[s] = sel
		}
		topic := randTopic()
		found := map[*subscriber]int{}
		x.match(topic, func(s *subscriber) { found[s]++ })
		for s, sel := range subs {
			if want := herd.Match(sel, topic); (found[s] > 0) != want {
				t.Fatalf("round %d: selector %q, topic %q: index found %v, Match says %v", round, sel, topic, found[s] > 0, want)
			}
		}
		if len(found) > len(subs) {
			t.Fatalf("round %d: index found removed subscribers", round)
		}
	}
	for s, sel := range subs {
		x.remove(sel, s)
	}
	if len(x.exact) != 0 || len(x.wild.children) != 0 || len(x.wild.rest) != 0 {
		t.Errorf("index not empty after removing everything: %d exact, %d children", len(x.exact), len(x.wild.children))
	}
}
