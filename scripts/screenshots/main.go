// Command screenshots takes the pictures in the docs: it runs herd serve
// --demo in-process on a free port, opens pages in headless Chromium
// (Debian's chromium, or $HERD_CHROMIUM), waits for each to reach the
// state worth showing, and writes PNGs to docs/images/.
//
//	go run ./scripts/screenshots
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/cli"
)

// A shot is one picture: a page, what to do there, and the state to wait
// for.
type shot struct {
	file  string
	path  string
	setup string // JavaScript run once the page has loaded, if any
	ready string // a JavaScript predicate
	width int    // the viewport's width; 0 means --width
}

// dashboardSetup: the demo publishing and two more subscribers; the
// inspector tails the demo's topics from the start.
const dashboardSetup = `
		window.subscribers = [1, 2].map(() => new EventSource("/events?topic=demo/cowsay/**"));
		const t = document.getElementById("tail");
		t.topic.value = "demo/cowsay/**"; t.from.value = "earliest";
		document.getElementById("tail-start").click();`

const dashboardReady = `document.body.dataset.state === "live" && document.querySelectorAll("#events tbody tr").length >= 4 && Number(document.getElementById("subscribers").value) >= 3`

var shots = []shot{
	{"cowsay.png", "/demo/cowsay?client=htmx2&interval=150ms", "", `document.body.dataset.state === "closed"`, 0},
	// The dashboard on a wide screen and on a phone.
	{"dashboard.png", "/", dashboardSetup, dashboardReady, 1400},
	{"dashboard-400.png", "/", dashboardSetup, dashboardReady, 400},
}

func main() {
	out := flag.String("out", "docs/images", "directory the pictures are written to")
	width := flag.Int("width", 900, "viewport width")
	height := flag.Int("height", 760, "viewport height")
	flag.Parse()
	if err := run(*out, *width, *height); err != nil {
		log.Fatal(err)
	}
}

func run(out string, width, height int) error {
	chromium := browsertest.ExecPath()
	if chromium == "" {
		return fmt.Errorf("no chromium: apt-get install -y chromium, or set HERD_CHROMIUM")
	}
	base, stop, err := startHub()
	if err != nil {
		return err
	}
	defer stop()
	profile, err := os.MkdirTemp("", "herd-screenshots")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browsertest.Options(chromium, profile)...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	for _, s := range shots {
		tab, closeTab := chromedp.NewContext(browser) // a tab of its own for each shot
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		w := width
		if s.width > 0 {
			w = s.width
		}
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(int64(w), int64(height)),
			chromedp.Navigate(base+s.path),
		)
		if err == nil && s.setup != "" {
			_, err = browsertest.Eval[bool](ctx, "(() => {"+s.setup+"; return true})()")
		}
		if err == nil {
			err = browsertest.WaitFor(ctx, s.ready)
		}
		var png []byte
		if err == nil {
			time.Sleep(s.settle()) // the last swap painted, the charts drawn
			png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		}
		cancel()
		closeTab()
		if err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		path := filepath.Join(out, s.file)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d bytes\n", path, len(png))
	}
	return nil
}

// settle is how long a page is left to paint once ready: the dashboard
// a few seconds, so that its charts have points.
func (s shot) settle() time.Duration {
	if strings.HasPrefix(s.file, "dashboard") {
		return 8 * time.Second
	}
	return 200 * time.Millisecond
}

// startHub runs herd serve --demo on a free port and returns its URL.
func startHub() (string, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory", "--demo"}, cli.IO{Stdout: pw, Stderr: io.Discard})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		return "", nil, fmt.Errorf("herd serve did not start: %v", err)
	}
	go io.Copy(io.Discard, pr)
	return strings.TrimSpace(strings.TrimPrefix(line, "herd listening on ")), func() { cancel(); <-done }, nil
}
