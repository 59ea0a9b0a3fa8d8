// Package ssetest helps test SSE clients, as net/http/httptest helps test
// HTTP ones: a MockStream is an event stream endpoint whose every
// connection the test scripts byte by byte (what to send, when to end).
package ssetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A MockStream is an SSE endpoint in the manner of the LaunchDarkly
// contract harness: each incoming connection is handed to the test, which
// writes raw bytes to it and ends it when it likes.
type MockStream struct {
	URL   string
	t     testing.TB
	srv   *httptest.Server
	conns chan *MockConn
}

// A MockConn is one connection to a MockStream.
type MockConn struct {
	Req  *http.Request
	Body string        // the request body
	out  chan string   // bytes for the handler goroutine to write
	end  chan struct{} // closed to end the response
	Done chan struct{} // closed when the handler has returned
}

// NewMockStream starts a MockStream, closed when the test ends.
func NewMockStream(t testing.TB) *MockStream {
	m := &MockStream{t: t, conns: make(chan *MockConn, 16)}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := &MockConn{Req: r, Body: string(body), out: make(chan string),
			end: make(chan struct{}), Done: make(chan struct{})}
		defer close(c.Done)
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
	m.URL = m.srv.URL
	t.Cleanup(func() {
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

// Await returns the next connection, failing the test if none comes
// within 10 seconds.
func (m *MockStream) Await() *MockConn {
	m.t.Helper()
	select {
	case c := <-m.conns:
		return c
	case <-time.After(10 * time.Second):
		m.t.Fatal("no connection within 10s")
		return nil
	}
}

// Send writes s on the connection, unless its handler has ended.
func (c *MockConn) Send(s string) {
	select {
	case c.out <- s:
	case <-c.Done:
	}
}

// Break ends the response and waits until the handler has returned.
func (c *MockConn) Break() {
	close(c.end)
	<-c.Done
}
