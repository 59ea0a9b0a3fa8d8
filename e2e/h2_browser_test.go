//go:build linux && integration

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/herd-sse/herd/internal/browsertest"
)

// TestBrowser_h2Engine50Streams: one page holds 50 streams to one HTTPS
// origin served by herd's own HTTP/2 server (--h2-engine): 25 native
// EventSource and 25 htmx (the demo page's, and 24 more). Chromium opens
// them on a single HTTP/2 connection, and herd parks all 50 (no goroutine
// each). The hub is killed (kill -9) and restarted on its file; every
// stream resumes with Last-Event-ID and ends with each event once.
func TestBrowser_h2Engine50Streams(t *testing.T) {
	browser := browsertest.Start(t)
	db := filepath.Join(t.TempDir(), "herd.db")
	h := startHerd(t, "--store", "bolt:"+db, "--tls", "self-signed", "--h2-engine", "--demo",
		"--retry", "500ms", "--log-level", "debug")
	const pageTopic = "demo/cowsay/h2-engine"
	var topics []string
	for i := range 25 {
		topics = append(topics, fmt.Sprintf("h2/es/%d", i))
	}
	for i := range 24 {
		topics = append(topics, fmt.Sprintf("h2/hx/%d", i))
	}
	topics = append(topics, pageTopic)

	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancelTimeout := context.WithTimeout(tab, 3*time.Minute)
	defer cancelTimeout()
	var mu sync.Mutex
	conns := map[string]map[float64]bool{} // protocol → connection ids of /events responses
	answered := map[string]bool{}          // /events URLs with a response
	err := chromedp.Listen(tab, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceived); ok && strings.Contains(r.Response.URL, "/events?") {
			mu.Lock()
			if conns[r.Response.Protocol] == nil {
				conns[r.Response.Protocol] = map[float64]bool{}
			}
			conns[r.Response.Protocol][r.Response.ConnectionID] = true
			answered[r.Response.URL] = true
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(h.URL+"/demo/cowsay?client=hub-htmx2&topic="+pageTopic)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "streaming"`); err != nil {
		t.Fatalf("page never connected: %v", err)
	}
	// 25 EventSources, each keeping what it receives; 24 htmx elements
	// like the page's own.
	open := `(() => {
	  window.got = {};
	  for (let i = 0; i < 25; i++) {
	    const t = "h2/es/" + i;
	    window.got[t] = [];
	    new EventSource("/events?topic=" + encodeURIComponent(t)).onmessage = e => window.got[t].push(e.data);
	  }
	  for (let i = 0; i < 24; i++) {
	    const d = document.createElement("div");
	    d.id = "hx" + i;
	    d.setAttribute("hx-ext", "sse");
	    d.setAttribute("sse-connect", "/events?topic=" + encodeURIComponent("h2/hx/" + i));
	    d.setAttribute("sse-swap", "message");
	    d.setAttribute("hx-swap", "beforeend");
	    document.body.appendChild(d);
	    htmx.process(d);
	  }
	  return true;
	})()`
	if _, err := browsertest.Eval[bool](tab, open); err != nil {
		t.Fatal(err)
	}
	waitParked(t, h, 50)
	// herd parking a stream does not mean this listener has had its
	// response yet: Chromium reports it to DevTools later, and chromedp
	// later still. So the connections are counted once all 50 responses
	// are in, and no late one lands in the count after the restart. Before,
	// in about 1 run in 10, 7 to 21 of them did (just after the reset here,
	// before the kill, on the first connection's id), and the test reported
	// two connections after the restart where Chromium's netlog showed one
	// HTTP/2 session.
	waitAnswered(t, &mu, answered, 50)
	mu.Lock()
	if len(conns) != 1 || len(conns["h2"]) != 1 {
		t.Errorf("the 50 streams went over %v (protocol → connection ids), want one h2 connection", conns)
	}
	conns = map[string]map[float64]bool{}
	clear(answered)
	mu.Unlock()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	publishAll := func(base, data string) {
		for _, topic := range topics {
			if _, err := h2Publish(t, client, base, topic, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	publishAll(h.URL, "a")
	waitReceived(t, tab, []string{"a"})

	h.kill9()
	checkNoRace(t, h)
	client.CloseIdleConnections()
	h = h.restart()
	publishAll(h.URL, "b") // most streams are not back yet: they resume with Last-Event-ID
	waitParked(t, h, 50)
	publishAll(h.URL, "c")
	waitReceived(t, tab, []string{"a", "b", "c"})
	if n := strings.Count(h.stderr.String(), `msg="subscriber started"`) - strings.Count(h.stderr.String(), "last_event_id=\"\""); n < 50 {
		t.Errorf("only %d of the 50 streams resumed with an id after the restart:\n%s", n, h.stderr)
	}
	waitAnswered(t, &mu, answered, 50)
	mu.Lock()
	if len(conns) != 1 || len(conns["h2"]) != 1 {
		t.Errorf("after the restart the streams went over %v (protocol → connection ids), want one h2 connection", conns)
	}
	mu.Unlock()
	checkNoRace(t, h)
}

// waitParked waits until herd holds n streams on its engine.
func waitParked(t *testing.T, h *herd, n int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	re := regexp.MustCompile(`(?m)^herd_subscribers_parked (\d+)`)
	var last string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(h.URL + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := re.FindSubmatch(b); m != nil {
			last = string(m[1])
			if got, _ := strconv.Atoi(last); got == n {
				return
			}
		}
	}
	t.Fatalf("herd parked %s streams, want %d\n%s", last, n, h.stderr)
}

// waitAnswered waits until the tab's listener has seen a response to n
// distinct /events URLs (answered, guarded by mu).
func waitAnswered(t *testing.T, mu *sync.Mutex, answered map[string]bool, n int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		got = len(answered)
		mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("the browser reported responses to %d /events URLs, want %d", got, n)
}

// waitReceived waits until every stream of the page has received want,
// in order and once each: the EventSources in window.got, the htmx
// elements (and the page's own #quotes) in their text.
func waitReceived(t *testing.T, tab context.Context, want []string) {
	t.Helper()
	w, _ := json.Marshal(want)
	check := fmt.Sprintf(`(() => {
	  const want = %s.join("|");
	  const es = Object.values(window.got).every(g => g.join("|") === want);
	  const hx = [...document.querySelectorAll("[id^=hx]")].every(d => d.textContent === want.replaceAll("|", ""));
	  const page = document.querySelector("#quotes").textContent === want.replaceAll("|", "");
	  return es && hx && page;
	})()`, w)
	if err := browsertest.WaitFor(tab, check); err != nil {
		state, _ := browsertest.Eval[string](tab, `JSON.stringify({es: window.got, hx: [...document.querySelectorAll("[id^=hx]")].map(d => d.textContent), page: [...document.querySelectorAll("#quotes > div")].map(d => d.textContent)})`)
		t.Fatalf("the streams never all had %q: %v\n%s", want, err, state)
	}
}

// h2Publish publishes data to topic with client (which trusts herd's
// self-signed certificate).
func h2Publish(t testing.TB, client *http.Client, base, topic, data string) (string, error) {
	b, _ := json.Marshal(map[string]any{"topic": topic, "data": data})
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/events", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	return sendPublish(client, req)
}
