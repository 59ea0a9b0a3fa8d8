package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// herd pub with no data on a terminal says what it needs rather than
// waiting for input nobody knows to type.
func TestPub_terminalStdin(t *testing.T) {
	t.Parallel()
	tty := openTerminal(t)
	var stderr strings.Builder
	code := Main(t.Context(), []string{"pub", "news"}, IO{Stdin: tty, Stdout: io.Discard, Stderr: &stderr})
	if code != 2 || !strings.HasPrefix(stderr.String(), "herd: pub needs the data: give it after the topic, or pipe it in (stdin is a terminal)\nTry: herd pub news \"hello\"") {
		t.Errorf("terminal: exit %d, stderr %q", code, stderr.String())
	}
}

// openTerminal opens a pseudo-terminal and returns its terminal end, as
// the stdin of a command typed at a shell.
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
