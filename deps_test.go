package herd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// deps returns the packages pkg depends on, itself included, tests not,
// each with whether it is in the standard library.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{.Dir}} {{.GoFiles}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	std := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(strings.NewReplacer("[", "", "]", "").Replace(line))
		std[f[0]] = f[1] == "true"
		if f[1] == "false" && strings.HasPrefix(f[0], "github.com/herd-sse/herd") {
			// Stat our own sources, so that go test's cache knows to run
			// this test again when one changes (it cannot see go list's).
			for _, name := range append(f[3:], ".") { // the directory: a file added
				if _, err := os.Stat(filepath.Join(f[2], name)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return std
}

// TestLayers proves the layering ARCHITECTURE.md states: the domain is a
// leaf (no HTTP, no operating-system machinery), the stores and their
// conformance suite depend on the domain and never on the hub, and the
// in-memory store on nothing but the domain and the standard library.
func TestLayers(t *testing.T) {
	t.Parallel()
	const mod = "github.com/herd-sse/herd"
	machinery := []string{"net/http", "golang.org/x/sys/unix", mod + "/hub", mod + "/sse"}
	for _, tc := range []struct {
		pkg     string
		ownOnly bool     // nothing outside the standard library but the domain
		never   []string // packages it must not depend on
	}{
		{".", true, machinery},
		{"./storetest", true, machinery},
		{"./memory", true, machinery},
		{"./bolt", false, []string{mod + "/hub", mod + "/sse", "net/http"}},
		{"./redis", false, []string{mod + "/hub", mod + "/sse"}},
		{"./nats", false, []string{mod + "/hub", mod + "/sse"}},
	} {
		got := deps(t, tc.pkg)
		for _, p := range tc.never {
			if _, ok := got[p]; ok {
				t.Errorf("%s depends on %s", tc.pkg, p)
			}
		}
		for p, std := range got {
			if tc.ownOnly && !std && !slices.Contains([]string{mod, mod + "/storetest", mod + "/memory"}, p) {
				t.Errorf("%s depends on %s, outside the standard library and the domain", tc.pkg, p)
			}
		}
	}
}
