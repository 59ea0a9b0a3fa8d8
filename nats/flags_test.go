package nats

import (
	"testing"

	"github.com/herd-sse/herd"
)

// Herd-Flags is stored data: the letters herd has always written, for
// every set of flags, byte for byte (herd.TestFlagLetters checks that
// every flag has a letter), and FlagZeroRetry never among them (Herd-Retry
// "0" says it).
func TestFlagLetters(t *testing.T) {
	c, n, p, z := herd.FlagClose, herd.FlagNoData, herd.FlagPrivate, herd.FlagZeroRetry
	for f, want := range map[herd.Flags]string{
		0: "", c: "c", n: "n", p: "p", z: "",
		c | n: "cn", c | p: "cp", n | p: "np", c | n | p: "cnp", c | n | p | z: "cnp",
	} {
		if got := flagString(f); got != want {
			t.Errorf("flags %#x written as %q, want %q", f, got, want)
		}
		if got, ok := parseFlags(want); !ok || got != f&^z {
			t.Errorf("Herd-Flags %q read as %#x, %v, want %#x", want, got, ok, f&^z)
		}
	}
	for _, bad := range []string{"pc", "cc", "x", "c ", "C", "z", "cz"} {
		if f, ok := parseFlags(bad); ok {
			t.Errorf("Herd-Flags %q read as %#x: not herd's", bad, f)
		}
	}
}
