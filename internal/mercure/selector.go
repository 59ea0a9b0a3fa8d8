package mercure

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"

	"github.com/herd-sse/herd/internal/jwt"
)

// The kinds of selector, named as Mercure names its matcher types:
// "exact" (the match parameter, and match_type's default), "urlpattern"
// (match_urlpattern) and, from Mercure 0.x, "topic" (an exact topic or a
// URI template, the topic parameter and the mercure claim's strings).
const (
	kindExact      = jwt.MatchExact
	kindURLPattern = jwt.MatchURLPattern
	kindTemplate   = jwt.MatchTemplate
)

// A selector matches Mercure topics: exactly, all of them ("*"), by URI
// template (RFC 6570, Mercure 0.x's topic parameter) or by URL pattern.
type selector struct {
	kind  string
	value string // as given
	all   bool
	re    *regexp.Regexp // for templates and patterns; nil for exact
	memo  matchMemo      // re's answers, by topic
}

func (s *selector) matches(topic string) bool {
	switch {
	case s.all:
		return true
	case s.re != nil:
		return s.memo.matches(s.re, topic)
	}
	return s.value == topic
}

// memoSize bounds the topics one pattern remembers its answer for.
const memoSize = 128

// A matchMemo remembers a pattern's answers, so that a pattern shared by
// many subscribers (the compiled cache shares them) runs once per topic,
// not once per subscriber and update. It forgets everything when full:
// a pattern matched against more topics than memoSize recompute them.
type matchMemo struct {
	mu      sync.RWMutex
	answers map[string]bool
}

func (m *matchMemo) matches(re *regexp.Regexp, topic string) bool {
	m.mu.RLock()
	ok, known := m.answers[topic]
	m.mu.RUnlock()
	if known {
		return ok
	}
	ok = re.MatchString(topic)
	m.mu.Lock()
	if m.answers == nil || len(m.answers) >= memoSize {
		m.answers = make(map[string]bool)
	}
	m.answers[topic] = ok
	m.mu.Unlock()
	return ok
}

// Limits on what one request (its query, or its token) may ask the hub to
// compile. A regexp's cost is the size of its compiled program; Go's
// parser alone lets a 900-byte pattern compile to 200 MB of allocations
// and 40 MB kept, so patterns are measured before they are compiled.
const (
	maxSelector     = 1024    // bytes in one selector
	maxSelectors    = 100     // selectors in one request or one token action
	maxProgram      = 4 << 10 // compiled instructions in one selector
	maxRequestProgs = 64 << 10
)

var errTooCostly = errors.New("too costly to compile")

// A budget is what is left of one request's compile allowance.
type budget struct{ left int }

func newBudget() *budget { return &budget{left: maxRequestProgs} }

// parseSelector reads a selector of a kind, compiling it within b (nil:
// a budget of its own). Compiled selectors are shared through a bounded
// cache; a cached one costs the budget nothing.
func parseSelector(kind, s string, b *budget) (*selector, error) {
	if s == "" {
		return nil, errors.New("empty value")
	}
	if len(s) > maxSelector {
		return nil, fmt.Errorf("longer than %d bytes", maxSelector)
	}
	if !validProtocolString(s) {
		return nil, errors.New("not UTF-8, or holds control or format characters")
	}
	if s == "*" { // the wildcard, whatever the kind
		return &selector{kind: kind, value: s, all: true}, nil
	}
	var expr string
	switch kind {
	case kindExact:
		return &selector{kind: kind, value: s}, nil
	case kindTemplate:
		if !strings.Contains(s, "{") {
			return &selector{kind: kind, value: s}, nil
		}
		var err error
		if expr, err = templateRegexp(s); err != nil {
			return nil, fmt.Errorf("URI template: %v", err)
		}
	case kindURLPattern:
		var err error
		if expr, err = urlPatternRegexp(s); err != nil {
			return nil, fmt.Errorf("URL pattern: %v", err)
		}
	default:
		return nil, fmt.Errorf("unsupported matcher type %q", kind)
	}
	if sel, ok := compiled.get(kind, s); ok {
		return sel, nil
	}
	if b == nil {
		b = newBudget()
	}
	re, size, err := compileBounded(expr, b)
	if err != nil {
		return nil, err
	}
	sel := &selector{kind: kind, value: s, re: re}
	compiled.put(sel, size)
	return sel, nil
}

// compileBounded compiles expr if its program fits maxProgram and what is
// left of b, and charges b for it.
func compileBounded(expr string, b *budget) (*regexp.Regexp, int, error) {
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, 0, err
	}
	limit := min(maxProgram, b.left)
	size := programSize(parsed, limit+1)
	if size > limit {
		return nil, 0, errTooCostly
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, 0, err
	}
	b.left -= size
	return re, size, nil
}

// programSize estimates the instructions re compiles to, as Go's compiler
// lays them out (every repetition expanded), stopping once past limit.
func programSize(re *syntax.Regexp, limit int) int {
	size := func(sub *syntax.Regexp) int { return programSize(sub, limit) }
	n := 0
	switch re.Op {
	case syntax.OpLiteral:
		n = len(re.Rune)
	case syntax.OpCapture:
		n = 2 + size(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		n = 1 + size(re.Sub[0])
	case syntax.OpRepeat:
		copies := re.Max
		if copies < 0 {
			copies = re.Min + 1
		}
		n = max(copies, 1) * (1 + size(re.Sub[0]))
	case syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range re.Sub {
			if n += 1 + size(sub); n > limit {
				break
			}
		}
	default:
		n = 1
	}
	return min(n, limit+1)
}

// templateRegexp turns a URI template into a regexp matching its
// expansions: a simple {var} is one path segment's worth of characters,
// {+var} and {#var} anything; the other operators the optional part they
// introduce.
func templateRegexp(t string) (string, error) {
	var b strings.Builder
	b.WriteString("^")
	for t != "" {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(t))
			break
		}
		b.WriteString(regexp.QuoteMeta(t[:open]))
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed {")
		}
		expr := t[open+1 : open+end]
		t = t[open+end+1:]
		if expr == "" {
			return "", fmt.Errorf("empty expression {}")
		}
		switch expr[0] {
		case '+', '#':
			b.WriteString(`.*`)
		case '/':
			b.WriteString(`(?:/[^/?#]*)*`)
		case '.':
			b.WriteString(`(?:\.[^/?#.]*)*`)
		case ';':
			b.WriteString(`(?:;[^/?#;]*)*`)
		case '?', '&':
			b.WriteString(`(?:[?&][^#]*)?`)
		default:
			b.WriteString(`[^/?#]*`)
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

// urlPatternRegexp turns a URL pattern (the WHATWG URL Pattern syntax's
// common part: :name for a segment, * for anything, :name? optional,
// (…) groups as regexps) into a regexp over the whole URL.
func urlPatternRegexp(p string) (string, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == ':' && i+1 < len(p) && isNameStart(p[i+1]):
			j := i + 1
			for j < len(p) && isNameChar(p[j]) {
				j++
			}
			group := `[^/?#]+`
			if j < len(p) && p[j] == '(' { // :name(regexp)
				k := closingParen(p, j)
				if k < 0 {
					return "", fmt.Errorf("unclosed (")
				}
				group = "(?:" + p[j+1:k] + ")"
				j = k + 1
			}
			modifier := ""
			if j < len(p) && (p[j] == '?' || p[j] == '*' || p[j] == '+') {
				modifier = p[j : j+1]
				j++
			}
			// As in URL patterns, a modifier applies to the segment with
			// its leading slash: /books/:id? matches /books too.
			if modifier != "" && strings.HasSuffix(b.String(), "/") {
				re := strings.TrimSuffix(b.String(), "/")
				b.Reset()
				b.WriteString(re)
				group = "/" + group
			}
			b.WriteString("(?:" + group + ")" + modifier)
			i = j
		case c == '*':
			b.WriteString(`.*`)
			i++
		case c == '(':
			k := closingParen(p, i)
			if k < 0 {
				return "", fmt.Errorf("unclosed (")
			}
			b.WriteString("(?:" + p[i+1:k] + ")")
			i = k + 1
		case c == '\\' && i+1 < len(p):
			b.WriteString(regexp.QuoteMeta(p[i+1 : i+2]))
			i += 2
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			i++
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

func closingParen(p string, open int) int {
	depth := 0
	for i := open; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

func isNameStart(c byte) bool {
	return c == '_' || c == '$' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || ('0' <= c && c <= '9') }

// anyMatches reports whether a selector matches a topic.
func anyMatches(sels []*selector, topics []string) bool {
	for _, s := range sels {
		if slices.ContainsFunc(topics, s.matches) {
			return true
		}
	}
	return false
}
