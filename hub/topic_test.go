package hub

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		sel, topic string
		want       bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a/b", false},
		{"a/b", "a", false},
		{"a/*", "a/b", true},
		{"a/*", "a/b/c", false},
		{"a/*", "a", false},
		{"*/b", "a/b", true},
		{"*", "a", true},
		{"*", "a/b", false},
		{"a/**", "a/b", true},
		{"a/**", "a/b/c/d", true},
		{"a/**", "a", false},
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"a/*/c/**", "a/x/c/d/e", true},
		{"a/*/c/**", "a/x/c", false},
		{"a/*/c/**", "a/x/d/e", false},
	}
	for _, tc := range tests {
		if got := herd.Match(tc.sel, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.sel, tc.topic, got, tc.want)
		}
	}
}

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

func TestValidate(t *testing.T) {
	good := []string{"a", "a/b", "orders/42", "chat/rooms/lobby", "ünï/cödé", "a.b-c_d:e@f"}
	for _, topic := range good {
		if err := herd.ValidateTopic(topic); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", topic, err)
		}
		if err := herd.ValidateSelector(topic); err != nil {
			t.Errorf("ValidateSelector(%q) = %v", topic, err)
		}
	}
	badTopics := map[string]string{
		"":                       "empty",
		"/a":                     "empty segment",
		"a/":                     "empty segment",
		"a//b":                   "empty segment",
		"a b":                    "spaces",
		"a\nb":                   "spaces",
		"a\x00b":                 "control",
		"a/*":                    "wildcards are for subscribing",
		"\xff":                   "UTF-8",
		strings.Repeat("x", 257): "longer than",
	}
	for topic, want := range badTopics {
		if err := herd.ValidateTopic(topic); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateTopic(%q) = %v, want an error about %q", topic, err, want)
		}
	}
	for sel, want := range map[string]string{
		"a/**/b": "last segment",
		"a*":     "whole segments",
		"a/b*":   "whole segments",
		"***":    "whole segments",
		"a//*":   "empty segment",
	} {
		if err := herd.ValidateSelector(sel); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateSelector(%q) = %v, want an error about %q", sel, err, want)
		}
	}
	for _, sel := range []string{"*", "**", "a/*", "*/b", "a/**", "a/*/c/**"} {
		if err := herd.ValidateSelector(sel); err != nil {
			t.Errorf("ValidateSelector(%q) = %v", sel, err)
		}
	}
}
