package mercure

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/herd-sse/herd/internal/jwt"
)

// A selector matches Mercure topics: exactly, all of them ("*"), by URI
// template (RFC 6570, Mercure 0.x's topic parameter) or by URL pattern
// (Mercure 1.0's match_urlpattern).
type selector struct {
	all   bool
	exact string
	re    *regexp.Regexp // for templates and patterns
}

func (s selector) matches(topic string) bool {
	switch {
	case s.all:
		return true
	case s.re != nil:
		return s.re.MatchString(topic)
	}
	return s.exact == topic
}

// maxSelector bounds a selector, as herd bounds its own.
const maxSelector = 1024

// parseSelector reads a selector of a kind: "topic" ("*", a URI template
// when it holds "{", else a topic), "match" ("*" or a topic) or
// "match_urlpattern".
func parseSelector(kind, s string) (selector, error) {
	if s == "" {
		return selector{}, fmt.Errorf("empty %s selector", kind)
	}
	if len(s) > maxSelector {
		return selector{}, fmt.Errorf("%s selector longer than %d bytes", kind, maxSelector)
	}
	if s == "*" && kind != "match_urlpattern" {
		return selector{all: true}, nil
	}
	switch kind {
	case "topic":
		if !strings.Contains(s, "{") {
			return selector{exact: s}, nil
		}
		re, err := templateRegexp(s)
		if err != nil {
			return selector{}, fmt.Errorf("URI template %q: %v", s, err)
		}
		return selector{re: re}, nil
	case "match":
		return selector{exact: s}, nil
	case "match_urlpattern":
		re, err := urlPatternRegexp(s)
		if err != nil {
			return selector{}, fmt.Errorf("URL pattern %q: %v", s, err)
		}
		return selector{re: re}, nil
	}
	return selector{}, fmt.Errorf("unknown selector kind %q", kind)
}

// templateRegexp turns a URI template into a regexp matching its
// expansions: a simple {var} is one path segment's worth of characters,
// {+var} and {#var} anything; the other operators the optional part they
// introduce.
func templateRegexp(t string) (*regexp.Regexp, error) {
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
			return nil, fmt.Errorf("unclosed {")
		}
		expr := t[open+1 : open+end]
		t = t[open+end+1:]
		if expr == "" {
			return nil, fmt.Errorf("empty expression {}")
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
	return regexp.Compile(b.String())
}

// urlPatternRegexp turns a URL pattern (the WHATWG URL Pattern syntax's
// common part: :name for a segment, * for anything, :name? optional,
// (…) groups as regexps) into a regexp over the whole URL.
func urlPatternRegexp(p string) (*regexp.Regexp, error) {
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
					return nil, fmt.Errorf("unclosed (")
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
				return nil, fmt.Errorf("unclosed (")
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
	return regexp.Compile(b.String())
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

// grantSelectors parses a token's granted selectors; one that does not
// parse grants nothing.
func grantSelectors(sels []jwt.MercureSelector) []selector {
	out := make([]selector, 0, len(sels))
	for _, s := range sels {
		if sel, err := parseSelector(s.Kind, s.Value); err == nil {
			out = append(out, sel)
		}
	}
	return out
}

// anyMatches reports whether a selector matches a topic.
func anyMatches(sels []selector, topics []string) bool {
	for _, s := range sels {
		for _, t := range topics {
			if s.matches(t) {
				return true
			}
		}
	}
	return false
}
