//go:build linux && integration

package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/herd-sse/herd/internal/browsertest"
)

// TestDashboard_newcomer: what a first visit needs: a favicon, charts
// that name their peak, the inspector's id asked for only after "after
// the id", subscribe snippets for its topics, a closed topic reopened from
// the playground, errors marked, and a page that fits a 400 px screen.
func TestDashboard_newcomer(t *testing.T) {
	t.Parallel()
	browser := browsertest.Start(t)
	h := startHerd(t, "--store", "memory")
	resp, err := http.Get(h.URL + "/static/favicon.svg")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("favicon: %v %v", err, resp)
	}
	resp.Body.Close()
	tab := openTab(t, browser, h.URL+"/")
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "live"`); err != nil {
		t.Fatalf("the dashboard never went live: %v", err)
	}
	str := func(js string) string {
		t.Helper()
		v, err := browsertest.Eval[string](tab, js)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := str(`document.querySelector("link[rel=icon]").getAttribute("href")`); got != "/static/favicon.svg" {
		t.Errorf("icon link %q", got)
	}
	if err := browsertest.WaitFor(tab, `document.getElementById("peak-publishes").textContent.startsWith("peak ")`); err != nil {
		t.Errorf("the chart names no peak: %v", err)
	}
	// The id field, only after "after the id".
	if got := str(`String(document.querySelector("#tail [name=id]").disabled)`); got != "true" {
		t.Errorf("the id field is enabled while tailing new events")
	}
	if got := str(`(() => { const f = document.getElementById("tail"); f.from.value = "id"; f.from.dispatchEvent(new Event("change")); return String(f.id.disabled) })()`); got != "false" {
		t.Errorf("the id field stays disabled after choosing an id")
	}
	// Subscribe snippets follow the inspector's topics.
	str(`(() => { const f = document.getElementById("tail"); f.topic.value = "orders/42"; f.topic.dispatchEvent(new Event("input")); return "" })()`)
	want := h.URL + "/events?topic=orders%2F42"
	if got := str(`document.getElementById("sub-curl").textContent`); got != "curl -N '"+want+"'" {
		t.Errorf("curl snippet %q", got)
	}
	if got := str(`document.getElementById("sub-eventsource").textContent`); !strings.Contains(got, `new EventSource("`+want+`")`) || !strings.Contains(got, "textContent") {
		t.Errorf("EventSource snippet %q", got)
	}
	if got := str(`document.getElementById("sub-htmx").textContent`); !strings.Contains(got, `sse-connect="`+want+`"`) {
		t.Errorf("htmx snippet %q", got)
	}
	// A closed topic, reopened from the playground.
	publishForm := func(data string, close bool) {
		t.Helper()
		js := `(() => { const f = document.getElementById("pub"); f.topic.value = "dash/again"; f.data.value = ` + jsString(data) + `; f.close.checked = ` + map[bool]string{true: "true", false: "false"}[close] + `; document.getElementById("pubstate").textContent = ""; f.requestSubmit(); return "" })()`
		str(js)
	}
	publishForm("bye", true)
	if err := browsertest.WaitFor(tab, `document.getElementById("pubstate").textContent.startsWith("published ")`); err != nil {
		t.Fatal(err)
	}
	publishForm("again", false)
	if err := browsertest.WaitFor(tab, `document.getElementById("pubstate").textContent.startsWith("refused (409)") && !document.getElementById("reopen").hidden`); err != nil {
		t.Fatalf("a publish to the closed topic offers no reopen: %v (%s)", err, str(`document.getElementById("pubstate").textContent`))
	}
	if got := str(`getComputedStyle(document.getElementById("pubstate")).color`); got == str(`getComputedStyle(document.querySelector(".store")).color`) {
		t.Errorf("the refusal is shown in the muted colour %s", got)
	}
	str(`(() => { document.getElementById("reopen").click(); return "" })()`)
	if err := browsertest.WaitFor(tab, `document.getElementById("pubstate").textContent.startsWith("reopened dash/again")`); err != nil {
		t.Fatalf("reopen from the playground: %v (%s)", err, str(`document.getElementById("pubstate").textContent`))
	}
	publishForm("again", false)
	if err := browsertest.WaitFor(tab, `document.getElementById("pubstate").textContent.startsWith("published ")`); err != nil {
		t.Fatalf("publish after the reopen: %v", err)
	}
	// 400 px wide: nothing wider than the screen.
	if _, err := chromedp.Run(tab, chromedp.EmulateViewport(400, 900)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(tab, `document.documentElement.scrollWidth <= 400`); err != nil {
		t.Errorf("at 400 px the page is %s px wide", str(`String(document.documentElement.scrollWidth)`))
	}
}
