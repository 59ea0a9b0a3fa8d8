//go:build linux && integration

package e2e

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// h2specVersion is the HTTP/2 conformance suite the test command runs
// against herd's own HTTP/2 server (--h2-engine).
const h2specVersion = "github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible"

// buildH2spec installs h2spec from the module proxy into a temporary
// directory; without it the test stops (and fails under CI=true).
func buildH2spec(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "install", h2specVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		lacking(t, "h2spec could not be built", "go install "+h2specVersion+" needs the module proxy: "+err.Error()+"\n"+string(out))
	}
	return filepath.Join(dir, "h2spec")
}

// TestH2spec runs the whole HTTP/2 conformance suite (RFC 9113 and HPACK)
// against herd serve --h2-engine: frames, stream states, flow control,
// settings, and malformed requests.
func TestH2spec(t *testing.T) {
	bin := buildH2spec(t)
	h := startHerd(t, "--store", "memory", "--tls", "self-signed", "--h2-engine")
	u, _ := url.Parse(h.URL)
	// Each case waits up to -o seconds for an answer: herd runs with the
	// race detector on a shared machine.
	out, err := exec.Command(bin, "--tls", "--insecure", "-h", u.Hostname(), "-p", u.Port(), "-o", "10").CombinedOutput()
	report := string(out)
	if err != nil || !strings.Contains(report, " 0 failed") {
		t.Fatalf("h2spec: %v\n%s\nherd's log:\n%s", err, report, h.stderr)
	}
	lines := strings.Split(strings.TrimSpace(report), "\n")
	t.Log(lines[len(lines)-1])
	checkNoRace(t, h)
}

// checkNoRace fails the test if herd (built with the race detector)
// reported a data race.
func checkNoRace(t *testing.T, h *herd) {
	t.Helper()
	if log := h.stderr.String(); strings.Contains(log, "DATA RACE") {
		t.Errorf("herd reported a data race:\n%s", log)
	}
}
