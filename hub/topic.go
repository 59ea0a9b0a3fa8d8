package hub

import "strings"

// isConcrete reports whether a valid selector names one topic only.
func isConcrete(s string) bool { return !strings.Contains(s, "*") }

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
