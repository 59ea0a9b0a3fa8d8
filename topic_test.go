package herd

import (
	"strings"
	"testing"
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
		if got := Match(tc.sel, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.sel, tc.topic, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := []string{"a", "a/b", "orders/42", "chat/rooms/lobby", "ünï/cödé", "a.b-c_d:e@f"}
	for _, topic := range good {
		if err := ValidateTopic(topic); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", topic, err)
		}
		if err := ValidateSelector(topic); err != nil {
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
		if err := ValidateTopic(topic); err == nil || !strings.Contains(err.Error(), want) {
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
		if err := ValidateSelector(sel); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateSelector(%q) = %v, want an error about %q", sel, err, want)
		}
	}
	for _, sel := range []string{"*", "**", "a/*", "*/b", "a/**", "a/*/c/**"} {
		if err := ValidateSelector(sel); err != nil {
			t.Errorf("ValidateSelector(%q) = %v", sel, err)
		}
	}
}
