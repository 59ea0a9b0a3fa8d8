//go:build linux && integration

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A broker is a redis-server or nats-server this test runs itself, on a
// free port with its own data directory, so that it may stop, pause and
// restart it without touching the machine's shared servers.
type broker struct {
	t    *testing.T
	kind string // "redis" or "nats"
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	// argv and ready, when set, are the command and the line it logs once
	// it serves, for a broker in one of ha_test.go's setups.
	argv  []string
	ready string
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBroker starts a private broker of kind.
func startBroker(t *testing.T, kind string) *broker {
	b := &broker{t: t, kind: kind, port: freePort(t), dir: t.TempDir()}
	b.start()
	t.Cleanup(func() { b.kill() })
	return b
}

func (b *broker) URL() string {
	if b.kind == "redis" {
		return fmt.Sprintf("redis://127.0.0.1:%d/0", b.port)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", b.port)
}

func (b *broker) start() {
	b.t.Helper()
	port := strconv.Itoa(b.port)
	ready := b.ready // the line the broker logs once it listens
	switch {
	case b.argv != nil:
		b.cmd = exec.Command(b.argv[0], b.argv[1:]...)
		b.cmd.Dir = b.dir
	case b.kind == "redis":
		// Every acknowledged write is on disk before Redis answers, so a
		// restart loses nothing herd acknowledged.
		b.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", b.dir,
			"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no")
		ready = "Ready to accept connections"
	case b.kind == "nats":
		b.cmd = exec.Command("nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd", filepath.Join(b.dir, "js"))
		ready = "Server is ready"
	}
	// Waiting for the broker's own word, not for the port to answer: the
	// port was free when chosen, but something else may have taken it
	// since, and a test talking to the wrong server proves nothing.
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	b.cmd.Stderr = b.cmd.Stdout
	if err := b.cmd.Start(); err != nil {
		if os.Getenv("CI") != "" {
			b.t.Fatalf("cannot start %s: %v", b.kind, err)
		}
		b.t.Skipf("cannot start %s: %v", b.kind, err)
	}
	b.done = make(chan struct{})
	up := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		announced := false
		for sc.Scan() {
			if log.Len() < 1<<16 {
				log.WriteString(sc.Text() + "\n")
			}
			if !announced && strings.Contains(sc.Text(), ready) {
				close(up)
				announced = true
			}
		}
		b.cmd.Wait()
		close(b.done)
	}()
	select {
	case <-up:
	case <-b.done:
		b.t.Fatalf("%s on port %s exited before it was ready:\n%s", b.kind, port, log.String())
	case <-time.After(30 * time.Second):
		b.t.Fatalf("%s did not get ready on port %s", b.kind, port)
	}
}

// stop shuts the broker down cleanly (SIGTERM) and waits for it.
func (b *broker) stop() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		b.t.Fatalf("%s did not stop", b.kind)
	}
}

// restart starts it again on the same port and data.
func (b *broker) restart() { b.start() }

// pause and resume freeze and thaw it, like a network partition: clients
// see nothing, not even a closed connection.
func (b *broker) pause() {
	b.cmd.Process.Signal(syscall.SIGSTOP)
	// A signal is delivered when the kernel next schedules the process:
	// wait until it reports the broker stopped, or a request sent at once
	// may still be answered (CI saw a publish acknowledged "during" a pause).
	stat := fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if data, err := os.ReadFile(stat); err != nil || stoppedState(string(data)) {
			return
		}
	}
	b.t.Fatalf("%s did not stop on SIGSTOP", b.kind)
}

// stoppedState reports whether a /proc/PID/stat line says the process is
// stopped (state T): the state follows the command name in parentheses.
func stoppedState(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'T'
}

func (b *broker) resume() { b.cmd.Process.Signal(syscall.SIGCONT) }

func (b *broker) kill() {
	select {
	case <-b.done:
	default:
		b.cmd.Process.Signal(syscall.SIGCONT)
		b.cmd.Process.Kill()
		<-b.done
	}
}
