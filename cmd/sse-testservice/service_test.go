package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness plays the conformance harness's part: it talks to the service
// and receives its numbered callbacks.
type harness struct {
	t        *testing.T
	svc      *httptest.Server
	callback *httptest.Server
	msgs     chan callback
}

type callback struct {
	n   int
	msg map[string]any
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, msgs: make(chan callback, 100)}
	svc := newService(func() {})
	h.svc = httptest.NewServer(svc)
	t.Cleanup(func() {
		svc.closeAll()
		h.svc.Close()
	})
	h.callback = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/cb/"))
		if err != nil {
			t.Errorf("callback to %s: not numbered", r.URL.Path)
		}
		var msg map[string]any
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			t.Errorf("callback body: %v", err)
		}
		h.msgs <- callback{n, msg}
	}))
	t.Cleanup(h.callback.Close)
	return h
}

func (h *harness) do(method, path string, body any) *http.Response {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.svc.URL+path, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// create starts a client instance and returns its resource path.
func (h *harness) create(params map[string]any) string {
	h.t.Helper()
	params["callbackUrl"] = h.callback.URL + "/cb"
	resp := h.do("POST", "/", params)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") == "" {
		h.t.Fatalf("create: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp.Header.Get("Location")
}

// next returns the next callback and checks its number.
func (h *harness) next(wantN int) map[string]any {
	h.t.Helper()
	select {
	case c := <-h.msgs:
		if c.n != wantN {
			h.t.Fatalf("callback number %d, want %d (%v)", c.n, wantN, c.msg)
		}
		return c.msg
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no callback %d within 10s", wantN)
		return nil
	}
}

func (h *harness) expectEvent(n int, typ, data, id string) {
	h.t.Helper()
	msg := h.next(n)
	want := map[string]any{"kind": "event", "event": map[string]any{"type": typ, "data": data, "id": id}}
	if fmt.Sprint(msg) != fmt.Sprint(want) {
		h.t.Fatalf("callback %d = %v, want %v", n, msg, want)
	}
}

func (h *harness) expectQuiet() {
	h.t.Helper()
	select {
	case c := <-h.msgs:
		h.t.Fatalf("unexpected callback %d: %v", c.n, c.msg)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestService_capabilities(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.svc.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Capabilities []string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := "[headers last-event-id post report read-timeout restart comments bom server-directed-shutdown-request]"
	if fmt.Sprint(got.Capabilities) != want {
		t.Errorf("capabilities %v, want %s", got.Capabilities, want)
	}
}

func TestService_badRequests(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/", "not an object", 400},
		{"POST", "/", map[string]any{"streamUrl": "http://x"}, 400},
		{"POST", "/", map[string]any{"callbackUrl": "http://x"}, 400},
		{"POST", "/", map[string]any{"streamUrl": "http://x", "callbackUrl": "http://y", "method": "BAD METHOD"}, 400},
		{"POST", "/streams/99", map[string]any{"command": "restart"}, 404},
		{"DELETE", "/streams/99", nil, 404},
	} {
		if resp := h.do(tc.method, tc.path, tc.body); resp.StatusCode != tc.want {
			t.Errorf("%s %s %v: %d, want %d", tc.method, tc.path, tc.body, resp.StatusCode, tc.want)
		}
	}
}

// TestService_session runs one client instance through what the harness
// checks: request shape, parsing, comments, reconnection with
// Last-Event-ID, restart and close, with callbacks numbered in order.
func TestService_session(t *testing.T) {
	h := newHarness(t)
	m := ssetest.NewMockStream(t)
	loc := h.create(map[string]any{
		"streamUrl": m.URL, "tag": "session", "initialDelayMs": 0, "lastEventId": "abc",
		"method": "POST", "body": `{"hello": "world"}`,
		"headers": map[string]string{"content-type": "application/json; charset=utf-8", "header-name-1": "value-1"},
	})

	c := m.Await()
	if c.Req.Method != "POST" || c.Body != `{"hello": "world"}` || c.Req.Header.Get("Header-Name-1") != "value-1" ||
		c.Req.Header.Get("Last-Event-ID") != "abc" || c.Req.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("request %s %q %v", c.Req.Method, c.Body, c.Req.Header)
	}
	c.Send("\xEF\xBB\xBF:Hello\n")
	c.Send("event: greeting\nid: 1\ndata: Hello\ndata: World\n\n")
	c.Send("data: plain\n\n")
	h.next(1) // the comment
	h.expectEvent(2, "greeting", "Hello\nWorld", "1")
	h.expectEvent(3, "message", "plain", "1")

	c.Break() // the server ends the stream: an error callback, then a reconnect
	if msg := h.next(4); msg["kind"] != "error" {
		t.Fatalf("callback 4 = %v, want an error", msg)
	}
	c = m.Await()
	if got := c.Req.Header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("reconnect Last-Event-ID = %q", got)
	}

	if resp := h.do("POST", loc, map[string]string{"command": "listen"}); resp.StatusCode != 202 {
		t.Errorf("listen: %d", resp.StatusCode)
	}
	if resp := h.do("POST", loc, map[string]string{"command": "fly"}); resp.StatusCode != 400 {
		t.Errorf("unknown command: %d", resp.StatusCode)
	}
	if resp := h.do("POST", loc, map[string]string{"command": "restart"}); resp.StatusCode != 202 {
		t.Errorf("restart: %d", resp.StatusCode)
	}
	c = m.Await() // restarted, with no error callback
	c.Send("data: Thanks\n\n")
	h.expectEvent(5, "message", "Thanks", "1")

	if resp := h.do("DELETE", loc, nil); resp.StatusCode != 204 {
		t.Errorf("close: %d", resp.StatusCode)
	}
	<-c.Done // the stream's connection went away
	h.expectQuiet()
	if resp := h.do("DELETE", loc, nil); resp.StatusCode != 404 {
		t.Errorf("second close: %d", resp.StatusCode)
	}
}

func TestService_readTimeout(t *testing.T) {
	h := newHarness(t)
	m := ssetest.NewMockStream(t)
	h.create(map[string]any{"streamUrl": m.URL, "initialDelayMs": 0, "readTimeoutMs": 200})
	c := m.Await()
	c.Send("data: Hello\n\n")
	h.expectEvent(1, "message", "Hello", "")
	if msg := h.next(2); msg["kind"] != "error" || !strings.Contains(fmt.Sprint(msg["error"]), "timeout") {
		t.Fatalf("callback 2 = %v, want a read timeout error", msg)
	}
	m.Await()
}

// TestRun checks the command itself: flags, listening, and DELETE / to exit.
func TestRun(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"--nope"}, &stderr); err == nil {
		t.Error("bad flag accepted")
	}
	if err := run(t.Context(), []string{"extra"}, &stderr); err == nil {
		t.Error("stray argument accepted")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), []string{"--addr", addr}, &out) }()
	var resp *http.Response
	for range 100 {
		if resp, err = http.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("DELETE", "http://"+addr+"/", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-done; err != nil {
		t.Fatalf("run after DELETE /: %v", err)
	}
	if !strings.Contains(out.String(), "listening on http://"+addr) {
		t.Errorf("startup line missing: %q", out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The harness's "server-directed-shutdown-request" tests: a 204 No Content
// on a reconnection ends the client for good, reported as an error.
func TestService_204haltsReconnection(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: Hello\n\n") // then the response ends: a reconnection
	}))
	defer srv.Close()
	h.create(map[string]any{"streamUrl": srv.URL, "initialDelayMs": 0})
	h.expectEvent(1, "message", "Hello", "1")
	if msg := h.next(2); msg["kind"] != "error" { // the end of the first response
		t.Fatalf("callback 2 = %v, want an error", msg)
	}
	msg := h.next(3) // the 204
	if msg["kind"] != "error" || !strings.Contains(fmt.Sprint(msg["error"]), "204") {
		t.Fatalf("callback 3 = %v, want an error naming the 204", msg)
	}
	// The client's loop reports the 204 after it returned for good, so
	// no connection can follow.
	mu.Lock()
	defer mu.Unlock()
	if conns != 2 {
		t.Errorf("%d connections, want 2: the client went on after the 204", conns)
	}
}
