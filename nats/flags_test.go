package nats

import (
	"testing"

	"github.com/herd-sse/herd"
)

// Every flag but FlagZeroRetry (Herd-Retry "0") has a letter in Herd-Flags,
// and every set of them reads back as written: a flag added to herd.Flags
// without a letter fails here.
func TestFlagLetters(t *testing.T) {
	letters := herd.KnownFlags &^ herd.FlagZeroRetry
	for f := herd.Flags(1); f != 0; f <<= 1 {
		if f&letters != 0 && len(flagString(f)) != 1 {
			t.Errorf("flag %#x is written as %q, want one letter", f, flagString(f))
		}
	}
	for f := herd.Flags(0); f <= letters; f++ {
		if f&^letters != 0 {
			continue
		}
		if got, ok := parseFlags(flagString(f)); !ok || got != f {
			t.Errorf("flags %#x written as %q read back as %#x, %v", f, flagString(f), got, ok)
		}
	}
	for _, bad := range []string{"pc", "cc", "x", "c ", "C"} {
		if f, ok := parseFlags(bad); ok {
			t.Errorf("Herd-Flags %q read as %#x: not herd's", bad, f)
		}
	}
}
