package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// startServe runs herd serve in-process on a free port and returns its
// base URL and a function that stops it and returns its exit status.
func startServe(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	return startServeReload(t, nil, args...)
}

// startServeReload is startServe with a channel standing in for SIGHUP.
func startServeReload(t *testing.T, reload <-chan struct{}, args ...string) (string, func() int) {
	t.Helper()
	return startServeWith(t, reload, io.Discard, args...)
}

// startServeWith is startServeReload with the log written to stderr.
func startServeWith(t *testing.T, reload <-chan struct{}, stderr io.Writer, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	if !slices.Contains(args, "--store") {
		args = append(args, "--store", "memory")
	}
	go func() {
		done <- Main(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), IO{Stdout: pw, Stderr: stderr, Reload: reload})
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
		{[]string{"serve", "--store", "memory", "--addr", ln.Addr().String()}, 1, "cannot listen on " + ln.Addr().String()},
		{[]string{"serve", "--addr", "nonsense"}, 2, "missing port in address"},
		{[]string{"serve", "extra"}, 2, "serve takes no arguments"},
		{[]string{"--addr"}, 2, "--addr needs a value"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, _, errOut := runCLI(t, t.Context(), map[string]string{"HERD_ADDR": ln.Addr().String(), "HERD_STORE": "memory"})
	if code != 1 || !strings.Contains(errOut, "cannot listen") {
		t.Errorf("HERD_ADDR in use: exit %d, %q", code, errOut)
	}
}

func TestServe_flagErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"--store", "postgres://x"}, nil, 2, `unknown store "postgres://x": use bolt:PATH, memory, redis://HOST:PORT/DB or nats://HOST:PORT`},
		{[]string{"--store", "redis://"}, nil, 2, "want redis://HOST:PORT"},
		{[]string{"--store", "nats:"}, nil, 2, "want nats://HOST:PORT"},
		{[]string{"--store", "nats://127.0.0.1:1,127.0.0.1:2?replicas=2"}, nil, 2, "replicas=2: use 1, 3 or 5"},
		{[]string{"--store", "nats://127.0.0.1:1?replica=3"}, nil, 2, `unknown URL parameter "replica"`},
		{[]string{"--store", "redis+sentinel://:pw@127.0.0.1:1/0"}, nil, 2, "needs master_name=NAME"},
		{[]string{"--store", "redis+cluster://127.0.0.1:1/2"}, nil, 2, "database 0 only"},
		{[]string{"--store", "redis://127.0.0.1:1/0?wait_replicas=two"}, nil, 2, "wait_replicas=two"},
		{[]string{"--store", "redis+sentinel://127.0.0.1:1/0?master_name=m"}, nil, 1, "store redis+sentinel://127.0.0.1:1/0?master_name=m: redis:"},
		{[]string{"--store", "redis://127.0.0.1:1/0"}, nil, 1, "store redis://127.0.0.1:1/0: redis:"},
		{[]string{"--store", "nats://127.0.0.1:1"}, nil, 1, "store nats://127.0.0.1:1: nats:"},
		{[]string{"--store", "bolt:"}, nil, 2, "needs a file path"},
		{[]string{"--store", "bolt:" + dir + "/no/such/dir/herd.db"}, nil, 1, "store bolt:"},
		{[]string{"--store", "bolt:" + dir}, nil, 1, "store bolt:"}, // a directory, not a file
		{[]string{"--history-max-events", "0"}, nil, 2, "--history-max-events must be positive"},
		{[]string{"--history-max-age", "0s"}, nil, 2, "--history-max-age must be positive"},
		{[]string{"--heartbeat", "-1s"}, nil, 2, "must be positive"},
		{[]string{"--heartbeat", "1ns"}, nil, 2, "--heartbeat must be at least 10ms"},
		{[]string{"--write-timeout", "5ms"}, nil, 2, "--write-timeout must be at least 10ms"},
		{[]string{"--retry", "600h"}, nil, 2, "--retry must be at most"},
		{[]string{"--allowed-hosts", "http://hub.test"}, nil, 2, "want a host name"},
		{[]string{"--max-event-size", "lots"}, nil, 2, "want a size like 65536, 64KiB or 1MiB"},
		{[]string{"--max-event-size", "2MiB"}, nil, 2, "must not exceed --queue-bytes"},
		{[]string{"--queue-length", "0"}, nil, 2, "must be positive"},
		{[]string{"--close-event", "bad name\n"}, nil, 2, "--close-event"},
		{[]string{"--close-event", "gap"}, nil, 2, "is taken"},
		{[]string{"--log-level", "loud"}, nil, 2, "--log-level must be"},
		{[]string{"--log-format", "xml"}, nil, 2, "--log-format must be"},
		{[]string{"--demo=maybe"}, nil, 2, `--demo "maybe": want true or false`},
		{[]string{"--max-subscribers", "-1"}, nil, 2, "must not be negative"},
		{[]string{"--max-subscribers-per-ip", "-5"}, nil, 2, "must not be negative"},
		{[]string{"--publish-rate", "-1"}, nil, 2, "--publish-rate must be a non-negative number"},
		{[]string{"--publish-rate", "NaN"}, nil, 2, "--publish-rate must be a non-negative number"},
		{[]string{"--publish-burst", "-1"}, nil, 2, "must not be negative"},
		{[]string{"--cors-origins", "app.example.com"}, nil, 2, "want scheme://host[:port]"},
		{nil, map[string]string{"HERD_PUBLISH_RATE": "fast"}, 2, `HERD_PUBLISH_RATE="fast"`},
		{nil, map[string]string{"HERD_QUEUE_LENGTH": "many"}, 2, `HERD_QUEUE_LENGTH="many"`},
		{nil, map[string]string{"HERD_STORE": "s3://bucket"}, 2, "unknown store"},
	}
	for _, tc := range tests {
		args := append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...)
		// A case the hub accepted would serve until stopped: stop it soon.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		code, _, errOut := runCLI(t, ctx, tc.env, args...)
		cancel()
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q %v: exit %d, stderr %q; want %d with %q", tc.args, tc.env, code, errOut, tc.code, tc.want)
		}
	}
	// A password in a store URL stays out of errors, whether or not the
	// URL parses, from serve and check alike.
	for _, store := range []string{"redis://:hunter2@127.0.0.1:1/0", "redis://u:hunter2@127.0.0.1:port:x/0",
		"redis://u:hun ter2@h/0", "nats://hunter2@127.0.0.1:1", "nats://u:hunter2@[::1", "rediss+x://u:hunter2@h"} {
		for _, cmd := range []string{"serve", "check"} {
			code, out, errOut := runCLI(t, t.Context(), nil, cmd, "--addr", "127.0.0.1:0", "--store", store)
			if code == 0 && cmd == "check" {
				errOut = out // check accepted it: what it prints must be clean too
			}
			if (code == 0 && cmd == "serve") || strings.Contains(out+errOut, "hunter2") || strings.Contains(out+errOut, "ter2") ||
				!strings.Contains(errOut, "xxxxx") {
				t.Errorf("%s --store %s: exit %d, stdout %q stderr %q: want the password redacted", cmd, store, code, out, errOut)
			}
		}
	}
	code, _, errOut := runCLI(t, t.Context(), map[string]string{"HERD_STORE": "redis://u:hunter2@h:p:q/"}, "serve", "--addr", "127.0.0.1:0")
	if code == 0 || strings.Contains(errOut, "hunter2") {
		t.Errorf("HERD_STORE: exit %d, %q", code, errOut)
	}
}

// TestServe_hub runs herd serve on a bolt file and uses it through herd pub
// and herd sub: publish, subscribe, resume, close.
func TestServe_hub(t *testing.T) {
	dbPath := t.TempDir() + "/herd.db"
	base, stop := startServeStore(t, "bolt:"+dbPath)
	defer stop()

	var ids []string
	for _, data := range []string{"one", "two"} {
		code, out, errOut := runCLI(t, t.Context(), map[string]string{"HERD_HUB": base}, "pub", "news", data)
		if code != 0 {
			t.Fatalf("pub: exit %d %s", code, errOut)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	// Data from stdin, an event type, a second topic.
	var out bytes.Buffer
	code := Main(t.Context(), []string{"pub", "--hub", base, "--event", "note", "--topic", "sport", "news", "-"},
		IO{Stdin: strings.NewReader("from stdin\nsecond line"), Stdout: &out, Stderr: io.Discard})
	if code != 0 {
		t.Fatalf("pub from stdin: exit %d", code)
	}
	// Close the topic without data.
	if code, _, errOut := runCLI(t, t.Context(), nil, "pub", "--hub", base, "--close", "news"); code != 0 {
		t.Fatalf("pub --close: exit %d %s", code, errOut)
	}
	// A resuming subscriber gets what followed, then the close: exit 0.
	code, got, errOut := runCLI(t, t.Context(), nil, "sub", "--hub", base, "--json", "--last-event-id", ids[0], "news")
	if code != 0 {
		t.Fatalf("sub: exit %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"data":"two"`) || !strings.Contains(lines[1], `"event":"note","data":"from stdin\nsecond line"`) ||
		!strings.Contains(lines[2], `"event":"close"`) {
		t.Errorf("sub --json:\n%s", got)
	}
	// The hub's errors reach the user as one line, exit 1.
	code, _, errOut = runCLI(t, t.Context(), nil, "pub", "--hub", base, "a/*", "x")
	if code != 1 || !strings.Contains(errOut, "400 Bad Request: topic \"a/*\": wildcards are for subscribing") {
		t.Errorf("pub to a wildcard: exit %d, %q", code, errOut)
	}
	// Resuming at the close: 204, exit 0 at once.
	if code, _, _ := runCLI(t, t.Context(), nil, "sub", "--hub", base, "--last-event-id", "earliest", "news"); code != 0 {
		t.Errorf("sub of a closed topic: exit %d", code)
	}
}

func startServeStore(t *testing.T, store string) (string, func() int) {
	base, stop := startServe(t, "--store", store)
	return base, stop
}

func TestPub_usage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pub"}, "pub takes a topic"},
		{[]string{"pub", "a", "b", "c"}, "pub takes a topic"},
		{[]string{"pub", "--hub", "localhost:8080", "a", "x"}, "bad hub URL"},
		{[]string{"pub", "--attempts", "0", "a", "x"}, "--attempts must be at least 1"},
		{[]string{"pub", "--retry-hint", "-1s", "a", "x"}, "--retry-hint must not be negative"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestPub_unreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	code, _, errOut := runCLI(t, t.Context(), nil, "pub", "--attempts", "2", "--hub", "http://"+addr, "a", "x")
	if code != 1 || !strings.Contains(errOut, "cannot reach the hub") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestServe_debugAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base, stop := startServe(t, "--debug-addr", addr)
	defer stop()
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http://" + addr + "/debug/pprof/heap?debug=1"); code != 200 {
		t.Errorf("profiler: %d", code)
	}
	if code := get(base + "/debug/pprof/"); code != 404 {
		t.Errorf("the public address serves the profiler: %d, want 404", code)
	}

	// Errors: a malformed address is a usage error; a taken one fails.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		addr string
		code int
		want string
	}{
		{"6060", 2, `--debug-addr "6060": address 6060: missing port in address`},
		{taken.Addr().String(), 1, "--debug-addr: cannot listen on " + taken.Addr().String()},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, "serve", "--store", "memory", "--addr", "127.0.0.1:0", "--debug-addr", tc.addr)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("--debug-addr %s: exit %d, %q; want %d with %q", tc.addr, code, errOut, tc.code, tc.want)
		}
	}
}

// TestServe_systemdNotify: under systemd (NOTIFY_SOCKET), herd serve says
// when it is ready, when it reloads on SIGHUP, and when it stops.
func TestServe_systemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	messages := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(messages)
				return
			}
			messages <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		select {
		case m := <-messages:
			if !strings.HasPrefix(m, want) {
				t.Errorf("systemd was told %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("systemd was not told %q", want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory"}, IO{Stdout: io.Discard, Stderr: io.Discard,
			Reload: reload, Getenv: func(k string) string {
				if k == "NOTIFY_SOCKET" {
					return sock
				}
				return ""
			}})
	}()
	next("READY=1\nSTATUS=serving on http://127.0.0.1:")
	reload <- struct{}{}
	next("RELOADING=1")
	next("READY=1")
	cancel()
	next("STOPPING=1")
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestHealth: herd health exits 0 when the hub is ready, 1 with its
// reason when it is not or cannot be reached.
func TestHealth(t *testing.T) {
	base, stop := startServe(t)
	defer stop()
	code, out, errOut := runCLI(t, t.Context(), map[string]string{"HERD_HUB": base}, "health")
	if code != 0 || out != "ready\n" {
		t.Errorf("ready hub: exit %d %q %q", code, out, errOut)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if code, out, _ := runCLI(t, t.Context(), map[string]string{"HERD_ADDR": ":" + port}, "health"); code != 0 || out != "ready\n" {
		t.Errorf("hub found from HERD_ADDR: exit %d %q", code, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"health", "--hub", closed}, 1, "hub not reachable"},
		{[]string{"health", "--hub", "ftp://x"}, 2, "bad hub URL"},
		{[]string{"health", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{[]string{"health", "extra"}, 2, "takes no arguments"},
	} {
		if code, _, errOut := runCLI(t, t.Context(), nil, tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d %q, want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if got := localHub(""); got != "http://localhost:8080" {
		t.Errorf("localHub(\"\") = %q", got)
	}
}
