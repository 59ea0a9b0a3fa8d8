package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// runCLI runs herd with args and returns its exit status and output.
func runCLI(t *testing.T, ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(ctx, args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errOut.String()
}

// scripted serves one canned response per request, in order, and records
// the requests.
type scripted struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

func newScripted(t *testing.T, responses ...func(w http.ResponseWriter)) *scripted {
	s := &scripted{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.requests)
		s.requests = append(s.requests, r)
		s.mu.Unlock()
		if n >= len(responses) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		responses[n](w)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func stream(body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, body)
	}
}

func status(code int, ctype string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(code)
	}
}

func TestSub_text(t *testing.T) {
	t.Parallel()
	s := newScripted(t, stream("data: one\n\ndata: two\ndata: lines\n\n"), stream("id: 9\ndata: three\n\n"))
	code, out, errOut := runCLI(t, t.Context(), nil, "sub", "--retry", "1ms", s.srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "one\ntwo\nlines\nthree\n" {
		t.Errorf("stdout %q", out)
	}
	if s.count() != 3 { // two streams, then 204
		t.Errorf("%d requests", s.count())
	}
	if !strings.Contains(errOut, "stream ended; reconnecting in") {
		t.Errorf("no reconnect line on stderr: %q", errOut)
	}
}

func TestSub_json(t *testing.T) {
	t.Parallel()
	s := newScripted(t, stream("id: 1\ndata: a\n\nevent: add\ndata: <b>\"x\"</b>\n\nid\ndata: reset\n\n"))
	code, out, errOut := runCLI(t, t.Context(), nil, "sub", s.srv.URL, "--json", "--retry", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `{"event":"message","data":"a","id":"1"}` + "\n" +
		`{"event":"add","data":"<b>\"x\"</b>","id":"1"}` + "\n" +
		`{"event":"message","data":"reset","id":""}` + "\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
}

func TestSub_reconnectSendsHeaders(t *testing.T) {
	t.Parallel()
	s := newScripted(t, stream("id: 41\ndata: x\n\n"), stream("data: y\n\n"))
	code, _, errOut := runCLI(t, t.Context(), nil, "sub", "--retry", "1ms", "--last-event-id", "40",
		"-H", "Authorization: Bearer t0k", "-H", "X-Trace: 1", s.srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	first, second := s.request(0), s.request(1)
	if first.Header.Get("Last-Event-ID") != "40" || second.Header.Get("Last-Event-ID") != "41" {
		t.Errorf("Last-Event-ID %q then %q", first.Header.Get("Last-Event-ID"), second.Header.Get("Last-Event-ID"))
	}
	for _, r := range []*http.Request{first, second} {
		if r.Header.Get("Authorization") != "Bearer t0k" || r.Header.Get("X-Trace") != "1" {
			t.Errorf("headers %v", r.Header)
		}
	}
}

func TestSub_once(t *testing.T) {
	t.Parallel()
	s := newScripted(t, stream("data: a\n\n"), stream("data: never\n\n"))
	code, out, errOut := runCLI(t, t.Context(), nil, "sub", "--once", s.srv.URL)
	if code != 0 || out != "a\n" || s.count() != 1 {
		t.Errorf("exit %d, stdout %q, %d requests, stderr %q", code, out, s.count(), errOut)
	}
}

func TestSub_onceRefused(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	code, _, errOut := runCLI(t, t.Context(), nil, "sub", "--once", "http://"+addr+"/events")
	if code != 1 || !strings.Contains(errOut, "connection refused") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line naming the refusal", code, errOut)
	}
}

func TestSub_fatalAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resp func(http.ResponseWriter)
		want string
	}{
		{status(404, "text/plain"), "herd: the server answered 404 Not Found\nTry: check the URL: it should be the stream's\n"},
		{status(503, "text/event-stream"), "herd: the server answered 503 Service Unavailable\n"},
		{status(200, "text/html"), "herd: the server answered with text/html, not an event stream (text/event-stream)\nTry: check the URL: is it the stream's, not its page's?\n"},
	}
	for _, tc := range tests {
		s := newScripted(t, tc.resp)
		code, _, errOut := runCLI(t, t.Context(), nil, "sub", "--retry", "1ms", s.srv.URL)
		if code != 1 || errOut != tc.want || s.count() != 1 {
			t.Errorf("exit %d, stderr %q, %d requests; want 1, %q, 1", code, errOut, s.count(), tc.want)
		}
	}
}

func TestSub_closeEvent(t *testing.T) {
	t.Parallel()
	body := "id: 1\ndata: last\n\nevent: close\ndata: {\"topics\":[\"news\"]}\n\ndata: after\n\n"
	s := newScripted(t, stream(body), stream(body))
	code, out, _ := runCLI(t, t.Context(), nil, "sub", s.srv.URL)
	if code != 0 || out != "last\n" || s.count() != 1 {
		t.Errorf("text: exit %d, stdout %q, %d requests", code, out, s.count())
	}
	code, out, _ = runCLI(t, t.Context(), nil, "sub", "--json", s.srv.URL)
	want := `{"event":"message","data":"last","id":"1"}` + "\n" + `{"event":"close","data":"{\"topics\":[\"news\"]}","id":"1"}` + "\n"
	if code != 0 || out != want {
		t.Errorf("json: exit %d, stdout %q", code, out)
	}
	s2 := newScripted(t, stream("data: q\n\nevent: closeStream\ndata:\n\n"))
	code, out, _ = runCLI(t, t.Context(), nil, "sub", "--close-event", "closeStream", s2.srv.URL)
	if code != 0 || out != "q\n" || s2.count() != 1 {
		t.Errorf("--close-event: exit %d, stdout %q", code, out)
	}
}

// The hub's notices (gap, token expired) are not data: herd sub writes
// them to stderr, and --json shows them as the events they are.
func TestSub_notices(t *testing.T) {
	t.Parallel()
	body := "event: gap\ndata: {\"reason\":\"retention\"}\n\nid: 5\ndata: five\n\nevent: token-expired\ndata: {\"reason\":\"token expired\"}\n\n"
	s := newScripted(t, stream(body))
	code, out, errOut := runCLI(t, t.Context(), nil, "sub", "--retry", "1ms", s.srv.URL)
	if code != 0 || out != "five\n" {
		t.Errorf("text: exit %d, stdout %q", code, out)
	}
	for _, want := range []string{`herd sub: gap: {"reason":"retention"}`, `herd sub: token-expired: {"reason":"token expired"}`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	s = newScripted(t, stream(body))
	code, out, _ = runCLI(t, t.Context(), nil, "sub", "--json", "--retry", "1ms", s.srv.URL)
	if code != 0 || !strings.HasPrefix(out, `{"event":"gap","data":"{\"reason\":\"retention\"}","id":""}`) {
		t.Errorf("json: exit %d, stdout %q", code, out)
	}
}

func TestSub_topics(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.String())
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hub.Close()
	code, _, errOut := runCLI(t, t.Context(), nil, "sub", "--hub", hub.URL, "news", "sport/**")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if u := got.Load(); u != "/events?topic=news&topic=sport%2F%2A%2A" {
		t.Errorf("requested %v", u)
	}
	code, _, _ = runCLI(t, t.Context(), map[string]string{"HERD_HUB": hub.URL + "/"}, "sub", "a")
	if u := got.Load(); code != 0 || u != "/events?topic=a" {
		t.Errorf("HERD_HUB: exit %d, requested %v", code, u)
	}
}

func TestSub_interrupted(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	if code, _, errOut := runCLI(t, ctx, nil, "sub", srv.URL); code != 0 {
		t.Errorf("interrupted sub: exit %d, %s", code, errOut)
	}
}

func TestSub_usage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"sub"}, nil, "sub needs hub topics or an SSE URL"},
		{[]string{"sub", "-H", "nocolon", "x"}, nil, `want 'Name: value'`},
		{[]string{"sub", "-H", "Bad Name: v", "x"}, nil, `want 'Name: value'`},
		{[]string{"sub", "--retry", "0s", "x"}, nil, "--retry must be positive"},
		{[]string{"sub", "--retry", "soon", "x"}, nil, `--retry "soon": want a duration, like 30s, 1m30s or 250ms`},
		{[]string{"sub", "http://a/", "news"}, nil, "one URL, or hub topics, not both"},
		{[]string{"sub", "news", "http://a/"}, nil, "one URL, or hub topics, not both"},
		{[]string{"sub", "--hub", "ftp://x", "news"}, nil, "bad hub URL"},
		{[]string{"sub", "news"}, map[string]string{"HERD_HUB": "nope"}, "bad hub URL"},
		{[]string{"sub", "--frobnicate", "x"}, nil, "unknown flag --frobnicate"},
		{[]string{"sub", "--jsno", "x"}, nil, "unknown flag --jsno; did you mean --json?"},
		{[]string{"sub", ""}, nil, "empty topic"},
		{[]string{"frob"}, nil, `unknown command "frob"`},
	}
	for _, tc := range tests {
		code, _, errOut := runCLI(t, t.Context(), tc.env, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "Try: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 with %q and a hint", tc.args, code, errOut, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"help"}, {"sub", "-h"}, {"serve", "-h"}} {
		code, out, errOut := runCLI(t, t.Context(), nil, args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("%q: exit %d, output %q", args, code, out+errOut)
		}
	}
}

// TestSecretsStayOut: tokens and passwords given on the command line, in
// URLs or headers, never appear in herd's errors.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"sub", "--once", "http://" + addr + "/events?topic=a&authorization=hunter2"},
		{"sub", "--once", "http://u:hunter2@" + addr + "/events"},
		{"sub", "http://u:hunter2@[::1/events"},
		{"sub", "-H", "Authorization Bearer hunter2", "news"},
		{"sub", "--hub", "ftp://u:hunter2@x", "news"},
		{"pub", "--attempts", "1", "--hub", "http://u:hunter2@" + addr, "news", "x"},
		{"pub", "--attempts", "1", "--hub", "http://" + addr + "/?token=hunter2", "news", "x"},
		{"pub", "--hub", "http://u:hunter2@[::1", "news", "x"},
	} {
		code, out, errOut := runCLI(t, t.Context(), nil, args...)
		if code == 0 || strings.Contains(out+errOut, "hunter2") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errOut := runCLI(t, t.Context(), nil, args...)
		if code != 0 || !strings.HasPrefix(out, "herd ") || !strings.Contains(out, runtime.Version()) || strings.Count(out, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	b := buildInfo{Version: "v1.2.3", Commit: "0123456789abcdef", Time: "2026-12-02T01:02:03Z", Modified: true, Go: "go1.26.8", Platform: "darwin/arm64"}
	if got, want := b.String(), "herd v1.2.3 (commit 0123456789ab of 2026-12-02T01:02:03Z, with uncommitted changes) go1.26.8 darwin/arm64"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if code, _, errOut := runCLI(t, t.Context(), nil, "version", "extra"); code != 2 || !strings.Contains(errOut, "takes no arguments") {
		t.Errorf("version extra: exit %d %q", code, errOut)
	}
}
