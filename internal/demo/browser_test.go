//go:build integration

package demo_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/herd-sse/herd/internal/browsertest"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/web"
	"github.com/herd-sse/herd/sse"
)

// countingServer serves the demo and counts requests to its stream.
type countingServer struct {
	*httptest.Server
	streams atomic.Int64
}

func newCountingServer(t *testing.T, tls bool, extra func(*http.ServeMux)) *countingServer {
	c := &countingServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/cowsay", (&demo.Handler{}).Page)
	mux.HandleFunc("GET /demo/cowsay/events", func(w http.ResponseWriter, r *http.Request) {
		c.streams.Add(1)
		(&demo.Handler{}).Events(w, r)
	})
	mux.Handle("GET /static/", web.Static())
	if extra != nil {
		extra(mux)
	}
	c.Server = httptest.NewUnstartedServer(mux)
	if tls {
		c.EnableHTTP2 = true
		c.StartTLS()
	} else {
		c.Start()
	}
	t.Cleanup(c.Close)
	return c
}

// TestBrowser_cowsay loads each page variant in Chromium and checks that it
// shows exactly the ten quotes, in order, and then stops: the server sees
// no second request to the stream in a window well past the end (the
// stream asks for a 1s reconnection delay).
func TestBrowser_cowsay(t *testing.T) {
	browser := browsertest.Start(t)
	for _, client := range []string{"eventsource", "htmx2", "htmx4"} { // the hub variants: see e2e
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			srv := newCountingServer(t, false, nil)
			tab, cancel := chromedp.NewContext(browser)
			defer cancel()
			tab, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
			defer cancelTimeout()

			if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/demo/cowsay?interval=100ms&client="+client)); err != nil {
				t.Fatal(err)
			}
			if err := browsertest.WaitFor(tab, `document.body.dataset.state === "closed"`); err != nil {
				t.Fatalf("page never reached the closed state: %v", err)
			}
			quotes, err := browsertest.Eval[[]string](tab, `[...document.querySelectorAll("#quotes > div")].map(d => d.textContent)`)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(quotes, "|") != strings.Join(demo.Quotes[:], "|") {
				t.Errorf("page shows %d quotes:\n%q\nwant the ten, in order", len(quotes), quotes)
			}
			time.Sleep(4 * time.Second) // four reconnection delays
			state, err := browsertest.Eval[string](tab, `document.body.dataset.state`)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := browsertest.Eval[int](tab, `document.querySelectorAll("#quotes > div").length`)
			if after != len(demo.Quotes) {
				t.Errorf("%d quotes on the page after the window", after)
			}
			if n := srv.streams.Load(); n != 1 {
				t.Errorf("%d requests to the stream, want 1: the page restarted it", n)
			}
			if state != "closed" {
				t.Errorf("state %q after the window", state)
			}
		})
	}
}

// tenStreamsPage opens ten EventSources on the cowsay stream and records,
// in one sequence, when each got its first quote and when each closed.
const tenStreamsPage = `<!doctype html><meta charset="utf-8"><body>
<script>
  let seq = 0;
  window.firsts = []; window.closes = [];
  for (let i = 0; i < 10; i++) {
    const es = new EventSource("/demo/cowsay/events?interval=300ms&n=" + i);
    es.onmessage = () => { if (window.firsts[i] === undefined) window.firsts[i] = seq++; };
    es.addEventListener("closeStream", () => { es.close(); window.closes[i] = seq++; });
  }
</script>`

// TestBrowser_tenStreams shows the seed post's HTTP/1.1 pitfall and its
// fix: over HTTP/2 one page receives on ten streams at once; over HTTP/1.1
// only six streams run until one of them ends.
func TestBrowser_tenStreams(t *testing.T) {
	browser := browsertest.Start(t)
	page := func(mux *http.ServeMux) {
		mux.HandleFunc("GET /ten", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, tenStreamsPage)
		})
	}
	for _, tc := range []struct {
		name         string
		tls          bool
		beforeClosed int // streams with a quote before the first stream ended
	}{
		{"http2", true, 10},
		{"http1.1", false, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newCountingServer(t, tc.tls, page)
			tab, cancel := chromedp.NewContext(browser)
			defer cancel()
			tab, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
			defer cancelTimeout()
			if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/ten")); err != nil {
				t.Fatal(err)
			}
			if err := browsertest.WaitFor(tab, `window.closes.filter(x => x !== undefined).length === 10`); err != nil {
				t.Fatalf("ten streams did not all finish: %v", err)
			}
			firsts, err := browsertest.Eval[[]int](tab, `window.firsts`)
			if err != nil {
				t.Fatal(err)
			}
			closes, _ := browsertest.Eval[[]int](tab, `window.closes`)
			proto, _ := browsertest.Eval[string](tab, `performance.getEntriesByType("navigation")[0].nextHopProtocol`)
			if want := map[bool]string{true: "h2", false: "http/1.1"}[tc.tls]; proto != want {
				t.Fatalf("page loaded over %q, want %q", proto, want)
			}
			firstClose := closes[0]
			for _, c := range closes {
				firstClose = min(firstClose, c)
			}
			early := 0
			for _, f := range firsts {
				if f < firstClose {
					early++
				}
			}
			if early != tc.beforeClosed {
				t.Errorf("%d streams received before the first one ended, want %d (firsts %v, closes %v)", early, tc.beforeClosed, firsts, closes)
			}
			if n := srv.streams.Load(); n != 10 {
				t.Errorf("%d stream requests, want 10", n)
			}
		})
	}
}

// TestBrowser_resumeAcrossRestart shuts the server down while the page is
// streaming and starts a new one on the same address: the page reconnects
// by itself with Last-Event-ID and ends with the ten quotes, each once.
func TestBrowser_resumeAcrossRestart(t *testing.T) {
	browser := browsertest.Start(t)
	var lastIDs []string
	var mu sync.Mutex
	var drain sse.Drain // the first server's streams end when it shuts down
	handler := func() http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /demo/cowsay", (&demo.Handler{}).Page)
		mux.HandleFunc("GET /demo/cowsay/events", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			mu.Unlock()
			(&demo.Handler{Drain: &drain}).Events(w, r)
		})
		mux.Handle("GET /static/", web.Static())
		return mux
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	first := &http.Server{Handler: handler()}
	first.RegisterOnShutdown(drain.Start)
	go first.Serve(ln)

	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	defer cancelTimeout()
	// At 1.5s a quote the stream lasts 15s; the shutdown after the third
	// quote ends it within the 5s drain window, well before its end.
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+addr+"/demo/cowsay?interval=1500ms")); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(tab, `document.querySelectorAll("#quotes > div").length >= 3`); err != nil {
		t.Fatal(err)
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelShutdown()
	if err := first.Shutdown(shutdownCtx); err != nil { // streams end within the drain window
		t.Fatalf("shutdown: %v", err)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	second := &http.Server{Handler: handler()}
	go second.Serve(ln2)
	defer second.Close()

	if err := browsertest.WaitFor(tab, `document.body.dataset.state === "closed"`); err != nil {
		t.Fatalf("page never finished after the restart: %v", err)
	}
	quotes, err := browsertest.Eval[[]string](tab, `[...document.querySelectorAll("#quotes > div")].map(d => d.textContent)`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(quotes, "|") != strings.Join(demo.Quotes[:], "|") {
		t.Errorf("after the restart the page shows %d quotes:\n%q\nwant the ten, each once, in order", len(quotes), quotes)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lastIDs) < 2 || lastIDs[0] != "" || lastIDs[len(lastIDs)-1] == "" {
		t.Errorf("Last-Event-ID per request: %q; want none first, then the resume point", lastIDs)
	}
}
