package cli

import (
	"bufio"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The first ten minutes: what a newcomer meets when they get something
// wrong. Each error is one line, says what is wrong, and says what to do.

func TestFlagErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"--tsl"}, "herd: unknown flag --tsl; did you mean --tls?\nTry: herd serve -h\n"},
		{[]string{"serve", "--hearbeat", "5s"}, "herd: unknown flag --hearbeat; did you mean --heartbeat?\nTry: herd serve -h\n"},
		{[]string{"--max-event", "1KiB"}, "herd: unknown flag --max-event; did you mean --max-event-size?\nTry: herd serve -h\n"},
		{[]string{"--frobnicate"}, "herd: unknown flag --frobnicate\nTry: herd serve -h\n"},
		{[]string{"--port", "8080"}, "herd: unknown flag --port; herd has --addr instead: --addr :PORT (or HOST:PORT), like :8080\nTry: herd serve -h\n"},
		{[]string{"--db", "x.db"}, "herd: unknown flag --db; herd has --store instead: --store bolt:PATH, like bolt:herd.db\nTry: herd serve -h\n"},
		{[]string{"--heartbeat", "5"}, "herd: --heartbeat \"5\": want a duration, like 30s, 1m30s or 250ms\nTry: herd serve -h\n"},
		{[]string{"--heartbeat"}, "herd: --heartbeat needs a value: want a duration, like 30s, 1m30s or 250ms\nTry: herd serve -h\n"},
		{[]string{"--queue-length", "lots"}, "herd: --queue-length \"lots\": want a whole number\nTry: herd serve -h\n"},
		{[]string{"--publish-rate", "x"}, "herd: --publish-rate \"x\": want a number, like 10 or 0.5\nTry: herd serve -h\n"},
		{[]string{"--jwt-key", "x", "--bogus"}, "herd: unknown flag --bogus\nTry: herd serve -h\n"},
		{[]string{"pub", "--evnt", "t", "news", "x"}, "herd: unknown flag --evnt; did you mean --event?\nTry: herd pub -h\n"},
		{[]string{"sub", "--last-id", "3", "news"}, "herd: unknown flag --last-id; did you mean --last-event-id?\nTry: herd sub -h\n"},
		{[]string{"sbu", "news"}, "herd: unknown command \"sbu\"; did you mean herd sub?\nTry: herd help\n"},
		{[]string{"publish", "news"}, "herd: unknown command \"publish\"; did you mean herd pub?\nTry: herd help\n"},
		{[]string{"xyzzy"}, "herd: unknown command \"xyzzy\" (commands: serve, pub, sub, reopen, bench, check, token, health, version)\nTry: herd help\n"},
		{[]string{"help", "pubb"}, "herd: unknown command \"pubb\"; did you mean herd pub?\nTry: herd help\n"},
	}
	for _, tc := range tests {
		code, out, errOut := runCLI(t, t.Context(), nil, tc.args...)
		if code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and:\n%s", tc.args, code, out, errOut, tc.want)
		}
	}
}

// Help goes to stdout when asked for (herd serve -h | grep tls), for every
// command in both forms, and lists every flag exactly once.
func TestHelp_everyCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		if c.summary == "" {
			continue
		}
		code, out, errOut := runCLI(t, t.Context(), nil, c.name, "-h")
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: herd "+c.name+" ") {
			t.Errorf("herd %s -h: exit %d, stderr %q, stdout %.80q", c.name, code, errOut, out)
			continue
		}
		if _, again, _ := runCLI(t, t.Context(), nil, "help", c.name); again != out {
			t.Errorf("herd help %s differs from herd %s -h", c.name, c.name)
		}
	}
	// herd serve's flags are listed by group: each exactly once.
	_, out, _ := runCLI(t, t.Context(), nil, "serve", "-h")
	fs, _, _ := newServeFlagSet("serve", serveSynopsis, IO{})
	fs.VisitAll(func(f *flag.Flag) {
		if n := strings.Count(out, "\n  --"+f.Name+" ") + strings.Count(out, "\n  --"+f.Name+"\n"); n != 1 {
			t.Errorf("herd serve -h lists --%s %d times", f.Name, n)
		}
	})
	if strings.Contains(out, "Other flags") {
		t.Errorf("herd serve -h has flags in no group:\n%s", out[strings.Index(out, "Other flags"):])
	}
	for _, want := range []string{"--tls-cert FILE", "--addr HOST:PORT", "(default \"localhost:8080\")", "HERD_MAX_EVENT_SIZE", "\nTokens:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("herd serve -h lacks %q", want)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, out, errOut := runCLI(t, t.Context(), nil, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "herd help COMMAND") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// herd sub says what the hub said, and what to do about it.
func TestSub_hubRefusals(t *testing.T) {
	open, stopOpen := startServe(t)
	defer stopOpen()
	want := "herd: the hub answered 400 Bad Request: selector \"orders/**/x\": ** may only be the last segment\n"
	if code, _, errOut := runCLI(t, t.Context(), map[string]string{"HERD_HUB": open}, "sub", "orders/**/x"); code != 1 || errOut != want {
		t.Errorf("bad selector: exit %d, stderr %q; want %q", code, errOut, want)
	}

	const key = "0123456789abcdef0123456789abcdef"
	base, stop := startServe(t, "--jwt-key", key, "--subscribe-auth")
	defer stop()
	env := map[string]string{"HERD_HUB": base}
	mint := func(args ...string) string {
		_, token, _ := runCLI(t, t.Context(), nil, append([]string{"token", "--key", key}, args...)...)
		return strings.TrimSpace(token)
	}
	token := mint("--subscribe", "orders/*")
	tests := []struct {
		args       []string
		want, hint string
	}{
		{[]string{"sub", "orders/1"}, "herd: the hub answered 401 Unauthorized: subscribing needs a token", "Try: give a token granting the topics: herd sub --key TOKEN"},
		{[]string{"sub", "--key", token, "stock/1"}, "herd: the hub answered 403 Forbidden: ", "Try: the credential does not grant these topics"},
		{[]string{"sub", "--key", "not-a-token", "orders/1"}, "herd: the hub answered 401 Unauthorized: ", "Try: give a token"},
	}
	for _, tc := range tests {
		code, _, errOut := runCLI(t, t.Context(), env, tc.args...)
		if code != 1 || !strings.HasPrefix(errOut, tc.want) || !strings.Contains(errOut, tc.hint) || strings.Count(errOut, "\n") > 2 {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit 1, %q and %q", tc.args, code, errOut, tc.want, tc.hint)
		}
	}
	// The token, by flag or by HERD_SUBSCRIBE_KEY, lets the subscription
	// in: it replays the topic and ends at its close.
	if code, _, errOut := runCLI(t, t.Context(), map[string]string{"HERD_HUB": base}, "pub", "--key", mint("--publish", "orders/*"), "--close", "orders/1", "shipped"); code != 0 {
		t.Fatalf("pub: exit %d %s", code, errOut)
	}
	for _, env := range []map[string]string{{"HERD_HUB": base, "HERD_SUBSCRIBE_KEY": token}, {"HERD_HUB": base, "HERD_KEY_FLAG": token}} {
		args := []string{"sub", "--last-event-id", "earliest", "orders/1"}
		if env["HERD_KEY_FLAG"] != "" {
			args = append(args, "--key", token)
		}
		code, out, errOut := runCLI(t, t.Context(), env, args...)
		if code != 0 || out != "shipped\n" {
			t.Errorf("%q with %v: exit %d, stdout %q, stderr %q", args, env, code, out, errOut)
		}
	}
}

// HERD_SUBSCRIBE_KEY goes to the hub only, never to a URL being followed.
func TestSub_keyStaysWithTheHub(t *testing.T) {
	t.Parallel()
	s := newScripted(t, stream("data: x\n\n"))
	code, _, errOut := runCLI(t, t.Context(), map[string]string{"HERD_SUBSCRIBE_KEY": "secret-token"}, "sub", "--once", s.srv.URL)
	if code != 0 || s.request(0).Header.Get("Authorization") != "" {
		t.Errorf("exit %d (%s), Authorization %q sent to a URL", code, errOut, s.request(0).Header.Get("Authorization"))
	}
}

// herd pub refuses to wait on a terminal, or to publish an empty stdin.
func TestPub_noData(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, t.Context(), nil, "pub", "news")
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "herd: stdin was empty: nothing to publish\nTry: herd pub news ''") {
		t.Errorf("empty stdin: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, t.Context(), nil, "pub", "news", "-")
	if code != 2 || !strings.Contains(errOut, "stdin was empty") {
		t.Errorf("empty stdin with -: exit %d, stderr %q", code, errOut)
	}
}

// A refusal by one of the hub's limits names the flag that sets it.
func TestPub_limitsNameTheirFlags(t *testing.T) {
	base, stop := startServe(t, "--max-event-size", "1KiB", "--max-topics", "2")
	defer stop()
	env := map[string]string{"HERD_HUB": base}
	big := strings.Repeat("x", 2000)
	for _, tc := range []struct {
		args       []string
		want, hint string
	}{
		{[]string{"pub", "news", big}, "herd: the hub answered 413 Request Entity Too Large: data is 2000 bytes, more than the 1024 allowed (the hub's --max-event-size)",
			"Try: send less data, or raise the hub's --max-event-size"},
		{[]string{"pub", "--topic", "b", "--topic", "c", "a", "x"}, "herd: the hub answered 400 Bad Request: too many topics: 3, at most 2 per publish (the hub's --max-topics)", ""},
		{[]string{"pub", "--close", "done"}, "", ""},
		{[]string{"pub", "done", "again"}, "herd: the hub answered 409 Conflict: topic \"done\" is closed: a closed topic takes no more events (publish to a new topic, or reopen this one: herd reopen done)\n", ""},
	} {
		code, _, errOut := runCLI(t, t.Context(), env, tc.args...)
		if tc.want == "" {
			if code != 0 {
				t.Errorf("%.40q: exit %d, %s", tc.args, code, errOut)
			}
			continue
		}
		// The hub's own words come first; a hint follows only where it adds.
		if code != 1 || !strings.HasPrefix(errOut, tc.want) || !strings.Contains(errOut, tc.hint) || (tc.hint == "") == strings.Contains(errOut, "Try:") {
			t.Errorf("%.60q: exit %d, stderr:\n%s\nwant %q and %q", tc.args, code, errOut, tc.want, tc.hint)
		}
	}
}

// A start that cannot listen says so, and leaves no store file behind.
func TestServe_portInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db := filepath.Join(t.TempDir(), "herd.db")
	code, _, errOut := runCLI(t, t.Context(), nil, "--addr", ln.Addr().String(), "--store", "bolt:"+db)
	want := "herd: cannot listen on " + ln.Addr().String() + ": the port is in use (another herd?)\nTry: stop the other program (a herd you just stopped may still be ending its streams, for up to --shutdown-window: wait for it to exit), or choose another port: herd --addr localhost:8081\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q; want %q", code, errOut, want)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a failed start left %s behind (%v)", db, err)
	}
}

// herd serve --demo prints the pages to open, and herd sub follows the
// demo's own stream to its end without being told its close event.
func TestServe_demoStartup(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--store", "memory", "--demo"}, IO{Stdout: pw, Stderr: io.Discard})
		pw.Close()
	}()
	defer func() { cancel(); <-done }()
	lines := bufio.NewScanner(pr)
	var got []string
	for range 4 {
		lines.Scan()
		got = append(got, lines.Text())
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimPrefix(got[0], "herd listening on ")
	want := []string{"herd listening on " + base, "dashboard: " + base + "/", "cowsay demo: " + base + "/demo/cowsay", "cowsay through the hub (--demo): " + base + "/demo/cowsay?client=hub"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("startup printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	code, out, errOut := runCLI(t, t.Context(), nil, "sub", base+"/demo/cowsay/events?interval=1ms")
	if code != 0 || strings.Count(out, "<div>") != 10 || strings.Contains(errOut, "reconnecting") && !strings.Contains(errOut, "stream ended") {
		t.Errorf("herd sub of the demo stream: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Data from stdin loses its final newline (what echo adds), and only that.
func TestPub_stdinNewline(t *testing.T) {
	t.Parallel()
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"1"}`)
	}))
	defer srv.Close()
	for in, want := range map[string]string{"hello\n": `"data":"hello"`, "two\nlines\r\n": `"data":"two\nlines"`, "kept\n\n": `"data":"kept\n"`} {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		code := Main(t.Context(), []string{"pub", "--hub", srv.URL, "news"}, IO{Stdin: strings.NewReader(in), Stdout: io.Discard, Stderr: io.Discard})
		mu.Lock()
		got := strings.Join(bodies, "")
		mu.Unlock()
		if code != 0 || !strings.Contains(got, want) {
			t.Errorf("stdin %q: exit %d, sent %s; want %s", in, code, got, want)
		}
	}
}
