package herd

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
