//go:build linux && integration

package e2e

import (
	"bufio"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C says at once what the drain is doing, and a second Ctrl-C ends
// herd without waiting for it. The window is a day, so the open stream
// cannot end by itself before the second signal.
func TestStop_secondInterrupt(t *testing.T) {
	h := startHerd(t, "--store", "memory", "--shutdown-window", "24h")
	resp, err := http.Get(h.URL + "/events?topic=a")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil { // the stream is open
		t.Fatal(err)
	}
	if err := h.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	want := "herd: stopping: ending 1 open streams over 24h0m0s so that clients resume elsewhere (Ctrl-C again to stop at once)"
	for !strings.Contains(h.stderr.String(), want) {
		select {
		case <-h.exited:
			t.Fatalf("herd exited before the second Ctrl-C (%v); stderr:\n%s", h.err, h.stderr)
		default:
		}
		time.Sleep(10 * time.Millisecond) // polling; the test's own timeout bounds it
	}
	if err := h.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	var exit *exec.ExitError
	if !errors.As(h.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Errorf("after a second Ctrl-C herd ended with %v, want killed by SIGINT; stderr:\n%s", h.err, h.stderr)
	}
}
