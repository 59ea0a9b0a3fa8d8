package cli

import (
	"net"
	"strings"
	"testing"
)

// --hub-cmd starts the hub --hub names, and knows its PID.
func TestBench_hubCmdNeedsHubAndNoPID(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"bench", "--hub-cmd", "my-hub", "persub"},
		{"bench", "--hub", "http://127.0.0.1:1", "--hub-pid", "42", "--hub-cmd", "my-hub", "persub"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, args...)
		if code != 2 || !strings.Contains(errOut, "--hub-cmd starts the hub that --hub names") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and the --hub-cmd hint", args, code, errOut)
		}
	}
}

// A port that accepts before the command ran belongs to another process:
// bench would measure the wrong one.
func TestStartCommand_refusesAPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := startCommand(t.Context(), "sleep 30", "http://"+ln.Addr().String())
	if err == nil {
		p.stop()
		t.Fatal("started a hub on a port another process holds")
	}
	if !strings.Contains(err.Error(), "already accepts connections") {
		t.Errorf("error %q does not say the port is taken", err)
	}
}
