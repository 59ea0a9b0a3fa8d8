package cli

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// sourceDir is the package's directory, where the tests started.
var sourceDir string

// TestMain runs the tests in a scratch directory, so that a serve whose
// flags name no store (and so open the default bolt:herd.db) never leaves a
// file in the source tree, and then checks that no test left a goroutine
// behind (a serve not stopped, a connection not closed).
func TestMain(m *testing.M) {
	var err error
	if sourceDir, err = os.Getwd(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "herd-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
