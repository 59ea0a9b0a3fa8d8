package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// startServe runs herd serve in-process on a free port and returns its
// base URL and a function that stops it and returns its exit status.
func startServe(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), IO{Stdout: pw, Stderr: io.Discard})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(strings.TrimPrefix(line, "herd listening on "))
	stop := func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("herd serve did not stop within 30s")
			return -1
		}
	}
	return base, stop
}

func TestServe(t *testing.T) {
	base, stop := startServe(t)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	for _, path := range []string{"/demo/cowsay", "/static/vendor/htmx2/htmx.min.js", "/static/vendor/htmx4/hx-sse.min.js"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}

	// A stream open at shutdown ends cleanly, after what it was sent.
	resp, err = http.Get(base + "/demo/cowsay/events?interval=50ms")
	if err != nil {
		t.Fatal(err)
	}
	r := sse.NewReader(resp.Body)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit %d after interrupt", code)
	}
	for _, err := range r.Events() {
		if err != nil {
			t.Errorf("stream ended with %v, want a clean end", err)
		}
	}
	resp.Body.Close()
}

func TestServe_badAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--addr", ln.Addr().String()}, 1, "cannot listen on " + ln.Addr().String()},
		{[]string{"serve", "--addr", "nonsense"}, 1, "cannot listen on nonsense"},
		{[]string{"serve", "extra"}, 2, "serve takes no arguments"},
		{[]string{"--addr"}, 2, "flag needs an argument"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, _, errOut := runCLI(t, t.Context(), map[string]string{"HERD_ADDR": ln.Addr().String()})
	if code != 1 || !strings.Contains(errOut, "cannot listen") {
		t.Errorf("HERD_ADDR in use: exit %d, %q", code, errOut)
	}
}
