//go:build linux && integration

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The documentation's shell blocks are run as a reader pastes them: page
// by page, in order, in one shell per page (variables carry from block to
// block, as in a terminal), in a fresh copy of the source tree, twice (a
// reader following a page again must see the same), so the docs cannot
// drift from what herd does. A fence's info string says how:
//
//	```sh                      run it; it must succeed
//	```sh fails                run it; it must fail (an error shown on purpose)
//	```sh background wait=W    start it and go on once W: "subscriber" (the
//	                           hub has one more open stream) or a text its
//	                           output shows; it is interrupted (Ctrl-C) at
//	                           the end of the page unless it ended by itself
//	```sh manual: WHY          not run here; WHY says why, and which test
//	                           covers it instead
//	```text output             what the previous block prints: each line
//	                           must appear, in order, … matching anything
//
// The pages are run against their own hub: localhost:8080 and the other
// ports the docs use become free ports, a Redis or NATS URL gets a prefix
// of its own, and HERD_ADDR and HERD_HUB point at the page's hub, so
// "herd" and "herd pub" work as the page says. herd is on the PATH.

// docPages are the documents whose shell blocks are run.
func docPages(t *testing.T) []string {
	pages := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range more {
		pages = append(pages, filepath.Join("docs", filepath.Base(p)))
	}
	return pages
}

// A block is one fenced block of a page.
type block struct {
	line   int    // where it starts, for messages
	lang   string // the first word of the info string
	attrs  string // the rest of it
	text   string
	output *block // the "text output" block that follows, if any
}

func (b *block) has(attr string) bool {
	return slices.Contains(strings.Fields(b.attrs), attr)
}

// parseBlocks returns a page's fenced blocks, each output block attached
// to the block before it.
func parseBlocks(t *testing.T, page, text string) []*block {
	var blocks []*block
	var cur *block
	var body []string
	for i, line := range strings.Split(text, "\n") {
		if cur == nil {
			if rest, ok := strings.CutPrefix(line, "```"); ok {
				lang, attrs, _ := strings.Cut(strings.TrimSpace(rest), " ")
				cur = &block{line: i + 1, lang: lang, attrs: strings.TrimSpace(attrs)}
				body = nil
			} else if strings.HasPrefix(strings.TrimSpace(line), "```") {
				t.Errorf("%s:%d: an indented fence: the docs test cannot run it; unindent it", page, i+1)
			}
			continue
		}
		if strings.TrimSpace(line) == "```" {
			cur.text = strings.Join(body, "\n") + "\n"
			if cur.lang == "text" && cur.has("output") {
				if len(blocks) == 0 || blocks[len(blocks)-1].lang != "sh" {
					t.Errorf("%s:%d: an output block must follow a sh block", page, cur.line)
				} else {
					blocks[len(blocks)-1].output = cur
				}
			} else {
				blocks = append(blocks, cur)
			}
			cur = nil
			continue
		}
		body = append(body, line)
	}
	if cur != nil {
		t.Errorf("%s:%d: a fence that never closes", page, cur.line)
	}
	return blocks
}

func TestDocs(t *testing.T) {
	root := repoRoot(t)
	src := copySource(t, root)
	for _, page := range docPages(t) {
		raw, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		blocks := parseBlocks(t, page, string(raw))
		t.Run(strings.ReplaceAll(page, "/", "_"), func(t *testing.T) {
			// Run twice in one copy, as a reader following the page again
			// would: what the first run left (a herd.db, files, closed
			// topics) must not change what the second prints.
			dir := filepath.Join(t.TempDir(), "herd")
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			runPage(t, page, dir, blocks)
			if !t.Failed() {
				t.Run("again", func(t *testing.T) { runPage(t, page, dir, blocks) })
			}
		})
	}
}

// A session is one page's shell, and what it started.
type session struct {
	t          *testing.T
	page       string
	dir        string // the page's working copy of the source
	state      string // where blocks leave their output and status
	shell      *exec.Cmd
	stdin      io.WriteCloser
	exited     chan error
	hub        string // the page's hub, as HERD_HUB
	rewrite    func(string) string
	background []*started
}

// A started block runs in the background.
type started struct {
	b   *block
	n   int
	pid int
}

func runPage(t *testing.T, page, dir string, blocks []*block) {
	var runnable, manual int
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		if reason, ok := strings.CutPrefix(b.attrs, "manual:"); ok {
			if len(strings.Fields(reason)) < 3 {
				t.Errorf("%s:%d: a manual block needs its reason (which test covers it, or why none can)", page, b.line)
			}
			manual++
			continue
		}
		runnable++
	}
	t.Logf("%s: %d shell blocks to run, %d manual", page, runnable, manual)
	if runnable == 0 {
		return
	}
	s := newSession(t, page, dir)
	defer s.close()
	for _, b := range blocks {
		if b.lang != "sh" || strings.HasPrefix(b.attrs, "manual:") {
			continue
		}
		if !s.run(b) {
			return
		}
	}
	s.stopBackground()
}

// newSession starts a page's shell in dir, a copy of the source tree.
func newSession(t *testing.T, page, dir string) *session {
	state := t.TempDir()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(herdBin, filepath.Join(bin, "herd")); err != nil {
		t.Fatal(err)
	}
	// The ports the docs name, each a free one for this page.
	ports := map[string]int{}
	portRE := regexp.MustCompile(`(localhost|127\.0\.0\.1|0\.0\.0\.0)?:(80[89][0-9]|8443|6060|3000)\b`)
	prefix := fmt.Sprintf("docs%d", time.Now().UnixNano())
	brokerRE := regexp.MustCompile(`((?:redis|nats)://127\.0\.0\.1:(?:6379/0|4222))\b`)
	rewrite := func(text string) string {
		text = strings.ReplaceAll(text, "--addr :", "--addr localhost:") // never beyond loopback in a test
		text = portRE.ReplaceAllStringFunc(text, func(m string) string {
			sub := portRE.FindStringSubmatch(m)
			p, ok := ports[sub[2]]
			if !ok {
				p = freePort(t)
				ports[sub[2]] = p
			}
			host := sub[1]
			if host == "0.0.0.0" {
				host = "localhost"
			}
			return fmt.Sprintf("%s:%d", host, p)
		})
		return brokerRE.ReplaceAllString(text, "${1}?prefix="+prefix)
	}
	hubAddr := rewrite("localhost:8080")
	s := &session{t: t, page: page, dir: dir, state: state, hub: "http://" + hubAddr, rewrite: rewrite, exited: make(chan error, 1)}
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HERD_ADDR=" + hubAddr, "HERD_HUB=" + s.hub, "TERM=dumb"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERD_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	s.shell = exec.Command("bash", "--noprofile", "--norc")
	s.shell.Dir = dir
	s.shell.Env = env
	s.shell.Stdout, s.shell.Stderr = io.Discard, io.Discard
	var err error
	if s.stdin, err = s.shell.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.shell.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.shell.Wait() }()
	// Background jobs in process groups of their own, so that each can be
	// interrupted whole; a failing command stops the page.
	s.send("set -m -e -o pipefail\n")
	return s
}

func (s *session) send(script string) {
	if _, err := io.WriteString(s.stdin, script); err != nil {
		s.t.Fatalf("%s: the shell is gone: %v", s.page, err)
	}
}

func (s *session) file(name string, n int) string {
	return filepath.Join(s.state, fmt.Sprintf("%s.%d", name, n))
}

// run runs one block; it reports false when the page cannot go on.
func (s *session) run(b *block) bool {
	t := s.t
	n := b.line
	text := s.rewrite(b.text)
	out, rc := s.file("out", n), s.file("rc", n)
	switch {
	case b.has("background"):
		subscribers := s.subscribers()
		// The pid file appears whole (written, then renamed): a half-written
		// one would read as pid 0, and signalling process group 0 would
		// interrupt this test itself.
		s.send(fmt.Sprintf("( set +e; %s\necho $? > %s.tmp; mv %[2]s.tmp %[2]s ) > %s 2>&1 < /dev/null &\necho $! > %[4]s.tmp; mv %[4]s.tmp %[4]s\n", text, rc, out, s.file("pid", n)))
		pid := s.waitFile(b, s.file("pid", n))
		p, err := strconv.Atoi(strings.TrimSpace(pid))
		if err != nil || p <= 1 {
			t.Fatalf("%s:%d: no pid for the background block: %q", s.page, b.line, pid)
		}
		s.background = append(s.background, &started{b: b, n: n, pid: p})
		return s.waitReady(b, out, rc, subscribers)
	case b.has("fails"):
		s.send(fmt.Sprintf("if { %s\n} > %s 2>&1 < /dev/null; then echo 0 > %s.tmp; else echo $? > %[3]s.tmp; fi; mv %[3]s.tmp %[3]s\n", text, out, rc))
		code := s.waitFile(b, rc)
		if strings.TrimSpace(code) == "0" {
			t.Errorf("%s:%d: succeeded, but the page shows it failing:\n%s\noutput:\n%s", s.page, b.line, b.text, readFile(out))
		}
	default:
		s.send(fmt.Sprintf("{ %s\n} > %s 2>&1 < /dev/null\necho 0 > %s.tmp; mv %[3]s.tmp %[3]s\n", text, out, rc))
		if _, ok := s.waitFileOrExit(b, rc); !ok {
			t.Errorf("%s:%d: failed:\n%s\noutput:\n%s", s.page, b.line, b.text, readFile(out))
			return false
		}
	}
	s.checkOutput(b, readFile(out))
	return true
}

// waitFile waits for a block's file to appear; the shell exiting meanwhile
// (a failing command) fails the page.
func (s *session) waitFile(b *block, path string) string {
	text, ok := s.waitFileOrExit(b, path)
	if !ok {
		s.t.Fatalf("%s:%d: the shell exited while running:\n%s", s.page, b.line, b.text)
	}
	return text
}

func (s *session) waitFileOrExit(b *block, path string) (string, bool) {
	deadline := time.After(3 * time.Minute)
	for {
		if data, err := os.ReadFile(path); err == nil {
			return string(data), true
		}
		select {
		case <-s.exited:
			return "", false
		case <-deadline:
			s.t.Fatalf("%s:%d: still running after 3 minutes:\n%s", s.page, b.line, b.text)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitReady waits for a background block to be ready: its wait= text in
// its output, or one more subscriber on the page's hub.
func (s *session) waitReady(b *block, out, rc string, subscribersBefore int) bool {
	wait := ""
	for _, f := range strings.Fields(b.attrs) {
		if v, ok := strings.CutPrefix(f, "wait="); ok {
			wait = strings.Trim(v, `"`)
		}
	}
	if m := regexp.MustCompile(`wait="([^"]*)"`).FindStringSubmatch(b.attrs); m != nil {
		wait = m[1]
	}
	if wait == "" {
		s.t.Errorf("%s:%d: a background block needs wait=subscriber or wait=\"TEXT\"", s.page, b.line)
		return false
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if wait == "subscriber" {
			if s.subscribers() > subscribersBefore {
				return true
			}
		} else if strings.Contains(readFile(out), wait) {
			return true
		}
		if _, err := os.Stat(rc); err == nil {
			s.t.Errorf("%s:%d: ended before it was ready (%s):\n%s\noutput:\n%s", s.page, b.line, wait, b.text, readFile(out))
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Errorf("%s:%d: not ready (%s) after 3 minutes; output:\n%s", s.page, b.line, wait, readFile(out))
	return false
}

// subscribers is the page's hub's count of open streams (0 if it is not
// up).
func (s *session) subscribers() int {
	resp, err := http.Get(s.hub + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "herd_subscribers "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

// stopBackground interrupts what still runs in the background, as Ctrl-C
// would, then checks what each printed and how it ended.
func (s *session) stopBackground() {
	for i := len(s.background) - 1; i >= 0; i-- {
		bg := s.background[i]
		rc := s.file("rc", bg.n)
		if _, err := os.Stat(rc); err == nil {
			if code := strings.TrimSpace(readFile(rc)); code != "0" {
				s.t.Errorf("%s:%d: exited %s:\n%s\noutput:\n%s", s.page, bg.b.line, code, bg.b.text, readFile(s.file("out", bg.n)))
			}
		} else {
			syscall.Kill(-bg.pid, syscall.SIGINT)
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && syscall.Kill(bg.pid, 0) == nil {
				time.Sleep(50 * time.Millisecond)
			}
			syscall.Kill(-bg.pid, syscall.SIGKILL)
		}
		s.checkOutput(bg.b, readFile(s.file("out", bg.n)))
	}
	s.background = nil
}

func (s *session) close() {
	for _, bg := range s.background {
		syscall.Kill(-bg.pid, syscall.SIGKILL)
	}
	s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.shell.Process.Kill()
	}
}

// checkOutput compares what a block printed with its output block: each
// line shown must appear, in order; … matches anything.
func (s *session) checkOutput(b *block, got string) {
	if b.output == nil {
		return
	}
	want := strings.Split(strings.TrimRight(s.rewrite(b.output.text), "\n"), "\n")
	lines := strings.Split(got, "\n")
	i := 0
	for _, w := range want {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimRight(w, " ")), "…", ".*") + "$")
		for i < len(lines) && !re.MatchString(strings.TrimRight(lines[i], " \r")) {
			i++
		}
		if i == len(lines) {
			s.t.Errorf("%s:%d: the output shown (line %d) differs from what\n%s\nprinted: no line %q in order in:\n%s",
				s.page, b.line, b.output.line, b.text, w, got)
			return
		}
		i++
	}
}

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// repoRoot is the module's root directory.
func repoRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// copySource copies the files git knows of (committed or not, not
// ignored) to a directory the pages' copies are made from.
func copySource(t *testing.T, root string) string {
	out, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard", "-z").Output()
	if err != nil {
		t.Fatalf("listing the source: %v", err)
	}
	dst := t.TempDir()
	for _, name := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
		from := filepath.Join(root, string(name))
		info, err := os.Lstat(from)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, string(name))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
