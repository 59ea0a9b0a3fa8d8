//go:build linux && integration

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// fullDisk mounts a tmpfs of size bytes on a new directory and returns
// the directory; it is unmounted when the test ends (after the herds it
// holds are killed: cleanups run in reverse). It needs root.
func fullDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		lacking(t, "cannot mount a tmpfs (needs root)", fmt.Sprintf("run the test as root: %v %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system has no space left.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// ready asks base's /readyz and returns its status and error message.
func ready(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestReadyDiskFull: on a file system that is really full (a tmpfs, to
// ENOSPC), a bolt hub's publishes fail with 503 and /readyz answers 503,
// naming the cause, for as long as the disk stays full (asked again and
// again: it checks a real write each time); once space returns, /readyz
// and publishes recover without a restart.
func TestReadyDiskFull(t *testing.T) {
	dir := fullDisk(t, 8<<20)
	h := startHerd(t, "--store", "bolt:"+filepath.Join(dir, "herd.db"))
	mustPublish(t, h.URL, map[string]any{"topic": "disk", "data": "before"})
	if code, msg := ready(t, h.URL); code != 200 {
		t.Fatalf("/readyz with space: %d %q", code, msg)
	}

	filler := fill(t, dir)
	big := strings.Repeat("x", 200<<10)
	var failure error
	for i := 0; i < 100 && failure == nil; i++ { // the file's free pages take a few
		_, failure = publish(t.Context(), h.URL, map[string]any{"topic": "disk", "data": big})
	}
	if failure == nil || !strings.Contains(failure.Error(), "503") {
		t.Fatalf("publishing 100 events of 200 KiB to a full disk: %v, want 503", failure)
	}
	for range 3 {
		code, msg := ready(t, h.URL)
		if code != 503 || !strings.Contains(msg, "no space left on device") {
			t.Fatalf("/readyz while the disk is full: %d %q, want 503 naming ENOSPC", code, msg)
		}
	}
	if _, err := publish(t.Context(), h.URL, map[string]any{"topic": "disk", "data": big}); err == nil {
		t.Fatal("a publish to the full disk succeeded after /readyz checked a write")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, msg := ready(t, h.URL); code != 200 {
		t.Fatalf("/readyz once space returned: %d %q, want 200", code, msg)
	}
	mustPublish(t, h.URL, map[string]any{"topic": "disk", "data": big})
	if code, msg := ready(t, h.URL); code != 200 {
		t.Fatalf("/readyz after a publish succeeded: %d %q", code, msg)
	}
}

// TestReadyRedisRefusingWrites: on a Redis that refuses writes (over its
// maxmemory, as a full instance is), publishes fail with 503 and /readyz
// answers 503 with Redis's refusal, asked again and again (it tries a real
// write each time), though Redis still answers PING; once Redis takes
// writes again, /readyz and publishes recover without a publish or a
// restart.
func TestReadyRedisRefusingWrites(t *testing.T) {
	b := startBroker(t, "redis")
	h := startHerd(t, "--store", b.URL()+"?prefix=ready")
	mustPublish(t, h.URL, map[string]any{"topic": "r", "data": "before"})
	opts, err := goredis.ParseURL(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	admin := goredis.NewClient(opts)
	defer admin.Close()
	if err := admin.ConfigSet(t.Context(), "maxmemory", "1").Err(); err != nil { // below what Redis uses already
		t.Fatal(err)
	}
	if _, err := publish(t.Context(), h.URL, map[string]any{"topic": "r", "data": "refused"}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("publish to a Redis over maxmemory: %v, want 503", err)
	}
	for range 3 {
		if code, msg := ready(t, h.URL); code != 503 || !strings.Contains(msg, "OOM") {
			t.Fatalf("/readyz while Redis refuses writes: %d %q, want 503 with Redis's OOM refusal", code, msg)
		}
	}
	if err := admin.ConfigSet(t.Context(), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if code, msg := ready(t, h.URL); code != 200 {
		t.Fatalf("/readyz once Redis takes writes: %d %q", code, msg)
	}
	mustPublish(t, h.URL, map[string]any{"topic": "r", "data": "after"})
}
