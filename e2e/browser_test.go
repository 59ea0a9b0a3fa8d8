//go:build linux && integration

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/demo"
)

func openTab(t *testing.T, browser context.Context, url string) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tab, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return tab
}

func pageQuotes(t *testing.T, tab context.Context) []string {
	t.Helper()
	quotes, err := browsertest.Eval[[]string](tab, `[...document.querySelectorAll("#quotes > div")].map(d => d.textContent)`)
	if err != nil {
		t.Fatal(err)
	}
	return quotes
}

// streamRequests counts the subscriptions herd logged for topic.
func streamRequests(h *herd, topic string) int {
	return strings.Count(h.stderr.String(), fmt.Sprintf(`msg="subscriber started" topics=[%s]`, topic))
}

// TestBrowser_htmx2OnHubTopic: an htmx 2 page subscribed to a hub topic
// (one of the demo's, which is all the demo shows, and only with --demo)
// adds each published event to the page and stops at the close, with no
// request to the hub after it.
func TestBrowser_htmx2OnHubTopic(t *testing.T) {
	browser := browsertest.Start(t)
	h := startHerd(t, "--store", "memory", "--log-level", "debug", "--retry", "1s", "--demo")
	const topic = "demo/cowsay/shows-42"
	tab := openTab(t, browser, h.URL+"/demo/cowsay?client=hub-htmx2&topic="+topic)
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "streaming"`); err != nil {
		t.Fatalf("page never connected: %v", err)
	}
	for i := range demo.Quotes {
		mustPublish(t, h.URL, map[string]any{"topic": topic, "data": demo.Quotes[i]})
	}
	mustPublish(t, h.URL, map[string]any{"topic": topic, "close": true})
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "closed"`); err != nil {
		t.Fatalf("page never saw the close: %v", err)
	}
	if got := pageQuotes(t, tab); !slices.Equal(got, demo.Quotes[:]) {
		t.Errorf("page shows %q, want the ten quotes in order", got)
	}
	time.Sleep(4 * time.Second) // the retry hint is 1s: a reconnect would show
	if n := streamRequests(h, topic); n != 1 {
		t.Errorf("herd saw %d subscriptions to %s, want 1: the page reconnected after the close", n, topic)
	}
	if got := pageQuotes(t, tab); len(got) != 10 {
		t.Errorf("%d quotes after the window", len(got))
	}
}

// TestBrowser_resumeAfterHubCrash: a native EventSource page follows a hub
// topic; the hub is killed (kill -9) and restarted on its file; the page
// reconnects by itself with Last-Event-ID and ends with every quote once.
func TestBrowser_resumeAfterHubCrash(t *testing.T) {
	browser := browsertest.Start(t)
	db := filepath.Join(t.TempDir(), "herd.db")
	h := startHerd(t, "--store", "bolt:"+db, "--log-level", "debug", "--retry", "500ms", "--demo")
	const topic = "demo/cowsay/live-match"
	tab := openTab(t, browser, h.URL+"/demo/cowsay?client=hub&topic="+topic)
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "streaming"`); err != nil {
		t.Fatalf("page never connected: %v", err)
	}
	var lastBefore string
	for i := range 4 {
		lastBefore = mustPublish(t, h.URL, map[string]any{"topic": topic, "data": demo.Quotes[i]})
	}
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#quotes > div").length === 4`); err != nil {
		t.Fatal(err)
	}
	h.kill9()
	h = h.restart()
	for i := 4; i < len(demo.Quotes); i++ {
		mustPublish(t, h.URL, map[string]any{"topic": topic, "data": demo.Quotes[i]})
	}
	mustPublish(t, h.URL, map[string]any{"topic": topic, "close": true})
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "closed"`); err != nil {
		t.Fatalf("page never finished after the crash: %v (quotes: %q)", err, pageQuotes(t, tab))
	}
	if got := pageQuotes(t, tab); !slices.Equal(got, demo.Quotes[:]) {
		t.Errorf("after the crash the page shows %d quotes:\n%q\nwant the ten, each once, in order", len(got), got)
	}
	if !strings.Contains(h.stderr.String(), "last_event_id="+lastBefore) {
		t.Errorf("the restarted hub saw no subscription resuming after %s:\n%s", lastBefore, h.stderr)
	}
}
