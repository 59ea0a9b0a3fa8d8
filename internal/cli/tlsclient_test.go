package cli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// After herd serve --tls self-signed, herd's own clients trust the hub
// with --ca (the file serve prints) or, towards this machine, --insecure;
// without either they stop at once, saying so.
func TestTLS_herdClients(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory", "--tls", "self-signed"}, IO{Stdout: pw, Stderr: io.Discard})
		pw.Close()
	}()
	lines := bufio.NewReader(pr)
	first, _ := lines.ReadString('\n')
	second, _ := lines.ReadString('\n')
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(strings.TrimPrefix(first, "herd listening on "))
	path, _, ok := strings.Cut(strings.TrimPrefix(second, "self-signed certificate: "), " ")
	if !strings.HasPrefix(base, "https://127.0.0.1:") || !ok || !filepath.IsAbs(path) {
		t.Fatalf("startup lines %q, %q", first, second)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stop()
	topic := "tls-" + randomKey()[:8]

	code, _, errOut := runCLI(t, t.Context(), nil, "pub", "--hub", base, "--attempts", "1", topic, "refused")
	if code != 1 || !strings.Contains(errOut, "--ca FILE") || !strings.Contains(errOut, "--insecure") {
		t.Errorf("pub without --ca: exit %d, %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, t.Context(), nil, "pub", "--hub", base, "--ca", path, topic, "one"); code != 0 || out == "" {
		t.Errorf("pub --ca: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, t.Context(), nil, "pub", "--hub", base, "--insecure", "--close", topic, "two"); code != 0 {
		t.Errorf("pub --insecure: exit %d, %q", code, errOut)
	}
	ctxSub, cancelSub := context.WithTimeout(t.Context(), time.Minute)
	defer cancelSub()
	code, _, errOut = runCLI(t, ctxSub, nil, "sub", "--hub", base, "--retry", "1ms", "--last-event-id", "earliest", topic)
	if code != 1 || !strings.Contains(errOut, "--ca FILE") || strings.Contains(errOut, "reconnecting") {
		t.Errorf("sub without --ca: exit %d, %q (want a stop with the hint, not reconnections)", code, errOut)
	}
	if code, out, errOut := runCLI(t, ctxSub, nil, "sub", "--hub", base, "--ca", path, "--last-event-id", "earliest", topic); code != 0 || out != "one\ntwo\n" {
		t.Errorf("sub --ca: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, t.Context(), nil, "health", "--hub", base, "--ca", path); code != 0 {
		t.Errorf("health --ca: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, t.Context(), nil, "health", "--hub", base); code != 1 || !strings.Contains(errOut, "--ca FILE") {
		t.Errorf("health without --ca: exit %d, %q", code, errOut)
	}
	stop()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the certificate file outlived the hub: %v", err)
	}
}

func TestTLS_flagErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pub", "--hub", "https://hub.example.com", "--insecure", "news", "x"}, "--insecure is for a hub on this machine"},
		{[]string{"sub", "--hub", "https://192.0.2.1", "--insecure", "news"}, "--insecure is for a hub on this machine"},
		{[]string{"pub", "--hub", "https://localhost", "--insecure", "--ca", notPEM, "news", "x"}, "choose one"},
		{[]string{"pub", "--hub", "https://localhost", "--ca", notPEM, "news", "x"}, "no PEM certificate"},
		{[]string{"health", "--hub", "https://localhost", "--ca", notPEM + ".missing"}, "no such file"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
