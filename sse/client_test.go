package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
	"github.com/herd-sse/herd/sse/ssetest"
)

// pull runs a subscription in its own goroutine and hands out what it
// yields, so that tests can interleave server actions and expectations.
type pull struct {
	t      *testing.T
	sub    *sse.Subscription
	events chan result
	wg     sync.WaitGroup
}

type result struct {
	e   sse.Event
	err error
}

func subscribe(t *testing.T, c *sse.Client, req *http.Request) *pull {
	p := &pull{t: t, sub: c.Subscribe(t.Context(), req), events: make(chan result, 100)}
	p.wg.Go(func() {
		for {
			e, err := p.sub.Next()
			p.events <- result{e, err}
			if err != nil {
				return
			}
		}
	})
	t.Cleanup(func() {
		p.sub.Close()
		p.wg.Wait()
	})
	return p
}

func (p *pull) next() (sse.Event, error) {
	p.t.Helper()
	select {
	case r := <-p.events:
		return r.e, r.err
	case <-time.After(10 * time.Second):
		p.t.Fatal("no event within 10s")
		return sse.Event{}, nil
	}
}

func (p *pull) expect(want ...sse.Event) {
	p.t.Helper()
	for _, w := range want {
		e, err := p.next()
		if err != nil || e != w {
			p.t.Fatalf("got %#v, %v; want %#v", e, err, w)
		}
	}
}

func get(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// fast reconnects at once, so tests do not wait out real delays.
var fast = &sse.Client{Retry: time.Nanosecond}

func TestClient_defaultRequest(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	subscribe(t, fast, get(t, m.URL))
	c := m.Await()
	if c.Req.Method != "GET" {
		t.Errorf("method %s", c.Req.Method)
	}
	if got := c.Req.Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept = %q", got)
	}
	if got := c.Req.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q", got)
	}
	if _, ok := c.Req.Header["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID sent on a first connection: %q", c.Req.Header.Get("Last-Event-ID"))
	}
}

func TestClient_customHeadersMethodBody(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"POST", "REPORT"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			m := ssetest.NewMockStream(t)
			req, _ := http.NewRequest(method, m.URL, strings.NewReader(`{"hello": "world"}`))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set("Header-Name-1", "value-1")
			subscribe(t, fast, req)
			for i := range 2 { // the body is sent again on reconnect
				c := m.Await()
				if c.Req.Method != method || c.Body != `{"hello": "world"}` {
					t.Errorf("connection %d: %s %q", i, c.Req.Method, c.Body)
				}
				if c.Req.Header.Get("Header-Name-1") != "value-1" || c.Req.Header.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Errorf("connection %d: headers %v", i, c.Req.Header)
				}
				c.Break()
			}
		})
	}
}

// TestClient_bodyWithoutGetBody checks that a body the client cannot
// rewind is buffered, so it is sent again on reconnect.
func TestClient_bodyWithoutGetBody(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	req, _ := http.NewRequest("POST", m.URL, nil)
	req.Body = io.NopCloser(strings.NewReader("payload"))
	subscribe(t, fast, req)
	for range 2 {
		c := m.Await()
		if c.Body != "payload" {
			t.Errorf("body %q", c.Body)
		}
		c.Break()
	}
}

func TestClient_lastEventID(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	req := get(t, m.URL)
	req.Header.Set("Last-Event-ID", "start")
	p := subscribe(t, fast, req)

	c := m.Await()
	if got := c.Req.Header.Get("Last-Event-ID"); got != "start" {
		t.Errorf("initial Last-Event-ID = %q, want start", got)
	}
	c.Send("data: a\n\n")
	p.expect(sse.Event{ID: "start", Data: "a"})
	c.Send("id: abc\ndata: Hello\n\n")
	c.Send("data: World\n\n")
	p.expect(sse.Event{ID: "abc", Data: "Hello"}, sse.Event{ID: "abc", Data: "World"})
	c.Break()

	c = m.Await()
	if got := c.Req.Header.Get("Last-Event-ID"); got != "abc" {
		t.Errorf("Last-Event-ID after reconnect = %q, want abc", got)
	}
	c.Send("id\ndata: reset\n\n") // an empty id resets the last event ID
	p.expect(sse.Event{Data: "reset"})
	c.Break()

	c = m.Await()
	if vs, ok := c.Req.Header["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID sent after a reset: %q", vs)
	}
	c.Send("id: 7\n\n") // an id-only block still commits the id
	time.Sleep(10 * time.Millisecond)
	c.Break()
	c = m.Await()
	if got := c.Req.Header.Get("Last-Event-ID"); got != "7" {
		t.Errorf("Last-Event-ID after an id-only block = %q, want 7", got)
	}
	if got := p.sub.LastEventID(); got != "7" {
		t.Errorf("LastEventID() = %q", got)
	}
}

func TestClient_parsingOverTheNetwork(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	var comments []string
	var mu sync.Mutex
	client := &sse.Client{Retry: time.Nanosecond, OnComment: func(s string) {
		mu.Lock()
		comments = append(comments, s)
		mu.Unlock()
	}}
	p := subscribe(t, client, get(t, m.URL))
	c := m.Await()
	c.Send("data: Hel")
	c.Send("lo\n\n")
	c.Send(":Hello\n")
	c.Send("event: greeting\nid: a\x00bc\ndata: €豆腐\r\n\r\n")
	c.Send("data\n\ndata\ndata\n\n")
	big := strings.Repeat("x", 1<<20)
	c.Send("data: " + big + "\n\n")
	p.expect(
		sse.Event{Data: "Hello"},
		sse.Event{Type: "greeting", Data: "€豆腐"},
		sse.Event{Data: ""},
		sse.Event{Data: "\n"},
		sse.Event{Data: big},
	)
	mu.Lock()
	defer mu.Unlock()
	if len(comments) != 1 || comments[0] != "Hello" {
		t.Errorf("comments %q", comments)
	}
}

func TestClient_stopsOn204(t *testing.T) {
	t.Parallel()
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: only\n\n")
	}))
	defer srv.Close()
	var got []string
	for e, err := range fast.Events(t.Context(), get(t, srv.URL)) {
		if err != nil {
			t.Fatalf("error %v, want a clean end", err)
		}
		got = append(got, e.Data)
	}
	if len(got) != 1 || n != 2 {
		t.Errorf("events %q after %d requests", got, n)
	}
}

func TestClient_fatalResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		ctype  string
		check  func(error) bool
	}{
		{"404", 404, "text/event-stream", func(err error) bool {
			var se *sse.StatusError
			return errors.As(err, &se) && se.Code == 404 && string(se.Body) == "data: x\n\n" && se.ContentType == "text/event-stream"
		}},
		{"500", 500, "text/event-stream", func(err error) bool {
			var se *sse.StatusError
			return errors.As(err, &se) && se.Code == 500
		}},
		{"html", 200, "text/html", func(err error) bool {
			var ce *sse.ContentTypeError
			return errors.As(err, &ce) && ce.ContentType == "text/html"
		}},
		{"other charset", 200, "text/event-stream; charset=iso-8859-1", func(err error) bool {
			var ce *sse.ContentTypeError
			return errors.As(err, &ce)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requests := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests++
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, "data: x\n\n")
			}))
			defer srv.Close()
			var last error
			for _, err := range fast.Events(t.Context(), get(t, srv.URL)) {
				last = err
			}
			if !tc.check(last) {
				t.Errorf("ended with %v (%T)", last, last)
			}
			if requests != 1 {
				t.Errorf("%d requests, want 1 (no reconnect)", requests)
			}
		})
	}
}

// The body of a refusal is kept (its start), but a server that trickles
// it out does not hold the client: it is read for at most a second.
func TestClient_statusErrorBody(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 10<<10)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		if r.URL.Path == "/slow" {
			fmt.Fprint(w, `{"error": "slow`)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, big)
	}))
	defer srv.Close()
	for path, want := range map[string]string{"/big": big[:4<<10], "/slow": `{"error": "slow`} {
		var last error
		for _, err := range fast.Events(t.Context(), get(t, srv.URL+path)) {
			last = err
		}
		var se *sse.StatusError
		if !errors.As(last, &se) || se.Code != 400 || string(se.Body) != want || se.ContentType != "application/json" {
			t.Errorf("%s: ended with %#v, want a 400 with the body's start", path, last)
		}
	}
}

func TestClient_utf8CharsetAccepted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=UTF-8")
		fmt.Fprint(w, "data: x\n\n")
	}))
	defer srv.Close()
	client := &sse.Client{Reconnect: func(error, time.Duration) bool { return false }}
	n := 0
	for _, err := range client.Events(t.Context(), get(t, srv.URL)) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d events", n)
	}
}

func TestClient_redirects(t *testing.T) {
	t.Parallel()
	for _, code := range []int{301, 307} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			m := ssetest.NewMockStream(t)
			method, body := "GET", ""
			if code == 307 {
				method, body = "POST", "resend me"
			}
			redir := httptest.NewServer(http.RedirectHandler(m.URL+"/moved", code))
			defer redir.Close()
			req, _ := http.NewRequest(method, redir.URL, strings.NewReader(body))
			p := subscribe(t, fast, req)
			c := m.Await()
			if c.Req.URL.Path != "/moved" || c.Req.Method != method || c.Body != body {
				t.Errorf("after %d: %s %s %q", code, c.Req.Method, c.Req.URL.Path, c.Body)
			}
			c.Send("data: here\n\n")
			p.expect(sse.Event{Data: "here"})
		})
	}
}

func TestClient_readTimeout(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	reasons := make(chan error, 4)
	client := &sse.Client{Retry: time.Nanosecond, ReadTimeout: 200 * time.Millisecond,
		Reconnect: func(err error, _ time.Duration) bool { reasons <- err; return true }}
	p := subscribe(t, client, get(t, m.URL))
	c := m.Await()
	c.Send("data: Hello\n\n")
	p.expect(sse.Event{Data: "Hello"})
	// then silence: the client must give up on this connection
	if err := <-reasons; !errors.Is(err, sse.ErrReadTimeout) {
		t.Errorf("reconnect reason %v, want ErrReadTimeout", err)
	}
	m.Await()
}

// TestClient_readTimeoutResetByAnyByte checks that bytes that are not a
// whole event (here one heartbeat byte at a time) keep the connection.
func TestClient_readTimeoutResetByAnyByte(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	reasons := make(chan error, 4)
	client := &sse.Client{Retry: time.Nanosecond, ReadTimeout: 300 * time.Millisecond,
		Reconnect: func(err error, _ time.Duration) bool { reasons <- err; return true }}
	p := subscribe(t, client, get(t, m.URL))
	c := m.Await()
	for _, b := range "data: slow\n\n" {
		time.Sleep(100 * time.Millisecond)
		c.Send(string(b))
	}
	p.expect(sse.Event{Data: "slow"})
	select {
	case err := <-reasons:
		t.Fatalf("connection dropped while bytes kept arriving: %v", err)
	default:
	}
}

func TestClient_restart(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	reconnects := 0
	client := &sse.Client{Retry: time.Hour, // a restart must not wait this
		Reconnect: func(error, time.Duration) bool { reconnects++; return true }}
	p := subscribe(t, client, get(t, m.URL))
	c := m.Await()
	c.Send("id: 1\ndata: Hello\n\n")
	p.expect(sse.Event{ID: "1", Data: "Hello"})
	p.sub.Restart()
	c2 := m.Await()
	if got := c2.Req.Header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("Last-Event-ID after restart = %q", got)
	}
	c2.Send("data: Thanks\n\n")
	p.expect(sse.Event{ID: "1", Data: "Thanks"})
	if reconnects != 0 {
		t.Errorf("Reconnect called %d times for a caller's restart", reconnects)
	}
}

func TestClient_closeWhileReading(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	p := subscribe(t, fast, get(t, m.URL))
	c := m.Await()
	p.sub.Close()
	if _, err := p.next(); err != io.EOF {
		t.Fatalf("Next after Close = %v, want io.EOF", err)
	}
	<-c.Done // the server saw the connection go
	p.sub.Close()
}

func TestClient_contextCancel(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	ctx, cancel := context.WithCancel(t.Context())
	sub := fast.Subscribe(ctx, get(t, m.URL))
	done := make(chan error, 1)
	go func() {
		_, err := sub.Next()
		done <- err
	}()
	m.Await()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
}

func TestClient_reconnectDeclined(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: 1\n\n")
	}))
	defer srv.Close()
	client := &sse.Client{Reconnect: func(err error, _ time.Duration) bool { return false }}
	n := 0
	for _, err := range client.Events(t.Context(), get(t, srv.URL)) {
		if err != nil {
			t.Fatalf("clean end reported as %v", err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d events", n)
	}
	// A refused connection declined is an error.
	srv.Close()
	var last error
	for _, err := range client.Events(t.Context(), get(t, srv.URL)) {
		last = err
	}
	if last == nil {
		t.Fatal("refused connection not reported")
	}
}

func TestClient_eventTooLarge(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: "+strings.Repeat("x", 2000)+"\n\n")
	}))
	defer srv.Close()
	client := &sse.Client{MaxEventSize: 1000, Retry: time.Nanosecond}
	var last error
	for _, err := range client.Events(t.Context(), get(t, srv.URL)) {
		last = err
	}
	if !errors.Is(last, sse.ErrEventTooLarge) {
		t.Fatalf("ended with %v", last)
	}
}

func TestClient_breakOutOfLoopCloses(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	go func() {
		c := m.Await()
		c.Send("data: 1\n\ndata: 2\n\n")
	}()
	for range fast.Events(t.Context(), get(t, m.URL)) {
		break
	}
	// goleak in TestMain checks nothing is left running.
}

// TestClient_retryZero: "retry: 0" is a delay like any other (WHATWG: an
// integer of digits), so the reconnection after it is at once, where a
// stream without one waits the client's Retry.
func TestClient_retryZero(t *testing.T) {
	t.Parallel()
	m := ssetest.NewMockStream(t)
	delays := make(chan time.Duration, 4)
	client := &sse.Client{Retry: time.Hour,
		Reconnect: func(_ error, d time.Duration) bool { delays <- d; return true }}
	p := subscribe(t, client, get(t, m.URL))
	c := m.Await()
	c.Send("retry: 0\ndata: now\n\n")
	p.expect(sse.Event{Data: "now", ZeroRetry: true})
	c.Break()
	if d := <-delays; d != 0 {
		t.Errorf("delay after retry: 0 = %v, want 0", d)
	}
	c = m.Await()
	c.Send("retry: 40\ndata: later\n\n")
	p.expect(sse.Event{Data: "later", Retry: 40 * time.Millisecond})
	c.Break()
	if d := <-delays; d < 20*time.Millisecond || d > 40*time.Millisecond {
		t.Errorf("delay after retry: 40 = %v, want 20ms to 40ms (jittered)", d)
	}
	m.Await()
}
