package sse_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: streams,
// clients and their timers must all end with the test that started them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
