// Command htmx shows htmx 2 and htmx 4 pages driven through herd:
//
//   - a board: one stream updating several elements. htmx 2 swaps by event
//     type (sse-swap="price"); htmx 4 swaps unnamed events only, so its
//     board gets out-of-band swaps (hx-swap-oob), which both versions
//     understand.
//   - a chat: a form that posts to this program, which publishes to herd,
//     and a list that streams from herd from the start of the history; a
//     page that lost its connection (or a herd that restarted) resumes
//     with Last-Event-ID, missing nothing and showing nothing twice.
//
// The pages load htmx from herd's own /static/vendor.
//
//	go run ./examples/htmx --hub http://localhost:8080
//
// herd must allow this page's origin: herd --cors-origins http://localhost:8002.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"html/template"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/herd-sse/herd/examples/internal/hubcheck"
)

const (
	boardTyped = "htmx/board/typed" // events by type, for htmx 2's sse-swap
	boardOOB   = "htmx/board/oob"   // unnamed events with out-of-band swaps
	chatTopic  = "htmx/chat"
)

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>htmx {{.V}} through herd</title>
{{- if eq .V "4"}}
<meta name="htmx-config" content='{"mode":"cors"}'>
<script src="{{.Hub}}/static/vendor/htmx4/htmx.min.js"></script>
<script src="{{.Hub}}/static/vendor/htmx4/hx-sse.min.js"></script>
{{- else}}
<script src="{{.Hub}}/static/vendor/htmx2/htmx.min.js"></script>
<script src="{{.Hub}}/static/vendor/htmx2/sse.js"></script>
{{- end}}
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }</style>
</head><body>{{end}}

{{define "index"}}{{template "head" .}}
<h1>htmx through herd</h1>
<ul>
<li><a href="/board?htmx=2">board, htmx 2</a> · <a href="/board?htmx=4">board, htmx 4</a></li>
<li><a href="/chat?htmx=2">chat, htmx 2</a> · <a href="/chat?htmx=4">chat, htmx 4</a></li>
</ul></body></html>{{end}}

{{define "board"}}{{template "head" .}}
<h1>Board (htmx {{.V}})</h1>
{{- if eq .V "4"}}
<div hx-sse:connect="{{.Stream}}" hx-swap="none">
{{- else}}
<div hx-ext="sse" sse-connect="{{.Stream}}">
{{- end}}
  <p>Price: <b id="price" {{if ne .V "4"}}sse-swap="price"{{end}}>…</b></p>
  <p>Status: <span id="status" {{if ne .V "4"}}sse-swap="status"{{end}}>…</span></p>
  <ul id="news" {{if ne .V "4"}}sse-swap="news" hx-swap="beforeend"{{end}}></ul>
</div></body></html>{{end}}

{{define "chat"}}{{template "head" .}}
<h1>Chat (htmx {{.V}})</h1>
{{- /* htmx 4 renamed the event: htmx:afterRequest became htmx:after:request */}}
<form hx-post="/say" hx-swap="none" {{if eq .V "4"}}hx-on::after:request{{else}}hx-on::after-request{{end}}="this.reset()">
  <input name="name" placeholder="name" size="8" required> <input name="text" placeholder="say something" size="30" required>
  <button>Send</button>
</form>
{{- if eq .V "4"}}
<ul id="messages" hx-sse:connect="{{.Stream}}" hx-swap="beforeend"></ul>
{{- else}}
<ul id="messages" hx-ext="sse" sse-connect="{{.Stream}}" sse-swap="message" hx-swap="beforeend"></ul>
{{- end}}
</body></html>{{end}}
`))

type server struct {
	hub, key string
}

func (s *server) publish(ctx context.Context, topic, event, data string) error {
	form := url.Values{"topic": {topic}, "data": {data}}
	if event != "" {
		form.Set("event", event)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", s.hub+"/events", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
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

// board publishes the board's updates, both ways, until ctx is done.
func (s *server) board(ctx context.Context, interval time.Duration) {
	price := 100.0
	failing := false // log the first failure of a run of them, not each
	for tick := 1; ctx.Err() == nil; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		price += rand.Float64()*2 - 1
		p := fmt.Sprintf("%.2f", price)
		status := fmt.Sprintf("tick %d", tick)
		news := fmt.Sprintf("<li>news %d</li>", tick)
		updates := []struct{ topic, event, data string }{
			{boardTyped, "price", p},
			{boardTyped, "status", status},
			{boardTyped, "news", news},
			{boardOOB, "", `<b id="price" hx-swap-oob="true">` + p + `</b>` +
				`<span id="status" hx-swap-oob="true">` + status + `</span>` +
				`<ul hx-swap-oob="beforeend:#news">` + news + `</ul>`},
		}
		for _, u := range updates {
			err := s.publish(ctx, u.topic, u.event, u.data)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				log.Printf("board: %v (retrying each tick)", err)
				failing = true
			case err == nil && failing:
				log.Printf("board: publishing again")
				failing = false
			}
		}
	}
}

func (s *server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("htmx")
		if v != "4" {
			v = "2"
		}
		topic := boardTyped
		switch {
		case name == "chat":
			topic = chatTopic
		case v == "4":
			topic = boardOOB
		}
		// From the start of the history: a page that loads late shows
		// everything said so far.
		stream := s.hub + "/events?topic=" + url.QueryEscape(topic)
		if name == "chat" {
			stream += "&last_event_id=earliest"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pages.ExecuteTemplate(w, name, map[string]string{"V": v, "Hub": s.hub, "Stream": stream})
	}
}

// say publishes a chat message, escaped: what users type is never markup.
func (s *server) say(w http.ResponseWriter, r *http.Request) {
	name, text := strings.TrimSpace(r.FormValue("name")), strings.TrimSpace(r.FormValue("text"))
	if name == "" || text == "" || len(name) > 40 || len(text) > 500 {
		http.Error(w, "a name (up to 40 characters) and a message (up to 500) are needed", http.StatusBadRequest)
		return
	}
	msg := "<li><b>" + html.EscapeString(name) + ":</b> " + html.EscapeString(text) + "</li>"
	if err := s.publish(r.Context(), chatTopic, "", msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	addr := flag.String("addr", "localhost:8002", "listen address")
	hub := flag.String("hub", "http://localhost:8080", "herd's URL")
	interval := flag.Duration("interval", time.Second, "time between board updates")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s := &server{hub: strings.TrimSuffix(*hub, "/"), key: os.Getenv("HERD_PUBLISH_KEY")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page("index"))
	mux.HandleFunc("GET /board", s.page("board"))
	mux.HandleFunc("GET /chat", s.page("chat"))
	mux.HandleFunc("POST /say", s.say)
	srv := &http.Server{Addr: *addr, Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go s.board(ctx, *interval)
	hubcheck.CORS(os.Stderr, s.hub, hubcheck.Origin(*addr)) // says what to run if herd would refuse the pages
	fmt.Printf("htmx pages on http://%s, publishing to %s\n", *addr, s.hub)
	if err := srv.ListenAndServe(); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
