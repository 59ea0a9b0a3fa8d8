package cli

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:s3cret@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"redis://user:s3cret@h:6379/0?prefix=p", "redis://user:xxxxx@h:6379/0?prefix=p"},
		{"rediss://user:s3:cr@t@h", "rediss://user:xxxxx@h"},
		{"nats://s3cret-token@h:4222", "nats://xxxxx@h:4222"},
		{"redis://user:s3 cret@h:port:x/", "redis://user:xxxxx@h:port:x/"}, // does not parse
		{"redis://u:s3cret@h%zz/0", "redis://u:xxxxx@h%zz/0"},
		{"http://h/events?topic=a&authorization=s3cret&x=1", "http://h/events?topic=a&authorization=xxxxx&x=1"},
		{"http://h/?TOKEN=s3cret", "http://h/?TOKEN=xxxxx"},
		{`Get "http://h/e?authorization=s3cret": dial tcp: refused`, `Get "http://h/e?authorization=xxxxx": dial tcp: refused`},
		{"store redis://a:s3cret@h:1/0: dial, then nats://t0k@x", "store redis://a:xxxxx@h:1/0: dial, then nats://xxxxx@x"},
		{"bolt:herd.db", "bolt:herd.db"},
		{"", ""},
	} {
		got := redact(tc.in)
		if got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3") && strings.Contains(tc.in, "s3") {
			t.Errorf("redact(%q) = %q leaks the secret", tc.in, got)
		}
	}
}
