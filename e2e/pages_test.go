//go:build linux && integration

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/sse"
)

// Pages never run data: every string a page of herd's shows, whoever
// wrote it, is shown as text, and the pages' Content-Security-Policy
// would stop a script that got through anyway. These tests put hostile
// strings in every field a page shows and check, in Chromium, that
// nothing ran, that the strings show literally, and that the pages still
// work under their CSP (no violation in normal use).

// hostile are markup and script payloads, as event data and types.
var hostile = []string{
	`<img src=x onerror="window.__pwned=1">`,
	`<script>window.__pwned=1</script>`,
	`javascript:window.__pwned=1`,
	`"><svg onload="window.__pwned=1">`,
	`'><svg/onload=window.__pwned=1>`,
	`{{.}}{{template "x"}}`,
	`<a href="javascript:window.__pwned=1" id="pwnlink">click</a>`,
	`<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>`,
	`<div hx-get="/metrics" hx-trigger="load" hx-swap="outerHTML" hx-on::load="window.__pwned=1">htmx</div>`,
	`<style>body{display:none}</style><meta http-equiv="refresh" content="0;url=javascript:window.__pwned=1">`,
	strings.Repeat(`<b onmouseover="window.__pwned=1">long</b>`, 1200), // 50 KB
}

// hostileTopics are payloads that are valid topics: no spaces or control
// characters, at most 256 bytes.
var hostileTopics = []string{
	`x/<img/src=x/onerror=window.__pwned=1>`,
	`x/<script>window.__pwned=1</script>`,
	`x/"><svg/onload=window.__pwned=1>`,
	`x/javascript:window.__pwned=1`,
	`x/{{.}}`,
	"x/" + strings.Repeat("<b>", 84), // 254 bytes
}

// watchCSP is injected before any script of the page: it records every
// Content-Security-Policy violation the page meets.
const watchCSP = `window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(e.violatedDirective + " blocked " + e.blockedURI + " at " + e.sourceFile + ":" + e.lineNumber));`

// A watchedTab is a tab that records CSP violations (in the page) and
// console errors (from the browser) from before the page's first script.
type watchedTab struct {
	ctx     context.Context
	mu      sync.Mutex
	console []string
}

// openWatched opens pageURL in a watched tab that lasts at most within.
func openWatched(t *testing.T, browser context.Context, pageURL string, within time.Duration) *watchedTab {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tab, cancelTimeout := context.WithTimeout(tab, within)
	t.Cleanup(cancelTimeout)
	w := &watchedTab{ctx: tab}
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchCSP}); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// A refused request (a 400 the test asks for) is logged by the
			// network, and is no error of the page's.
			if m.Source != "network" && (m.Type == chromedp.ConsoleError || m.IsException() || strings.Contains(m.Text, "Content Security Policy")) {
				w.mu.Lock()
				w.console = append(w.console, m.String())
				w.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(tab, chromedp.Navigate(pageURL)); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *watchedTab) eval(t *testing.T, js string) {
	t.Helper()
	if _, err := browsertest.Eval[bool](w.ctx, "(() => {"+js+"; return true})()"); err != nil {
		t.Fatal(err)
	}
}

func (w *watchedTab) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	if err := browsertest.WaitFor(w.ctx, predicate); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (w *watchedTab) text(t *testing.T, js string) string {
	t.Helper()
	s, err := browsertest.Eval[string](w.ctx, js)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

// checkNothingRan fails if a payload ran or left live markup in the
// page, or if the page met a CSP violation or a console error: in normal
// use a page must work under its policy.
func (w *watchedTab) checkNothingRan(t *testing.T, name string) {
	t.Helper()
	if pwned, _ := browsertest.Eval[bool](w.ctx, `window.__pwned !== undefined`); pwned {
		t.Errorf("%s: a payload ran (window.__pwned is set)", name)
	}
	live, err := browsertest.Eval[[]string](w.ctx, `[
		...document.querySelectorAll("img, iframe, b, body style, body meta, #pwnlink, [hx-get], script:not([src])"),
		...[...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) =>
			a.name.startsWith("on") || a.name.startsWith("hx-on") || /^\s*javascript:/i.test(a.value))),
	].map((e) => e.outerHTML.slice(0, 120))`)
	if err != nil || len(live) > 0 {
		t.Errorf("%s: payload markup is live in the page (%v): %q", name, err, live)
	}
	if csp, _ := browsertest.Eval[[]string](w.ctx, `window.__csp`); len(csp) > 0 {
		t.Errorf("%s: CSP violations in normal use: %q", name, csp)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.console) > 0 {
		t.Errorf("%s: console errors: %q", name, w.console)
	}
}

// checkCSPEnforced injects an inline event handler as a payload would,
// and checks that the page's CSP blocked it and that the watch saw it:
// the checks above would catch a violation, and the policy holds.
func (w *watchedTab) checkCSPEnforced(t *testing.T, name string) {
	t.Helper()
	w.eval(t, `document.body.insertAdjacentHTML("beforeend", '<img id="probe" src="/no-such-image" onerror="window.__pwned=1">')`)
	if err := browsertest.WaitFor(w.ctx, `window.__csp.length > 0`); err != nil {
		t.Errorf("%s: an injected inline handler raised no CSP violation: %v", name, err)
	}
	if pwned, _ := browsertest.Eval[bool](w.ctx, `window.__pwned !== undefined`); pwned {
		t.Errorf("%s: the CSP let an inline handler run", name)
	}
}

// checkHeaders checks the page headers of a GET of pageURL.
func checkHeaders(t *testing.T, pageURL string, status int) {
	t.Helper()
	resp, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != status {
		t.Errorf("GET %s: %d, want %d", pageURL, resp.StatusCode, status)
	}
	for _, want := range []string{"script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("GET %s: Content-Security-Policy %q lacks %s", pageURL, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: Content-Security-Policy %q, X-Content-Type-Options %q", pageURL, csp, resp.Header.Get("X-Content-Type-Options"))
	}
}

func screenshot(t *testing.T, tab context.Context, name string) {
	dir := os.Getenv("HERD_SCREENSHOTS")
	if dir == "" {
		return
	}
	// The viewport only: a 50 KB string makes the page too tall for one.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 2400)); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Error(err)
	}
}

// TestPages_dashboardHostile: hostile topic names, event data, event
// types, close notices, a store path and a peer URL, all shown by the
// dashboard as text; and the dashboard works under its CSP.
func TestPages_dashboardHostile(t *testing.T) {
	browser := browsertest.Start(t)
	dir := filepath.Join(t.TempDir(), hostile[0])
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	peer := fmt.Sprintf(`http://127.0.0.1:%d/"><svg/onload=window.__pwned=1>`, freePort(t))
	h := startHerd(t, "--store", "bolt:"+filepath.Join(dir, "herd.db"), "--peers", peer)
	for _, p := range []string{"/", "/static/dashboard.js", "/static/vendor/htmx2/htmx.min.js"} {
		checkHeaders(t, h.URL+p, 200)
	}

	// Every topic gets an event of every hostile type and data, and the
	// first half are closed (the close names the topics).
	var wantRows []string // "type|data", as the inspector shows them
	for i, topic := range hostileTopics {
		for j, data := range hostile {
			typ := hostile[(i+j)%5] // short ones
			mustPublish(t, h.URL, map[string]any{"topic": topic, "data": data, "event": typ})
			wantRows = append(wantRows, typ+"|"+data)
		}
		if i < len(hostileTopics)/2 {
			mustPublish(t, h.URL, map[string]any{"topic": topic, "close": true})
		}
	}

	w := openWatched(t, browser, h.URL+"/", 2*time.Minute)
	w.waitFor(t, "the dashboard never went live", `document.body.dataset.state === "live"`)
	if got := w.text(t, `document.querySelector("header .store").textContent`); !strings.Contains(got, dir) {
		t.Errorf("the store shows %q, want the path %q literally", got, dir)
	}
	w.waitFor(t, "the peer is not shown as unreachable",
		`[...document.querySelectorAll("#nodes tbody tr")].some((r) => r.cells[0].textContent === `+jsString(peer)+` && r.cells[1].textContent === "unreachable")`)
	w.waitFor(t, "the topics table does not list the hostile topics", `document.querySelectorAll("#topics tbody tr").length === `+fmt.Sprint(len(hostileTopics)))
	shown, _ := browsertest.Eval[[]string](w.ctx, `[...document.querySelectorAll("#topics tbody tr")].map((r) => r.cells[0].textContent + "|" + r.cells[4].textContent)`)
	for i, topic := range hostileTopics {
		state := "open"
		if i < len(hostileTopics)/2 {
			state = "closed"
		}
		if !slices.Contains(shown, topic+"|"+state) {
			t.Errorf("the topics table lacks %q as %s: %q", topic, state, shown)
		}
	}

	// The inspector, from the earliest event of every hostile topic.
	w.eval(t, `const f = document.getElementById("tail"); f.topic.value = "x/**"; f.from.value = "earliest";
		document.getElementById("tail-start").click()`)
	w.waitFor(t, "the inspector did not show every event",
		fmt.Sprintf(`document.querySelectorAll("#events tbody tr:not(.close)").length === %d`, len(wantRows)))
	rows, _ := browsertest.Eval[[]string](w.ctx, `[...document.querySelectorAll("#events tbody tr:not(.close)")].map((r) => r.cells[1].textContent + "|" + r.cells[2].textContent)`)
	slices.Sort(rows)
	slices.Sort(wantRows)
	if !slices.Equal(rows, wantRows) {
		t.Errorf("the inspector shows %d events, not the %d published, literally", len(rows), len(wantRows))
	}
	screenshot(t, w.ctx, "dashboard-hostile.png")
	// A closed topic's close notice names it.
	w.eval(t, `const f = document.getElementById("tail"); f.topic.value = `+jsString(hostileTopics[0])+`; f.from.value = "earliest";
		document.getElementById("tail-start").click()`)
	w.waitFor(t, "the inspector did not show the close", `document.querySelector("#events tbody tr.close") !== null`)
	closeData := w.text(t, `document.querySelector("#events tbody tr.close").cells[2].textContent`)
	if want := jsString(hostileTopics[0]); !strings.Contains(closeData, want) {
		t.Errorf("the close notice %q does not name %s literally", closeData, want)
	}
	screenshot(t, w.ctx, "dashboard-hostile-close.png")

	// Resuming after a hostile id: a gap notice naming it, or a refusal
	// quoting it; either way, as text.
	w.eval(t, `const f = document.getElementById("tail"); f.topic.value = "x/**"; f.from.value = "id"; f.id.value = `+jsString(hostile[0])+`;
		document.getElementById("tail-start").click()`)
	w.waitFor(t, "the resume from a hostile id never answered",
		`document.querySelector("#events tbody tr.gap") !== null || document.getElementById("tailstate").textContent.startsWith("refused")`)
	if got := w.text(t, `document.getElementById("tailstate").textContent + document.getElementById("events").textContent`); !strings.Contains(got, "window.__pwned=1") {
		t.Errorf("the gap or refusal does not show the id as text: %q", got)
	}
	w.eval(t, `document.getElementById("tail-stop").click()`)

	// The playground, with hostile fields: the answer and the commands,
	// as text.
	w.eval(t, `const f = document.getElementById("pub"); f.topic.value = "x/play"; f.data.value = `+jsString(hostile[1])+`;
		f.event.value = `+jsString(hostile[3])+`; f.key.value = `+jsString(`"><svg/onload=window.__pwned=1>`)+`;
		f.dispatchEvent(new Event("input")); f.requestSubmit()`)
	w.waitFor(t, "the playground did not answer", `document.getElementById("pubstate").textContent !== ""`)
	if got := w.text(t, `document.getElementById("pubstate").textContent`); !strings.HasPrefix(got, "published ") {
		t.Errorf("the playground did not publish: %q", got)
	}
	if got := w.text(t, `document.getElementById("as-curl").textContent + document.getElementById("as-herd").textContent`); !strings.Contains(got, hostile[1]) {
		t.Errorf("the commands do not show the data literally: %q", got)
	}
	w.waitFor(t, "the charts never drew", `document.querySelector("#chart-publishes polyline").getAttribute("points") !== null`)
	w.checkNothingRan(t, "dashboard")
	w.checkCSPEnforced(t, "dashboard")
}

// TestPages_demoHostile: the demo's hub variants show hostile event data
// as text, are served only with --demo and only on the demo's topics; and
// every variant works under the CSP.
func TestPages_demoHostile(t *testing.T) {
	browser := browsertest.Start(t)
	off := startHerd(t, "--store", "memory")
	for _, q := range []string{"client=hub", "client=hub-htmx2&topic=demo/cowsay/x"} {
		checkHeaders(t, off.URL+"/demo/cowsay?"+q, 404)
	}
	h := startHerd(t, "--store", "memory", "--demo")
	checkHeaders(t, h.URL+"/demo/cowsay?client=hub&topic=orders/42", 400)
	checkHeaders(t, h.URL+"/static/cowsay.js", 200)

	const topic = "demo/cowsay/hostile"
	for _, data := range hostile {
		mustPublish(t, h.URL, map[string]any{"topic": topic, "data": data})
	}
	mustPublish(t, h.URL, map[string]any{"topic": topic, "close": true})
	for _, client := range []string{"hub", "hub-htmx2"} {
		t.Run(client, func(t *testing.T) {
			pageURL := h.URL + "/demo/cowsay?client=" + client + "&topic=" + url.QueryEscape(topic)
			checkHeaders(t, pageURL, 200)
			w := openWatched(t, browser, pageURL, time.Minute)
			w.waitFor(t, "the page never reached the close", `document.body.dataset.state === "closed"`)
			quotes, err := browsertest.Eval[[]string](w.ctx, `[...document.querySelectorAll("#quotes > div")].map((d) => d.textContent)`)
			if err != nil || !slices.Equal(quotes, hostile) {
				t.Errorf("the page shows %d entries (%v), want the %d payloads as text", len(quotes), err, len(hostile))
			}
			screenshot(t, w.ctx, "demo-"+client+"-hostile.png")
			w.checkNothingRan(t, client)
			w.checkCSPEnforced(t, client)
		})
	}

	// The variants that stream the demo's own markup, and the hub ones
	// on a run of quotes: each works under the CSP.
	const run = "demo/cowsay/quotes"
	for _, q := range demo.Quotes {
		mustPublish(t, h.URL, map[string]any{"topic": run, "data": q})
	}
	mustPublish(t, h.URL, map[string]any{"topic": run, "close": true})
	for _, client := range demo.Clients {
		t.Run("normal/"+client, func(t *testing.T) {
			pageURL := h.URL + "/demo/cowsay?interval=50ms&client=" + client + "&topic=" + run
			checkHeaders(t, pageURL, 200)
			w := openWatched(t, browser, pageURL, time.Minute)
			w.waitFor(t, "the page never reached the close", `document.body.dataset.state === "closed"`)
			if got := pageQuotes(t, w.ctx); !slices.Equal(got, demo.Quotes[:]) {
				t.Errorf("the page shows %q, want the ten quotes", got)
			}
			w.checkNothingRan(t, client)
			w.checkCSPEnforced(t, client)
		})
	}
}

// TestPages_commandsForHostileData: the dashboard's curl and herd pub
// commands, run as shown by a real shell against a real hub, publish
// exactly the topic, data, type and key typed, whatever they hold (shell
// syntax, flags, "-", newlines, control characters), and close nothing.
func TestPages_commandsForHostileData(t *testing.T) {
	browser := browsertest.Start(t)
	h := startHerd(t, "--store", "memory")
	home := t.TempDir() // the commands' ~, with a canary in it
	canary := filepath.Join(home, "canary")
	if err := os.WriteFile(canary, []byte("alive"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Some 50 herd pub and curl processes: minutes on a busy machine.
	w := openWatched(t, browser, h.URL+"/", 10*time.Minute)
	w.waitFor(t, "the dashboard never went live", `document.body.dataset.state === "live"`)

	datas := []string{
		"--close", "-x", "-", "--", "-h", "--topic=x", "'; rm -rf ~; '", "$(id)", "`id`", "${HOME}",
		"a\nb\n", "\n", "%zz", "%00", "héllo ✓ 🐄 \u202eevil", "\x01\x07\x1b[31m\t\x7f", `\`, `"`, "''", "",
		"x' \\'' y", hostile[0], "!$&*(){}[]|;<>?~#",
	}
	types := []string{"--close", "$(id)", "'x'", "`id`", "-"}
	shell := func(command string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "sh", "-c", command)
		cmd.Dir = home
		cmd.Env = []string{"HOME=" + home, "PATH=" + filepath.Dir(herdBin) + ":" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("sh -c %q: %v\n%s", command, err, out)
		}
		return string(out)
	}
	for i, data := range datas {
		typ := types[i%len(types)]
		for _, form := range []string{"curl", "herd"} {
			topic := fmt.Sprintf("-t/%d/%s/'$(id)`id`", i, form) // a topic may start with - too
			key := fmt.Sprintf("k'$(id)`id`-%d-%s", i, form)
			w.eval(t, `const f = document.getElementById("pub"); f.topic.value = `+jsString(topic)+`; f.data.value = `+jsString(data)+`;
				f.event.value = `+jsString(typ)+`; f.key.value = `+jsString(key)+`; f.dispatchEvent(new Event("input"))`)
			command := w.text(t, `document.getElementById("as-`+form+`").textContent`)
			out := shell(command)
			e, err := firstEvent(t, h.URL, topic)
			if err != nil || e.Data != data || e.Type != typ {
				t.Errorf("data %q, type %q: %s published %+v (%v)\ncommand: %s\noutput: %s", data, typ, form, e, err, command, out)
				continue
			}
			if _, err := publish(t.Context(), h.URL, map[string]any{"topic": topic, "data": "after"}); err != nil {
				t.Errorf("data %q: the %s command closed %s: %v\ncommand: %s", data, form, topic, err, command)
			}
		}
	}
	if b, err := os.ReadFile(canary); err != nil || string(b) != "alive" {
		t.Errorf("the canary in the commands' home is gone: %v", err)
	}
	w.checkNothingRan(t, "dashboard")
}

// firstEvent reads a topic's earliest event.
func firstEvent(t *testing.T, base, topic string) (sse.Event, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events?"+url.Values{"topic": {topic}, "last_event_id": {"earliest"}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sse.Event{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return sse.Event{}, fmt.Errorf("subscribe: %s", resp.Status)
	}
	return sse.NewReader(bufio.NewReader(resp.Body)).Next()
}
