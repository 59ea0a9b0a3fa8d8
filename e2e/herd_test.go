//go:build linux && integration

// Package e2e tests herd as users run it: the real binary in its own
// process, over real HTTP, with real files, signals and browsers.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// herdBin is the herd binary, built once by TestMain.
var herdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herd-e2e")
	if err != nil {
		panic(err)
	}
	herdBin = filepath.Join(dir, "herd")
	// Tests run herd with the race detector; benchmarks measure the
	// binary users run.
	flag.Parse()
	build := []string{"build", "-race", "-o", herdBin, "github.com/herd-sse/herd/cmd/herd"}
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		build = slices.Delete(build, 1, 2)
	}
	out, err := exec.Command("go", build...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building herd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// A herd is a running herd serve process.
type herd struct {
	t      testing.TB
	args   []string
	URL    string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startHerd runs herd serve with args, on a free loopback port unless args
// name an --addr, and waits until it serves.
func startHerd(t testing.TB, args ...string) *herd {
	t.Helper()
	return startHerdBin(t, herdBin, args...)
}

// startHerdBin is startHerd with the herd binary bin.
func startHerdBin(t testing.TB, bin string, args ...string) *herd {
	t.Helper()
	if !slices.Contains(args, "--addr") {
		args = append([]string{"--addr", "127.0.0.1:0"}, args...)
	}
	h := &herd{t: t, args: args, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	h.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	h.cmd.Stderr = h.stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		h.err = h.cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() { h.kill9() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		<-h.exited
		t.Fatalf("herd serve %q exited before serving: %v\n%s", args, h.err, h.stderr)
	}
	h.URL = strings.TrimPrefix(lines.Text(), "herd listening on ")
	go io.Copy(io.Discard, stdout)
	// A herd serving --tls self-signed has a certificate no one trusts.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for range 200 {
		if resp, err := probe.Get(h.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("herd at %s not ready after 5s\n%s", h.URL, h.stderr)
	return nil
}

// lacking stops a test whose dependency this machine lacks: it fails
// under CI=true, where a missing dependency must not pass unnoticed, and
// skips otherwise. remedy says how to get it.
func lacking(t testing.TB, what, remedy string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s and CI=true: %s", what, remedy)
	}
	t.Skipf("%s: %s", what, remedy)
}

// restart starts herd again with the same arguments, on the same port.
func (h *herd) restart() *herd {
	h.t.Helper()
	u, _ := url.Parse(h.URL)
	args := append([]string{}, h.args...)
	for i := range args {
		if args[i] == "--addr" {
			args[i+1] = u.Host
		}
	}
	return startHerd(h.t, args...)
}

// kill9 kills the process at once, as a crash would.
func (h *herd) kill9() {
	select {
	case <-h.exited:
		return
	default:
	}
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
}

// sigterm asks herd to stop and returns its exit status.
func (h *herd) sigterm(within time.Duration) int {
	h.t.Helper()
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(within):
		h.t.Fatalf("herd did not stop within %v of SIGTERM\n%s", within, h.stderr)
	}
	return h.cmd.ProcessState.ExitCode()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// publish posts a JSON publish and returns the event id.
func publish(ctx context.Context, base string, body map[string]any) (string, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/events", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	return sendPublish(http.DefaultClient, req)
}

// sendPublish sends a publish request with client and returns the id the
// hub answered, or an error with the hub's own message.
func sendPublish(client *http.Client, req *http.Request) (string, error) {
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var answer struct{ ID, Error string }
	json.NewDecoder(resp.Body).Decode(&answer)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", resp.Status, answer.Error)
	}
	return answer.ID, nil
}

func mustPublish(t *testing.T, base string, body map[string]any) string {
	t.Helper()
	id, err := publish(t.Context(), base, body)
	if err != nil {
		t.Fatalf("publish %v: %v", body, err)
	}
	return id
}

// runHerd runs a herd subcommand and returns its exit status and output.
func runHerd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(herdBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}
