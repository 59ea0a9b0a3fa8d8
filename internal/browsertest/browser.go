// Package browsertest starts headless Chromium for end-to-end tests of
// pages, driven with chromedp.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath returns the Chromium binary to use: $HERD_CHROMIUM, or chromium
// (Debian's package) on the PATH. It returns "" if there is none.
func ExecPath() string {
	if p := os.Getenv("HERD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start launches a headless browser for the test and returns a context
// bound to it; each chromedp.NewContext derived from it is a new tab. The
// browser is closed when the test ends.
//
// Without Chromium the test is skipped, except under CI=true, where a
// missing browser fails it: CI must never pass by skipping.
func Start(t testing.TB) context.Context {
	t.Helper()
	path := ExecPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found and CI=true: install it (apt-get install -y chromium) or set HERD_CHROMIUM")
		}
		t.Skip("chromium not found: run ./scripts/test.sh, which installs it, or set HERD_CHROMIUM")
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(path, t.TempDir())...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// Options are the flags headless Chromium runs with here: no sandbox (in
// a container), no GPU, QUIC, updates, sync or background traffic, and a
// profile of its own in userDataDir.
func Options(execPath, userDataDir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(userDataDir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors", true), // tests serve self-signed TLS
	)
}

// Eval evaluates a JavaScript expression in the tab and returns its value.
func Eval[T any](ctx context.Context, expr string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// WaitFor polls a JavaScript predicate every 50ms until it holds or ctx
// ends.
func WaitFor(ctx context.Context, predicate string) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(50*time.Millisecond)))
	return err
}
