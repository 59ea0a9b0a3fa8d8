//go:build linux && integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/jwt"
)

// TestDashboard drives the dashboard in Chromium: the playground
// publishes and shows the same publish as commands, the inspector tails a
// topic from its start to its close (data shown as text, never as HTML),
// the topics table and counters follow, and 10,000 topics or 600 events
// leave the page with bounded tables.
func TestDashboard(t *testing.T) {
	browser := browsertest.Start(t)
	h := startHerd(t, "--store", "memory", "--max-topics", "1000")
	tab := openTab(t, browser, h.URL+"/")
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "live"`); err != nil {
		t.Fatalf("the dashboard never went live: %v", err)
	}
	if hidden, _ := browsertest.Eval[bool](tab, `document.getElementById("token").hidden`); !hidden {
		t.Error("the token form shows on a hub without token auth")
	}
	eval := func(js string) {
		t.Helper()
		if _, err := browsertest.Eval[bool](tab, "(() => {"+js+"; return true})()"); err != nil {
			t.Fatal(err)
		}
	}

	// The playground.
	eval(`const f = document.getElementById("pub");
		f.topic.value = "dash/a"; f.data.value = "hello <b>bold</b>"; f.event.value = "note"; f.key.value = "k1";
		f.dispatchEvent(new Event("input"));
		f.requestSubmit()`)
	if err := browsertest.WaitFor(tab, `document.getElementById("pubstate").textContent.startsWith("published ")`); err != nil {
		t.Fatalf("the playground did not publish: %v", err)
	}
	curl, _ := browsertest.Eval[string](tab, `document.getElementById("as-curl").textContent`)
	herdCmd, _ := browsertest.Eval[string](tab, `document.getElementById("as-herd").textContent`)
	for _, want := range []string{"-H 'Idempotency-Key: k1'", "--data-urlencode 'topic=dash/a'", "--data-urlencode 'data=hello <b>bold</b>'", "--data-urlencode 'event=note'", "'" + h.URL + "/events'"} {
		if !strings.Contains(curl, want) {
			t.Errorf("the curl command lacks %q:\n%s", want, curl)
		}
	}
	if want := "herd pub --hub '" + h.URL + "' --event 'note' --idempotency-key 'k1' -- 'dash/a' 'hello <b>bold</b>'"; herdCmd != want {
		t.Errorf("the herd command is\n%s\nwant\n%s", herdCmd, want)
	}
	// The commands shown publish what the playground published: run the
	// herd one (the key makes it a repeat, answered with the same id).
	code, out, errOut := runHerd(t, "", "pub", "--hub", h.URL, "--event", "note", "--idempotency-key", "k1", "--", "dash/a", "hello <b>bold</b>")
	shown, _ := browsertest.Eval[string](tab, `document.getElementById("pubstate").textContent`)
	if code != 0 || !strings.Contains(shown, strings.TrimSpace(out)) {
		t.Errorf("herd pub as shown: exit %d, id %q, %s; the page published %q", code, out, errOut, shown)
	}

	// The inspector, from the earliest event to the close.
	eval(`const f = document.getElementById("tail");
		f.topic.value = "dash/a"; f.from.value = "earliest";
		document.getElementById("tail-start").click()`)
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#events tbody tr").length === 1`); err != nil {
		t.Fatalf("the inspector shows nothing: %v", err)
	}
	row, _ := browsertest.Eval[string](tab, `[...document.querySelector("#events tbody tr").cells].map(c => c.textContent).join("|")`)
	if !strings.HasSuffix(row, "|note|hello <b>bold</b>") {
		t.Errorf("the inspector's row: %q", row)
	}
	if n, _ := browsertest.Eval[float64](tab, `document.querySelectorAll("#events b").length`); n != 0 {
		t.Error("event data was rendered as HTML")
	}
	mustPublish(t, h.URL, map[string]any{"topic": "dash/a", "close": true})
	if err := browsertest.WaitFor(tab, `document.querySelector("#events tbody tr.close") !== null && document.getElementById("tailstate").textContent.includes("closed")`); err != nil {
		t.Fatalf("the inspector did not show the close: %v", err)
	}
	if err := browsertest.WaitFor(tab, `[...document.querySelectorAll("#topics tbody tr")].some(r => r.dataset.topic === "dash/a" && r.cells[4].textContent === "closed")`); err != nil {
		t.Fatalf("the topics table does not show dash/a closed: %v", err)
	}
	if err := browsertest.WaitFor(tab, `Number(document.getElementById("subscribers").value) === 0 && document.querySelector("#chart-publishes polyline").getAttribute("points") !== null`); err != nil {
		t.Errorf("the counters did not follow: %v", err)
	}

	// 10,000 topics: the table shows 200, says how many more, and filters.
	for batch := range 10 {
		var topics []string
		for i := range 1000 {
			topics = append(topics, fmt.Sprintf("many/%05d", batch*1000+i))
		}
		mustPublish(t, h.URL, map[string]any{"topic": topics, "data": "x"})
	}
	if err := browsertest.WaitFor(tab, `document.getElementById("topic-count").textContent.replace(/\D/g, "") === "10001"`); err != nil {
		t.Fatalf("the topic count never reached 10,001: %v", err)
	}
	rows, _ := browsertest.Eval[float64](tab, `document.querySelectorAll("#topics tbody tr").length`)
	more, _ := browsertest.Eval[string](tab, `document.getElementById("topics-more").textContent`)
	if rows != 200 || !strings.Contains(more, "9") || !strings.Contains(more, "more") {
		t.Errorf("with 10,001 topics: %v rows, %q", rows, more)
	}
	eval(`const f = document.getElementById("filter"); f.value = "many/09999"; f.dispatchEvent(new Event("input"))`)
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#topics tbody tr").length === 1`); err != nil {
		t.Errorf("the filter did not narrow the table: %v", err)
	}

	// A burst of events: the inspector keeps the newest 500.
	eval(`const f = document.getElementById("tail"); f.topic.value = "burst"; f.from.value = "";
		document.getElementById("tail-start").click()`)
	if err := browsertest.WaitFor(tab, `document.body.dataset.tail === "open"`); err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		mustPublish(t, h.URL, map[string]any{"topic": "burst", "data": fmt.Sprint(i)})
	}
	if err := browsertest.WaitFor(tab, `document.querySelector("#events tbody tr .data")?.textContent === "599"`); err != nil {
		t.Fatalf("the burst never arrived: %v", err)
	}
	if n, _ := browsertest.Eval[float64](tab, `document.querySelectorAll("#events tbody tr").length`); n != 500 {
		t.Errorf("the inspector holds %v rows, want the newest 500", n)
	}
}

// TestDashboard_auth: with token auth the dashboard asks for a token, and
// shows only what the token may see: topics it does not grant are never
// named, and tailing them is refused.
func TestDashboard_auth(t *testing.T) {
	browser := browsertest.Start(t)
	h := startHerd(t, "--store", "memory", "--jwt-key", corsSecret, "--subscribe-auth")
	publisher := mintToken(t, jwt.Claims{Publish: []string{"**"}})
	publishWith(t, h.URL, publisher, url.Values{"topic": {"secret/payroll"}, "data": {"x"}})
	publishWith(t, h.URL, publisher, url.Values{"topic": {"public/news"}, "data": {"y"}})
	reader := mintToken(t, jwt.Claims{Subscribe: []string{"public/**"}})

	tab := openTab(t, browser, h.URL+"/")
	if err := browsertest.WaitFor(tab, `!document.getElementById("token").hidden`); err != nil {
		t.Fatalf("no token form with token auth on: %v", err)
	}
	if n, _ := browsertest.Eval[float64](tab, `document.querySelectorAll("#topics tbody tr").length`); n != 0 {
		t.Errorf("%v topics listed without a token", n)
	}
	if _, err := browsertest.Eval[bool](tab, `(() => { const f = document.getElementById("token"); f.token.value = `+jsString(reader)+`; f.requestSubmit(); return true })()`); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#topics tbody tr").length === 1`); err != nil {
		t.Fatalf("the token's topics never showed: %v", err)
	}
	listed, _ := browsertest.Eval[string](tab, `document.getElementById("topics").textContent`)
	if !strings.Contains(listed, "public/news") || strings.Contains(listed, "secret") {
		t.Errorf("topics shown with a public/** token: %q", listed)
	}
	if _, err := browsertest.Eval[bool](tab, `(() => { const f = document.getElementById("tail"); f.topic.value = "secret/payroll"; f.from.value = "earliest"; document.getElementById("tail-start").click(); return true })()`); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(tab, `document.getElementById("tailstate").textContent.startsWith("refused (403)")`); err != nil {
		state, _ := browsertest.Eval[string](tab, `document.getElementById("tailstate").textContent`)
		t.Errorf("tailing an ungranted topic: %q (%v)", state, err)
	}
	// Nothing of the ungranted topic is shown, beyond the refusal of the
	// name the user typed.
	if shown, _ := browsertest.Eval[string](tab, `document.getElementById("topics").innerText + document.getElementById("events").innerText`); strings.Contains(shown, "payroll") {
		t.Errorf("the page shows the ungranted topic:\n%s", shown)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDashboard_off: --ui=false serves no page and no counters.
func TestDashboard_off(t *testing.T) {
	h := startHerd(t, "--store", "memory", "--ui=false")
	for _, path := range []string{"/", "/api/stats"} {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s with --ui=false: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestDashboard_nodes: with --peers, a node's dashboard shows every node
// of the hub, each node's figures asked by the node itself; a node that
// does not answer is shown as such.
func TestDashboard_nodes(t *testing.T) {
	store := sharedStore(t, "redis")
	p1, p2, gone := freePort(t), freePort(t), freePort(t)
	url2 := fmt.Sprintf("http://127.0.0.1:%d", p2)
	down := fmt.Sprintf("http://127.0.0.1:%d", gone)
	h1 := startHerd(t, "--addr", fmt.Sprintf("127.0.0.1:%d", p1), "--store", store, "--peers", url2+","+down)
	h2 := startHerd(t, "--addr", fmt.Sprintf("127.0.0.1:%d", p2), "--store", store)

	// A subscriber on the second node.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h2.URL+"/events?topic=nodes/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	browser := browsertest.Start(t)
	tab := openTab(t, browser, h1.URL+"/")
	row := func(u string) string {
		return `[...document.querySelectorAll("#nodes tbody tr")].find(r => r.dataset.node === ` + jsString(u) + `)`
	}
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#nodes tbody tr").length === 3 && `+row(url2)+`?.cells[1].textContent === "1"`); err != nil {
		got, _ := browsertest.Eval[string](tab, `document.getElementById("nodes").innerText`)
		t.Fatalf("the nodes table: %v\n%s", err, got)
	}
	if got, _ := browsertest.Eval[string](tab, row(down)+`.cells[1].textContent`); got != "unreachable" {
		t.Errorf("the node that does not answer shows %q", got)
	}
	if code, _, errOut := runHerd(t, "", "serve", "--store", "memory", "--peers", "10.0.0.2:8080"); code != 2 || !strings.Contains(errOut, "--peers") {
		t.Errorf("--peers without a scheme: exit %d, %s", code, errOut)
	}
}
