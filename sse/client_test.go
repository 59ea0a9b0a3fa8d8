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
)

// mockStream is a test server in the manner of the LaunchDarkly SSE
// contract harness: each incoming connection is handed to the test, which
// writes raw bytes to it and ends it when it likes.
type mockStream struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *mockConn
}

type mockConn struct {
	req  *http.Request
	body string
	out  chan string   // bytes for the handler goroutine to write
	end  chan struct{} // close to end the response
	done chan struct{} // closed when the handler returned
}

func newMockStream(t *testing.T) *mockStream {
	m := &mockStream{t: t, conns: make(chan *mockConn, 16)}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := &mockConn{req: r, body: string(body), out: make(chan string),
			end: make(chan struct{}), done: make(chan struct{})}
		defer close(c.done)
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_ = rc.Flush()
		m.conns <- c
		for {
			select {
			case s := <-c.out: // only this goroutine touches w
				_, _ = io.WriteString(w, s)
				_ = rc.Flush()
			case <-c.end:
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(func() {
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

// await returns the next connection, failing the test if none comes.
func (m *mockStream) await() *mockConn {
	m.t.Helper()
	select {
	case c := <-m.conns:
		return c
	case <-time.After(10 * time.Second):
		m.t.Fatal("no connection within 10s")
		return nil
	}
}

// send writes s on the connection, unless its handler has ended.
func (c *mockConn) send(s string) {
	select {
	case c.out <- s:
	case <-c.done:
	}
}

// breakConn ends the response and waits until the handler returned.
func (c *mockConn) breakConn() {
	close(c.end)
	<-c.done
}

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
			p.t.Fatalf("got %+q, %v; want %+q", e, err, w)
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
	m := newMockStream(t)
	subscribe(t, fast, get(t, m.srv.URL))
	c := m.await()
	if c.req.Method != "GET" {
		t.Errorf("method %s", c.req.Method)
	}
	if got := c.req.Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("Accept = %q", got)
	}
	if got := c.req.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q", got)
	}
	if _, ok := c.req.Header["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID sent on a first connection: %q", c.req.Header.Get("Last-Event-ID"))
	}
}

func TestClient_customHeadersMethodBody(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"POST", "REPORT"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			m := newMockStream(t)
			req, _ := http.NewRequest(method, m.srv.URL, strings.NewReader(`{"hello": "world"}`))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set("Header-Name-1", "value-1")
			subscribe(t, fast, req)
			for i := range 2 { // the body is sent again on reconnect
				c := m.await()
				if c.req.Method != method || c.body != `{"hello": "world"}` {
					t.Errorf("connection %d: %s %q", i, c.req.Method, c.body)
				}
				if c.req.Header.Get("Header-Name-1") != "value-1" || c.req.Header.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Errorf("connection %d: headers %v", i, c.req.Header)
				}
				c.breakConn()
			}
		})
	}
}

// TestClient_bodyWithoutGetBody checks that a body the client cannot
// rewind is buffered, so it is sent again on reconnect.
func TestClient_bodyWithoutGetBody(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	req, _ := http.NewRequest("POST", m.srv.URL, nil)
	req.Body = io.NopCloser(strings.NewReader("payload"))
	subscribe(t, fast, req)
	for range 2 {
		c := m.await()
		if c.body != "payload" {
			t.Errorf("body %q", c.body)
		}
		c.breakConn()
	}
}

func TestClient_lastEventID(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	req := get(t, m.srv.URL)
	req.Header.Set("Last-Event-ID", "start")
	p := subscribe(t, fast, req)

	c := m.await()
	if got := c.req.Header.Get("Last-Event-ID"); got != "start" {
		t.Errorf("initial Last-Event-ID = %q, want start", got)
	}
	c.send("data: a\n\n")
	p.expect(sse.Event{ID: "start", Data: "a"})
	c.send("id: abc\ndata: Hello\n\n")
	c.send("data: World\n\n")
	p.expect(sse.Event{ID: "abc", Data: "Hello"}, sse.Event{ID: "abc", Data: "World"})
	c.breakConn()

	c = m.await()
	if got := c.req.Header.Get("Last-Event-ID"); got != "abc" {
		t.Errorf("Last-Event-ID after reconnect = %q, want abc", got)
	}
	c.send("id\ndata: reset\n\n") // an empty id resets the last event ID
	p.expect(sse.Event{Data: "reset"})
	c.breakConn()

	c = m.await()
	if vs, ok := c.req.Header["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID sent after a reset: %q", vs)
	}
	c.send("id: 7\n\n") // an id-only block still commits the id
	time.Sleep(10 * time.Millisecond)
	c.breakConn()
	c = m.await()
	if got := c.req.Header.Get("Last-Event-ID"); got != "7" {
		t.Errorf("Last-Event-ID after an id-only block = %q, want 7", got)
	}
	if got := p.sub.LastEventID(); got != "7" {
		t.Errorf("LastEventID() = %q", got)
	}
}

func TestClient_parsingOverTheNetwork(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	var comments []string
	var mu sync.Mutex
	client := &sse.Client{Retry: time.Nanosecond, OnComment: func(s string) {
		mu.Lock()
		comments = append(comments, s)
		mu.Unlock()
	}}
	p := subscribe(t, client, get(t, m.srv.URL))
	c := m.await()
	c.send("data: Hel")
	c.send("lo\n\n")
	c.send(":Hello\n")
	c.send("event: greeting\nid: a\x00bc\ndata: €豆腐\r\n\r\n")
	c.send("data\n\ndata\ndata\n\n")
	big := strings.Repeat("x", 1<<20)
	c.send("data: " + big + "\n\n")
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
			return errors.As(err, &se) && se.Code == 404
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
			m := newMockStream(t)
			method, body := "GET", ""
			if code == 307 {
				method, body = "POST", "resend me"
			}
			redir := httptest.NewServer(http.RedirectHandler(m.srv.URL+"/moved", code))
			defer redir.Close()
			req, _ := http.NewRequest(method, redir.URL, strings.NewReader(body))
			p := subscribe(t, fast, req)
			c := m.await()
			if c.req.URL.Path != "/moved" || c.req.Method != method || c.body != body {
				t.Errorf("after %d: %s %s %q", code, c.req.Method, c.req.URL.Path, c.body)
			}
			c.send("data: here\n\n")
			p.expect(sse.Event{Data: "here"})
		})
	}
}

func TestClient_readTimeout(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	reasons := make(chan error, 4)
	client := &sse.Client{Retry: time.Nanosecond, ReadTimeout: 200 * time.Millisecond,
		Reconnect: func(err error, _ time.Duration) bool { reasons <- err; return true }}
	p := subscribe(t, client, get(t, m.srv.URL))
	c := m.await()
	c.send("data: Hello\n\n")
	p.expect(sse.Event{Data: "Hello"})
	// then silence: the client must give up on this connection
	if err := <-reasons; !errors.Is(err, sse.ErrReadTimeout) {
		t.Errorf("reconnect reason %v, want ErrReadTimeout", err)
	}
	m.await()
}

// TestClient_readTimeoutResetByAnyByte checks that bytes that are not a
// whole event (here one heartbeat byte at a time) keep the connection.
func TestClient_readTimeoutResetByAnyByte(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	reasons := make(chan error, 4)
	client := &sse.Client{Retry: time.Nanosecond, ReadTimeout: 300 * time.Millisecond,
		Reconnect: func(err error, _ time.Duration) bool { reasons <- err; return true }}
	p := subscribe(t, client, get(t, m.srv.URL))
	c := m.await()
	for _, b := range "data: slow\n\n" {
		time.Sleep(100 * time.Millisecond)
		c.send(string(b))
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
	m := newMockStream(t)
	reconnects := 0
	client := &sse.Client{Retry: time.Hour, // a restart must not wait this
		Reconnect: func(error, time.Duration) bool { reconnects++; return true }}
	p := subscribe(t, client, get(t, m.srv.URL))
	c := m.await()
	c.send("id: 1\ndata: Hello\n\n")
	p.expect(sse.Event{ID: "1", Data: "Hello"})
	p.sub.Restart()
	c2 := m.await()
	if got := c2.req.Header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("Last-Event-ID after restart = %q", got)
	}
	c2.send("data: Thanks\n\n")
	p.expect(sse.Event{ID: "1", Data: "Thanks"})
	if reconnects != 0 {
		t.Errorf("Reconnect called %d times for a caller's restart", reconnects)
	}
}

func TestClient_closeWhileReading(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	p := subscribe(t, fast, get(t, m.srv.URL))
	c := m.await()
	p.sub.Close()
	if _, err := p.next(); err != io.EOF {
		t.Fatalf("Next after Close = %v, want io.EOF", err)
	}
	<-c.done // the server saw the connection go
	p.sub.Close()
}

func TestClient_contextCancel(t *testing.T) {
	t.Parallel()
	m := newMockStream(t)
	ctx, cancel := context.WithCancel(t.Context())
	sub := fast.Subscribe(ctx, get(t, m.srv.URL))
	done := make(chan error, 1)
	go func() {
		_, err := sub.Next()
		done <- err
	}()
	m.await()
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
	m := newMockStream(t)
	go func() {
		c := m.await()
		c.send("data: 1\n\ndata: 2\n\n")
	}()
	for range fast.Events(t.Context(), get(t, m.srv.URL)) {
		break
	}
	// goleak in TestMain checks nothing is left running.
}
