package sse_test

import (
	"encoding/json"
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

// TestNoRequirements proves the sse module requires no other module, so
// that go get of it adds exactly one line to a go.mod and nothing else to
// a go.sum.
func TestNoRequirements(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "mod", "edit", "-json").CombinedOutput()
	if err != nil {
		t.Fatalf("go mod edit: %v\n%s", err, out)
	}
	var mod struct {
		Module  struct{ Path string }
		Require []struct{ Path string }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	if mod.Module.Path != "github.com/herd-sse/herd/sse" || len(mod.Require) != 0 {
		t.Errorf("sse's go.mod: module %q, requires %v; want github.com/herd-sse/herd/sse requiring nothing", mod.Module.Path, mod.Require)
	}
}
