//go:build linux && integration

package e2e

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExample_corsCheck: each example with pages on another origin checks
// at start that herd lets them in, and prints the command that does when
// it does not (or when herd is not running); with its origin listed, it
// prints nothing of the kind.
func TestExample_corsCheck(t *testing.T) {
	t.Parallel()
	refusing := startHerd(t, "--store", "memory")
	htmx, datastar := buildExample(t, "htmx"), buildExample(t, "datastar")
	examples := []struct {
		name string
		cmd  func(addr, hub string) *exec.Cmd
	}{
		{"htmx", func(addr, hub string) *exec.Cmd { return exec.Command(htmx, "--addr", addr, "--hub", hub) }},
		{"datastar", func(addr, hub string) *exec.Cmd { return exec.Command(datastar, "--addr", addr, "--hub", hub) }},
		{"django", func(addr, hub string) *exec.Cmd {
			return exec.Command(djangoPython(t), filepath.Join(repoRoot(t), "examples", "django", "app.py"), "--addr", addr, "--hub", hub)
		}},
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			port := freePort(t)
			origin := fmt.Sprintf("http://127.0.0.1:%d", port)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			fix := "go run ./cmd/herd --store memory --cors-origins " + origin
			if got := exampleStderr(t, ex.cmd(addr, refusing.URL)); !strings.Contains(got, "does not let pages of "+origin+" read its streams") || !strings.Contains(got, fix) {
				t.Errorf("against a herd refusing its origin, %s said:\n%s", ex.name, got)
			}
			if got := exampleStderr(t, ex.cmd(addr, "http://127.0.0.1:1")); !strings.Contains(got, "herd does not answer at http://127.0.0.1:1") || !strings.Contains(got, fix) {
				t.Errorf("without a herd, %s said:\n%s", ex.name, got)
			}
			allowing := startHerd(t, "--store", "memory", "--cors-origins", origin)
			if got := exampleStderr(t, ex.cmd(addr, allowing.URL)); strings.Contains(got, "--cors-origins") {
				t.Errorf("against a herd allowing its origin, %s said:\n%s", ex.name, got)
			}
		})
	}
}

// buildExample builds examples/name and returns the binary.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/herd-sse/herd/examples/"+name).CombinedOutput(); err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// exampleStderr starts cmd, waits for its first line on stdout (it
// serves: the check is done by then, its verdict written before), stops
// it, and returns what it wrote on stderr.
func exampleStderr(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("%s printed nothing: %v\n%s", cmd.Path, err, stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	return stderr.String()
}
