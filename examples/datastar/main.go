// Command datastar shows a Datastar page driven through herd: the page
// subscribes to a herd topic with Datastar's @get, and this program (any
// backend would do) publishes Datastar's own events to it with plain HTTP
// POSTs: datastar-patch-elements to morph and append elements,
// datastar-patch-signals to update signals. herd stores and fans them
// out, and a page that reconnects resumes where it was.
//
//	go run ./examples/datastar --hub http://localhost:8080
//
// herd must allow this page's origin: herd --cors-origins http://localhost:8001.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/herd-sse/herd/examples/internal/hubcheck"
)

//go:embed static
var static embed.FS

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Datastar through herd</title>
<script type="module" src="/static/datastar.js"></script>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }</style>
</head><body>
<h1>Datastar through herd</h1>
<div data-signals="{ticks: 0, done: false}" data-init="@get('{{.Stream}}')">
  <p>Clock: <span id="clock">…</span></p>
  <p>Ticks: <span id="ticks" data-text="$ticks"></span> <span id="done" data-show="$done">(done)</span></p>
  <ul id="feed"></ul>
</div>
</body></html>`))

// Datastar's events, as herd publishes them: the event type, and the data
// lines Datastar reads (herd writes each line as its own data: line).

// patchElements morphs elements into the page: by their ids, or at selector
// with mode (append, prepend, inner, …).
func patchElements(selector, mode, elements string) (event, data string) {
	var lines []string
	if selector != "" {
		lines = append(lines, "selector "+selector)
	}
	if mode != "" {
		lines = append(lines, "mode "+mode)
	}
	for _, l := range strings.Split(elements, "\n") {
		lines = append(lines, "elements "+l)
	}
	return "datastar-patch-elements", strings.Join(lines, "\n")
}

// patchSignals merges signals into the page's.
func patchSignals(signals map[string]any) (event, data string) {
	b, _ := json.Marshal(signals)
	return "datastar-patch-signals", "signals " + string(b)
}

// publisher publishes to one herd topic.
type publisher struct {
	hub, topic, key string
}

func (p publisher) publish(ctx context.Context, event, data string, close bool) error {
	form := url.Values{"topic": {p.topic}, "event": {event}, "data": {data}}
	if close {
		form.Set("close", "true")
	}
	req, err := http.NewRequestWithContext(ctx, "POST", p.hub+"/events", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var answer struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&answer)
		return fmt.Errorf("herd answered %s: %s", resp.Status, answer.Error)
	}
	return nil
}

// run publishes n ticks, then closes the topic: the page's stream ends,
// and Datastar does not reconnect after a clean end.
func (p publisher) run(ctx context.Context, n int, interval time.Duration) error {
	for i := 1; i <= n; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		now := time.Now().UTC().Format("15:04:05.000")
		steps := [][2]string{
			pair(patchElements("", "", `<span id="clock">`+now+`</span>`)),
			pair(patchElements("#feed", "append", fmt.Sprintf(`<li>tick %d at %s</li>`, i, now))),
			pair(patchSignals(map[string]any{"ticks": i, "done": i == n})),
		}
		for j, s := range steps {
			if err := p.publish(ctx, s[0], s[1], i == n && j == len(steps)-1); err != nil {
				return err
			}
		}
	}
	return nil
}

func pair(a, b string) [2]string { return [2]string{a, b} }

func main() {
	addr := flag.String("addr", "localhost:8001", "listen address")
	hub := flag.String("hub", "http://localhost:8080", "herd's URL")
	ticks := flag.Int("ticks", 10, "ticks to publish before closing the topic")
	interval := flag.Duration("interval", time.Second, "time between ticks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	p := publisher{hub: strings.TrimSuffix(*hub, "/"), topic: "datastar/" + time.Now().UTC().Format("20060102-150405.000"),
		key: os.Getenv("HERD_PUBLISH_KEY")}
	// From the earliest event: a page that loads late, or reconnects,
	// misses nothing.
	stream := p.hub + "/events?topic=" + url.QueryEscape(p.topic) + "&last_event_id=earliest"
	sub, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page.Execute(w, map[string]string{"Stream": stream})
	})
	srv := &http.Server{Addr: *addr, Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := p.run(ctx, *ticks, *interval); err != nil && ctx.Err() == nil {
			log.Printf("publishing: %v", err)
		}
	}()
	hubcheck.CORS(os.Stderr, p.hub, hubcheck.Origin(*addr)) // says what to run if herd would refuse the pages
	fmt.Printf("Datastar page on http://%s, publishing to %s (topic %s)\n", *addr, p.hub, p.topic)
	if err := srv.ListenAndServe(); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
