package cli

import "testing"

func TestTrimmer(t *testing.T) {
	tr := trimmer{minDrop: 1000}
	steps := []struct {
		n    int
		free bool
	}{
		{500, false},
		{0, false}, // a drop of 500: below minDrop
		{10_000, false},
		{6_000, false}, // not yet half
		{5_000, true},  // half the peak, and 5,000 fewer
		{4_000, false}, // the peak is 5,000 now
		{2_400, true},
		{2_400, false},
		{3_000, false},
		{1_600, false}, // 1,400 fewer than the peak of 3,000, but more than half
		{1_500, true},
	}
	for i, s := range steps {
		if got := tr.observe(s.n); got != s.free {
			t.Errorf("step %d (%d subscribers): free %v, want %v", i, s.n, got, s.free)
		}
	}
}
