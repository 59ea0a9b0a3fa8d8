package sse_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly proves the sse package imports nothing outside the
// standard library, so adopting it adds no dependency.
func TestStandardLibraryOnly(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/herd-sse/herd/sse" {
			t.Errorf("sse depends on %s, which is not in the standard library", pkg)
		}
	}
}
