//go:build linux && integration

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/demo"
)

// djangoPython returns a Python that imports Django: python3, or Debian's
// own when another python3 comes first on the PATH.
func djangoPython(t *testing.T) string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import django").Run() == nil {
			return p
		}
	}
	lacking(t, "no python3 with Django", "scripts/test.sh installs it (apt-get install -y python3-django)")
	return ""
}

// TestExample_django runs examples/django as its README says: the Python
// publisher's tests against a real herd, then the Django app publishing
// the ten quotes to herd and the page, in Chromium, following herd to the
// close with htmx, with one stream and no reconnection.
func TestExample_django(t *testing.T) {
	t.Parallel()
	python := djangoPython(t)
	dir := filepath.Join(repoRoot(t), "examples", "django")
	port := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	h := startHerd(t, "--store", "memory", "--log-level", "debug", "--cors-origins", origin)

	unit := exec.Command(python, "-m", "unittest", "-v", "test_herd_publish")
	unit.Dir = dir
	unit.Env = append(os.Environ(), "HERD_HUB="+h.URL)
	if out, err := unit.CombinedOutput(); err != nil {
		t.Fatalf("herd_publish's tests: %v\n%s", err, out)
	}

	app := exec.Command(python, filepath.Join(dir, "app.py"), "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--hub", h.URL, "--interval", "0.05")
	if line := startPrinting(t, app); !strings.HasPrefix(line, "cowsay (Django) on") {
		t.Fatalf("the Django app printed %q", line)
	}

	browser := browsertest.Start(t)
	tab := openTab(t, browser, origin+"/")
	if _, err := browsertest.Eval[bool](tab, `(() => { document.querySelector("button").click(); return true })()`); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "closed"`); err != nil {
		t.Fatalf("the page never reached the close: %v\n%s", err, h.stderr)
	}
	quotes := pageQuotes(t, tab)
	if len(quotes) != len(demo.Quotes) {
		t.Fatalf("the page shows %d quotes, want %d: %q", len(quotes), len(demo.Quotes), quotes)
	}
	for i, q := range quotes {
		if q != demo.Quotes[i] {
			t.Errorf("quote %d: %q, want %q", i, q, demo.Quotes[i])
		}
	}
	topic := regexp.MustCompile(`topics=\[(cowsay/[0-9a-f]+)\]`).FindStringSubmatch(h.stderr.String())
	if topic == nil {
		t.Fatalf("no subscription to a cowsay topic in herd's log:\n%s", h.stderr)
	}
	if n := streamRequests(h, topic[1]); n != 1 {
		t.Errorf("the page opened %d streams, want 1 (no reconnection after the close)", n)
	}
}

// TestExample_datastar runs examples/datastar: a Datastar 1.0 page
// subscribes to herd with @get (across origins: a CORS preflight), the
// program publishes datastar-patch-elements and datastar-patch-signals
// events through herd's plain publish API, and the page morphs, appends
// and updates signals as they arrive, then stops at the close without
// reconnecting.
func TestExample_datastar(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	h := startHerd(t, "--store", "memory", "--log-level", "debug", "--cors-origins", origin)
	line := startExample(t, "datastar", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--hub", h.URL, "--ticks", "5", "--interval", "100ms")
	topic := regexp.MustCompile(`\(topic (datastar/[^)]+)\)`).FindStringSubmatch(line)
	if topic == nil {
		t.Fatalf("the example printed %q", line)
	}

	browser := browsertest.Start(t)
	tab := openTab(t, browser, origin+"/")
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#feed li").length === 5 && document.getElementById("ticks").textContent === "5"`); err != nil {
		state, _ := browsertest.Eval[string](tab, `document.body.innerHTML`)
		t.Fatalf("the page never showed the 5 ticks: %v\n%s\n%s", err, state, h.stderr)
	}
	if err := browsertest.WaitFor(tab, `getComputedStyle(document.getElementById("done")).display !== "none" && /\d\d:\d\d:\d\d/.test(document.getElementById("clock").textContent)`); err != nil {
		t.Errorf("the signals or the clock did not follow: %v", err)
	}
	feed, _ := browsertest.Eval[string](tab, `[...document.querySelectorAll("#feed li")].map(li => li.textContent.split(" at ")[0]).join(",")`)
	if feed != "tick 1,tick 2,tick 3,tick 4,tick 5" {
		t.Errorf("the feed: %q", feed)
	}
	// One stream for the topic so far: the page did not fall back to
	// reconnecting while it followed it.
	if n := streamRequests(h, topic[1]); n != 1 {
		t.Errorf("the page opened %d streams, want 1", n)
	}
}

// TestExample_node runs the Node.js publisher's tests against a real
// herd, then its command, whose id must be the topic's last.
func TestExample_node(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		lacking(t, "node not found", "scripts/test.sh installs it (apt-get install -y nodejs npm)")
	}
	h := startHerd(t, "--store", "memory")
	dir := filepath.Join(repoRoot(t), "examples", "node")
	tests := exec.Command("node", "--test", "publish.test.mjs")
	tests.Dir = dir
	tests.Env = append(os.Environ(), "HERD_HUB="+h.URL)
	if out, err := tests.CombinedOutput(); err != nil {
		t.Fatalf("publish.test.mjs: %v\n%s", err, out)
	}
	out, err := exec.Command("node", filepath.Join(dir, "publish.mjs"), "--hub", h.URL, "--event", "note", "node/cli", "hello").Output()
	if err != nil {
		t.Fatalf("publish.mjs: %v", err)
	}
	id := strings.TrimSpace(string(out))
	resp, err := http.Get(h.URL + "/topics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var topics []struct {
		Topic  string `json:"topic"`
		LastID string `json:"last_id"`
	}
	json.NewDecoder(resp.Body).Decode(&topics)
	for _, tp := range topics {
		if tp.Topic == "node/cli" {
			if tp.LastID != id {
				t.Errorf("node/cli's last id is %q, the command printed %q", tp.LastID, id)
			}
			return
		}
	}
	t.Errorf("node/cli is not among the topics: %+v", topics)
}

// startExample builds and runs one of examples/, which prints one line
// once it serves, and returns that line.
func startExample(t *testing.T, name string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/herd-sse/herd/examples/"+name).CombinedOutput(); err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	return startPrinting(t, exec.Command(bin, args...))
}

// startPrinting starts an example's command, which prints one line once
// it serves, and returns that line; the command is killed when the test
// ends. One that prints nothing within 60s fails the test.
func startPrinting(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	started := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		started <- line
	}()
	select {
	case line := <-started:
		return line
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed nothing within 60s", cmd.Path)
		return ""
	}
}

// TestExample_htmx runs examples/htmx with htmx 2 and htmx 4: a board
// whose elements one stream updates (by event type with htmx 2, by
// out-of-band swaps with htmx 4), and a chat whose list streams from herd;
// herd is killed and restarted mid-chat, and each page resumes with
// Last-Event-ID: every message once, in order.
func TestExample_htmx(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	h := startHerd(t, "--store", "bolt:"+filepath.Join(t.TempDir(), "herd.db"), "--retry", "200ms", "--cors-origins", origin)
	line := startExample(t, "htmx", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--hub", h.URL, "--interval", "100ms")
	if !strings.HasPrefix(line, "htmx pages on") {
		t.Fatalf("the example printed %q", line)
	}
	browser := browsertest.Start(t)
	var said []string
	messages := func(tab context.Context) string {
		got, _ := browsertest.Eval[string](tab, `[...document.querySelectorAll("#messages li")].map(li => li.textContent).join("|")`)
		return got
	}
	for _, v := range []string{"2", "4"} {
		t.Run("htmx "+v, func(t *testing.T) {
			board := openTab(t, browser, origin+"/board?htmx="+v)
			if err := browsertest.WaitFor(board, `document.querySelectorAll("#news li").length >= 3 && /^tick \d+$/.test(document.getElementById("status").textContent) && /^\d+\.\d\d$/.test(document.getElementById("price").textContent)`); err != nil {
				body, _ := browsertest.Eval[string](board, `document.body.innerHTML`)
				t.Fatalf("the board never updated its three elements: %v\n%s", err, body)
			}

			chat := openTab(t, browser, origin+"/chat?htmx="+v)
			say := func(text string) {
				t.Helper()
				said = append(said, "ann: "+text)
				if _, err := browsertest.Eval[bool](chat, `(() => { const f = document.querySelector("form"); f.name.value = "ann"; f.text.value = `+jsString(text)+`; f.requestSubmit(); return true })()`); err != nil {
					t.Fatal(err)
				}
				want := strings.Join(said, "|")
				if err := browsertest.WaitFor(chat, `[...document.querySelectorAll("#messages li")].map(li => li.textContent).join("|") === `+jsString(want)); err != nil {
					t.Fatalf("the chat shows %q, want %q: %v", messages(chat), want, err)
				}
				// The message can stream in before the post's answer, and
				// the form resets once that answer is in: wait for it, or
				// the reset would empty the next message typed.
				if err := browsertest.WaitFor(chat, `document.querySelector("form").text.value === ""`); err != nil {
					t.Fatalf("the form was not reset after its post: %v", err)
				}
			}
			say("hello from htmx " + v + " <b>not bold</b>")
			say("second")
			h.kill9()
			h = h.restart()
			// Said while the page is reconnecting: it arrives by resume.
			resp, err := http.PostForm(origin+"/say", url.Values{"name": {"ann"}, "text": {"after the restart " + v}})
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("say after the restart: %v %v", err, resp)
			}
			resp.Body.Close()
			said = append(said, "ann: after the restart "+v)
			want := strings.Join(said, "|")
			if err := browsertest.WaitFor(chat, `[...document.querySelectorAll("#messages li")].map(li => li.textContent).join("|") === `+jsString(want)); err != nil {
				t.Fatalf("after herd restarted the chat shows %q, want %q: %v", messages(chat), want, err)
			}
			if n, _ := browsertest.Eval[float64](chat, `document.querySelectorAll("#messages li b b").length`); n != 0 {
				t.Error("a message's markup was rendered")
			}
		})
	}
}
