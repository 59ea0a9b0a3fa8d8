package hub

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Topics are "/"-separated segments, like "orders/42" or "chat/rooms/lobby".
// A selector is a topic pattern: "*" as a whole segment matches exactly one
// segment, and "**" as the last segment matches one or more trailing
// segments. Publishing goes to concrete topics only.

// MaxTopicLength is the longest topic or selector accepted, in bytes.
const MaxTopicLength = 256

// ValidateTopic reports whether t can be published to.
func ValidateTopic(t string) error {
	if err := validateSegments(t); err != nil {
		return err
	}
	if strings.Contains(t, "*") {
		return fmt.Errorf("topic %q: wildcards are for subscribing; publish to concrete topics", t)
	}
	return nil
}

// ValidateSelector reports whether s is a valid topic selector.
func ValidateSelector(s string) error {
	if err := validateSegments(s); err != nil {
		return err
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		switch {
		case seg == "**" && i != len(segs)-1:
			return fmt.Errorf("selector %q: ** may only be the last segment", s)
		case strings.Contains(seg, "*") && seg != "*" && seg != "**":
			return fmt.Errorf("selector %q: * and ** must be whole segments", s)
		}
	}
	return nil
}

func validateSegments(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("empty topic")
	case len(t) > MaxTopicLength:
		return fmt.Errorf("topic %.32q…: longer than %d bytes", t, MaxTopicLength)
	case !utf8.ValidString(t):
		return fmt.Errorf("topic %q: not valid UTF-8", t)
	}
	for _, r := range t {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("topic %q: no spaces or control characters allowed", t)
		}
	}
	if strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") || strings.Contains(t, "//") {
		return fmt.Errorf("topic %q: empty segment (leading, trailing or double /)", t)
	}
	return nil
}

// isConcrete reports whether a valid selector names one topic only.
func isConcrete(s string) bool { return !strings.Contains(s, "*") }

// Match reports whether the selector matches the topic.
func Match(selector, topic string) bool {
	for {
		seg, rest, more := strings.Cut(selector, "/")
		switch seg {
		case "**":
			return topic != ""
		case "*":
			_, trest, tmore := strings.Cut(topic, "/")
			if topic == "" || (!more && tmore) {
				return false
			}
			if !more {
				return true
			}
			if !tmore {
				return false
			}
			selector, topic = rest, trest
			continue
		}
		tseg, trest, tmore := strings.Cut(topic, "/")
		if seg != tseg || more != tmore {
			return false
		}
		if !more {
			return true
		}
		selector, topic = rest, trest
	}
}

// An index finds the subscribers whose selectors match a topic: concrete
// selectors by map lookup, wildcard ones by walking a tree of segments, so
// the cost of matching does not grow with the number of subscriptions.
type index struct {
	exact map[string]map[*subscriber]struct{}
	wild  *node
}

type node struct {
	children map[string]*node // by segment, "*" included
	here     map[*subscriber]struct{}
	rest     map[*subscriber]struct{} // subscribers of "…/**" at this node
}

func newIndex() *index {
	return &index{exact: make(map[string]map[*subscriber]struct{}), wild: &node{}}
}

func (x *index) add(sel string, s *subscriber) {
	if isConcrete(sel) {
		m := x.exact[sel]
		if m == nil {
			m = make(map[*subscriber]struct{})
			x.exact[sel] = m
		}
		m[s] = struct{}{}
		return
	}
	n := x.wild
	segs := strings.Split(sel, "/")
	for i, seg := range segs {
		if seg == "**" && i == len(segs)-1 {
			n.rest = addTo(n.rest, s)
			return
		}
		if n.children == nil {
			n.children = make(map[string]*node)
		}
		c := n.children[seg]
		if c == nil {
			c = &node{}
			n.children[seg] = c
		}
		n = c
	}
	n.here = addTo(n.here, s)
}

func addTo(m map[*subscriber]struct{}, s *subscriber) map[*subscriber]struct{} {
	if m == nil {
		m = make(map[*subscriber]struct{})
	}
	m[s] = struct{}{}
	return m
}

func (x *index) remove(sel string, s *subscriber) {
	if isConcrete(sel) {
		if m := x.exact[sel]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(x.exact, sel)
			}
		}
		return
	}
	x.wild.remove(strings.Split(sel, "/"), s)
}

// remove deletes s under segs and reports whether n is now empty.
func (n *node) remove(segs []string, s *subscriber) bool {
	switch {
	case len(segs) == 1 && segs[0] == "**":
		delete(n.rest, s)
	case len(segs) == 0:
		delete(n.here, s)
	default:
		if c := n.children[segs[0]]; c != nil && c.remove(segs[1:], s) {
			delete(n.children, segs[0])
		}
	}
	return len(n.here) == 0 && len(n.rest) == 0 && len(n.children) == 0
}

// match calls fn for each subscriber with a selector matching topic. A
// subscriber with several matching selectors is passed once per selector.
func (x *index) match(topic string, fn func(*subscriber)) {
	for s := range x.exact[topic] {
		fn(s)
	}
	if len(x.wild.children) > 0 || len(x.wild.rest) > 0 {
		x.wild.match(topic, fn)
	}
}

func (n *node) match(topic string, fn func(*subscriber)) {
	if topic == "" {
		for s := range n.here {
			fn(s)
		}
		return
	}
	for s := range n.rest {
		fn(s)
	}
	seg, rest, more := strings.Cut(topic, "/")
	if !more {
		rest = ""
	}
	for _, key := range [2]string{seg, "*"} {
		if c := n.children[key]; c != nil {
			c.match(rest, fn)
		}
	}
}
