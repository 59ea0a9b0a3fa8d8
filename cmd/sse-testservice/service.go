package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herd-sse/herd/sse"
)

// capabilities are the optional harness features the client supports.
// "server-directed-shutdown-request": a 204 No Content ends the stream for
// good, reported as an error callback, with no reconnection.
var capabilities = []string{"headers", "last-event-id", "post", "report", "read-timeout", "restart", "comments", "bom", "server-directed-shutdown-request"}

// service is the test service's HTTP API.
type service struct {
	exit func() // DELETE / stops the service

	mu      sync.Mutex
	next    int
	streams map[string]*stream
	mux     *http.ServeMux
}

func newService(exit func()) *service {
	s := &service{exit: exit, streams: make(map[string]*stream)}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.status)
	s.mux.HandleFunc("DELETE /{$}", s.stop)
	s.mux.HandleFunc("POST /{$}", s.create)
	s.mux.HandleFunc("POST /streams/{id}", s.command)
	s.mux.HandleFunc("DELETE /streams/{id}", s.close)
	return s
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *service) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"capabilities": capabilities})
}

func (s *service) stop(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
	s.exit()
}

// createParams is the body of POST /.
type createParams struct {
	StreamURL      string            `json:"streamUrl"`
	CallbackURL    string            `json:"callbackUrl"`
	Tag            string            `json:"tag"`
	InitialDelayMS *int              `json:"initialDelayMs"`
	ReadTimeoutMS  *int              `json:"readTimeoutMs"`
	LastEventID    string            `json:"lastEventId"`
	Method         string            `json:"method"`
	Body           *string           `json:"body"`
	Headers        map[string]string `json:"headers"`
}

func (s *service) create(w http.ResponseWriter, r *http.Request) {
	var p createParams
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if p.StreamURL == "" || p.CallbackURL == "" {
		http.Error(w, "streamUrl and callbackUrl are required", http.StatusBadRequest)
		return
	}
	method := p.Method
	if method == "" {
		method = "GET"
	}
	var body io.Reader
	if p.Body != nil {
		body = strings.NewReader(*p.Body)
	}
	req, err := http.NewRequest(method, p.StreamURL, body)
	if err != nil {
		http.Error(w, "bad stream request: "+err.Error(), http.StatusBadRequest)
		return
	}
	for name, value := range p.Headers {
		req.Header.Set(name, value)
	}
	if p.LastEventID != "" {
		req.Header.Set("Last-Event-ID", p.LastEventID)
	}
	client := &sse.Client{CloseEvent: sse.NoCloseEvent} // the harness tests EventSource's behaviour
	if p.InitialDelayMS != nil {
		client.Retry = max(time.Duration(*p.InitialDelayMS)*time.Millisecond, time.Nanosecond)
	}
	if p.ReadTimeoutMS != nil {
		client.ReadTimeout = time.Duration(*p.ReadTimeoutMS) * time.Millisecond
	}

	s.mu.Lock()
	s.next++
	id := strconv.Itoa(s.next)
	st := newStream(client, req, p.CallbackURL)
	s.streams[id] = st
	s.mu.Unlock()
	go st.run()

	w.Header().Set("Location", "/streams/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (s *service) lookup(w http.ResponseWriter, r *http.Request) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[r.PathValue("id")]
	if st == nil {
		http.Error(w, "no such stream", http.StatusNotFound)
	}
	return st
}

func (s *service) command(w http.ResponseWriter, r *http.Request) {
	st := s.lookup(w, r)
	if st == nil {
		return
	}
	var c struct {
		Command string `json:"command"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&c); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch c.Command {
	case "restart":
		st.sub.Restart()
	case "listen":
		// The client delivers every event type without being asked.
	default:
		http.Error(w, fmt.Sprintf("unknown command %q", c.Command), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *service) close(w http.ResponseWriter, r *http.Request) {
	st := s.lookup(w, r)
	if st == nil {
		return
	}
	s.mu.Lock()
	delete(s.streams, r.PathValue("id"))
	s.mu.Unlock()
	st.close()
	w.WriteHeader(http.StatusNoContent)
}

// closeAll stops every client, waiting for each.
func (s *service) closeAll() {
	s.mu.Lock()
	streams := s.streams
	s.streams = map[string]*stream{}
	s.mu.Unlock()
	for _, st := range streams {
		st.close()
	}
}

// A stream is one client instance, reporting to its callback URL.
type stream struct {
	sub      *sse.Subscription
	callback string
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	n        int // callbacks sent
}

func newStream(client *sse.Client, req *http.Request, callback string) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{callback: strings.TrimSuffix(callback, "/"), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	// The hooks run on st.run's goroutine, inside Next, so callbacks go
	// out in the order things happened on the wire.
	client.OnComment = func(text string) {
		st.report(map[string]any{"kind": "comment", "comment": text})
	}
	client.Reconnect = func(err error, _ time.Duration) bool {
		st.report(map[string]any{"kind": "error", "error": err.Error()})
		return true
	}
	st.sub = client.Subscribe(ctx, req)
	return st
}

func (st *stream) run() {
	defer close(st.done)
	for {
		e, err := st.sub.Next()
		if st.ctx.Err() != nil {
			return // closed by the harness: no callback
		}
		if err == io.EOF {
			// Not closed by the harness, so the server answered 204: the
			// client has stopped for good, which the harness hears as an
			// error, as LaunchDarkly's own clients report it.
			st.report(map[string]any{"kind": "error", "error": "the server answered 204 No Content: the stream has ended, not reconnecting"})
			return
		}
		if err != nil {
			st.report(map[string]any{"kind": "error", "error": err.Error()})
			return
		}
		typ := e.Type
		if typ == "" {
			typ = "message"
		}
		st.report(map[string]any{"kind": "event", "event": map[string]string{"type": typ, "data": e.Data, "id": e.ID}})
	}
}

// report posts one callback to <callback>/<n>, numbered from 1.
func (st *stream) report(msg map[string]any) {
	st.n++
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(st.ctx, "POST", fmt.Sprintf("%s/%d", st.callback, st.n), bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// close stops the client without reporting an error, and waits for it.
func (st *stream) close() {
	st.cancel()
	st.sub.Close()
	<-st.done
}
