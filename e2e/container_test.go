//go:build linux && integration

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// TestContainer builds the container image from a release's build
// context (deploy/container/Containerfile) with podman, and runs it: the
// hub starts as an unprivileged user, answers its health check, keeps its
// history in the volume across a restart, and stops on SIGTERM.
func TestContainer(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		lacking(t, "podman is not installed", "scripts/test.sh installs it (apt-get install -y podman runc)")
	}
	dist := t.TempDir()
	release := exec.Command("go", "run", "./scripts/release", "-targets", "linux/amd64", "-out", dist)
	release.Dir = ".."
	if out, err := release.CombinedOutput(); err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	// runc and cgroupfs run on any Linux; this sandbox also forbids the
	// default ulimits podman would set.
	conf := filepath.Join(t.TempDir(), "containers.conf")
	os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644)
	pod := func(args ...string) (string, error) {
		cmd := exec.Command("podman", append([]string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}, args...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("podman %s: %v: %s", args[0], err, ee.Stderr)
		}
		return strings.TrimSpace(string(out)), err
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	image, volume, name := "localhost/herd-e2e:"+suffix, "herd-e2e-"+suffix, "herd-e2e-"+suffix
	if _, err := pod("build", "-q", "--format", "docker", "-t", image, filepath.Join(dist, "container")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pod("rm", "-f", name)
		pod("volume", "rm", "-f", volume)
		pod("rmi", "-f", image)
	})
	if user, err := pod("image", "inspect", "--format", "{{.Config.User}} {{.Config.Healthcheck.Test}}", image); err != nil ||
		!strings.HasPrefix(user, "65532:65532 ") || !strings.Contains(user, "/herd health") {
		t.Errorf("image: user and health check %q, %v", user, err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := func() {
		t.Helper()
		if _, err := pod("run", "-d", "--replace", "--name", name, "--network", "host", "--health-interval", "disable",
			"-e", fmt.Sprintf("HERD_ADDR=127.0.0.1:%d", port), "-v", volume+":/data", image); err != nil {
			t.Fatal(err)
		}
		for range 200 {
			if resp, err := http.Get(base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			time.Sleep(25 * time.Millisecond)
		}
		logs, _ := pod("logs", name)
		t.Fatalf("the container's hub is not ready:\n%s", logs)
	}
	start()
	if _, err := pod("healthcheck", "run", name); err != nil {
		t.Errorf("health check: %v", err)
	}
	if users, err := pod("top", name, "user"); err != nil || !strings.Contains(users, "65532") || strings.Contains(users, "root") {
		t.Errorf("the hub runs as %q, %v", users, err)
	}
	id := mustPublish(t, base, map[string]any{"topic": "kept", "data": "across restarts"})
	if _, err := pod("stop", "-t", "20", name); err != nil {
		t.Fatal(err)
	}
	if code, err := pod("inspect", "--format", "{{.State.ExitCode}}", name); err != nil || code != "0" {
		t.Errorf("exit code after SIGTERM: %q, %v", code, err)
	}
	if found, err := pod("run", "--rm", "--network", "host", "--health-interval", "disable", "-v", volume+":/data", image,
		"check", "--store", "bolt:/data/herd.db"); err != nil || !strings.Contains(found, "# store: sound: 1 events") {
		t.Errorf("herd check in the volume: %q, %v", found, err)
	}
	start()
	resp, err := http.Get(base + "/events?topic=kept&last_event_id=earliest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e, err := sse.NewReader(resp.Body).Next(); err != nil || e.ID != id {
		t.Errorf("after the restart: %+v, %v; want event %s", e, err, id)
	}
}

// TestSystemdUnit checks deploy/systemd/herd.service with systemd's own
// verifier (with the binary at its path): every key known, every value
// parsed, the commands executable.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		lacking(t, "systemd-analyze is not installed", "scripts/test.sh installs it (Debian's systemd package has it)")
	}
	unit, err := os.ReadFile("../deploy/systemd/herd.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "herd.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/herd", herdBin)), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"Type=notify", "DynamicUser=yes", "StateDirectory=herd", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
}
