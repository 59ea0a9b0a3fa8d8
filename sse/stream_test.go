package sse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herd-sse/herd/sse"
)

// protocols is the matrix every end-to-end stream test runs on.
var protocols = []string{"http1", "http2-tls", "h2c"}

// newServer starts h on a real loopback server speaking proto and returns
// its URL and a client that speaks the same protocol.
func newServer(t *testing.T, proto string, h http.Handler) (string, *http.Client) {
	t.Helper()
	srv, client := startServer(t, proto, h)
	return srv.URL, client
}

// startServer is newServer returning the server itself.
func startServer(t *testing.T, proto string, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	switch proto {
	case "http1":
		srv.Start()
	case "http2-tls":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	case "h2c":
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
	default:
		t.Fatalf("unknown protocol %q", proto)
	}
	t.Cleanup(srv.Close)
	client := srv.Client()
	if proto == "h2c" {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		client = &http.Client{Transport: tr}
		t.Cleanup(tr.CloseIdleConnections)
	}
	return srv, client
}

func wantProto(proto string) int {
	if proto == "http1" {
		return 1
	}
	return 2
}

func TestStream_protocols(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			url, client := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := sse.NewStream(w, r, &sse.Options{Retry: 1500 * time.Millisecond})
				if err != nil {
					t.Errorf("NewStream: %v", err)
					return
				}
				defer s.Close()
				for i := range 3 {
					if err := s.Send(sse.Event{ID: fmt.Sprint(i), Data: fmt.Sprintf("line %d\nsecond", i)}); err != nil {
						t.Errorf("Send: %v", err)
					}
				}
				if err := s.End(); err != nil {
					t.Errorf("End: %v", err)
				}
				if err := s.Send(sse.Event{Data: "late"}); !errors.Is(err, sse.ErrClosed) {
					t.Errorf("Send after End = %v, want ErrClosed", err)
				}
			}))
			resp, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != wantProto(proto) {
				t.Fatalf("served over %s, want HTTP/%d", resp.Proto, wantProto(proto))
			}
			checkHeaders(t, resp)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			want := "retry: 1500\n\n" +
				"id: 0\ndata: line 0\ndata: second\n\n" +
				"id: 1\ndata: line 1\ndata: second\n\n" +
				"id: 2\ndata: line 2\ndata: second\n\n" +
				"event: close\ndata:\n\n"
			if string(body) != want {
				t.Errorf("body:\n%q\nwant\n%q", body, want)
			}
		})
	}
}

func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestStream_headersFlushedAtOnce checks that a client sees the response
// before the first event: EventSource stays "connecting" and proxies with a
// first-byte timeout cut the request otherwise.
func TestStream_headersFlushedAtOnce(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			url, client := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := sse.NewStream(w, r, nil)
				if err != nil {
					t.Error(err)
					return
				}
				defer s.Close()
				<-release
				_ = s.Send(sse.Event{Data: "finally"})
			}))
			resp, err := client.Get(url) // returns once headers arrive
			close(release)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkHeaders(t, resp)
			e, err := sse.NewReader(resp.Body).Next()
			if err != nil || e.Data != "finally" {
				t.Fatalf("first event %+v, %v", e, err)
			}
		})
	}
}

// TestStream_clientGone checks that Done closes when the client leaves.
func TestStream_clientGone(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			ended := make(chan error, 1)
			url, client := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := sse.NewStream(w, r, nil)
				if err != nil {
					ended <- fmt.Errorf("NewStream: %w", err)
					return
				}
				defer s.Close()
				<-s.Done()
				ended <- s.Err()
			}))
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			// The client's going shows as its context ending or, if it
			// left while a write was under way, as that write failing.
			if err := <-ended; !errors.Is(err, context.Canceled) && !strings.HasPrefix(fmt.Sprint(err), "sse: write:") {
				t.Errorf("Err() = %v, want context.Canceled or a write error", err)
			}
		})
	}
}

// TestStream_stuckReader checks that a client that never reads costs a
// bounded time: the write deadline fails the send and frees the handler,
// while another client of the same server keeps receiving.
func TestStream_stuckReader(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("x", 64<<10)
	stuckDone := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewStream(w, r, &sse.Options{WriteTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		if r.URL.Query().Get("who") == "healthy" {
			for i := range 20 {
				if err := s.Send(sse.Event{ID: fmt.Sprint(i), Data: "ok"}); err != nil {
					t.Errorf("healthy send: %v", err)
					return
				}
			}
			return
		}
		for {
			if err := s.Send(sse.Event{Data: payload}); err != nil {
				stuckDone <- err
				return
			}
		}
	}))
	defer srv.Close()

	// The stuck client sends its request, then never reads.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /?who=stuck HTTP/1.1\r\nHost: x\r\n\r\n")

	resp, err := http.Get(srv.URL + "?who=healthy")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	resp.Body.Close()
	if n != 20 {
		t.Errorf("healthy client got %d events, want 20", n)
	}
	err = <-stuckDone
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("stuck client's send ended with %v, want a timeout", err)
	}
}

// TestStream_unsupportedWriter checks that a writer that cannot stream is
// reported before anything is written, so the handler can still answer.
func TestStream_unsupportedWriter(t *testing.T) {
	t.Parallel()
	h := http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := sse.NewStream(w, r, nil)
		if !errors.Is(err, sse.ErrStreamingUnsupported) {
			t.Errorf("NewStream = %v, want ErrStreamingUnsupported", err)
		}
		http.Error(w, "streaming unsupported here", http.StatusInternalServerError)
	}), time.Minute, "timeout")
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") == "text/event-stream" {
		t.Errorf("got %d %q, want the handler's own 500", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// unwrapper is middleware that wraps the writer properly (with Unwrap).
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestStream_behindMiddleware(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewStream(unwrapper{w}, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		_ = s.Send(sse.Event{Data: "through"})
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e, err := sse.NewReader(resp.Body).Next(); err != nil || e.Data != "through" {
		t.Fatalf("got %+v, %v", e, err)
	}
}

// TestStream_outlivesServerTimeouts checks that http.Server's WriteTimeout
// and ReadTimeout, which cover a whole response, do not end a stream.
func TestStream_outlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewStream(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		for i := range 6 {
			time.Sleep(50 * time.Millisecond)
			if err := s.Send(sse.Event{Data: fmt.Sprint(i)}); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
	}))
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	for _, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatalf("after %d events: %v", n, err)
		}
		n++
	}
	if n != 6 {
		t.Errorf("got %d events, want 6", n)
	}
}

// TestLastEventID: the header wins; else the first parameter named that
// is not empty; asked says whether any of them was there, even empty.
func TestLastEventID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header *string // nil: no header
		query  string
		params []string
		want   string
		asked  bool
	}{
		{query: "a=1", want: "", asked: false},
		{header: ptr("41"), query: "a=42", params: []string{"a"}, want: "41", asked: true},
		{header: ptr(""), want: "", asked: true},
		{header: ptr(""), query: "a=42", params: []string{"a"}, want: "42", asked: true},
		{query: "a=42", want: "", asked: false}, // no parameter named
		{query: "a=&b=43", params: []string{"a", "b"}, want: "43", asked: true},
		{query: "a=", params: []string{"a", "b"}, want: "", asked: true},
		{query: "b=43&a=42", params: []string{"a", "b"}, want: "42", asked: true}, // the first named wins
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.header != nil {
			r.Header.Set("Last-Event-ID", *tc.header)
		}
		if id, asked := sse.LastEventID(r, tc.params...); id != tc.want || asked != tc.asked {
			t.Errorf("header %v, query %q, params %q: LastEventID = %q, %v; want %q, %v", tc.header != nil, tc.query, tc.params, id, asked, tc.want, tc.asked)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestStream_LastEventID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, query, param, want string
	}{
		{header: "41", want: "41"},
		{query: "42", want: ""},
		{query: "42", param: "last_event_id", want: "42"},
		{header: "41", query: "42", param: "last_event_id", want: "41"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/?last_event_id="+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("Last-Event-ID", tc.header)
		}
		s, err := sse.NewStream(newFakeWriter(), r, &sse.Options{LastEventIDParam: tc.param})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.LastEventID(); got != tc.want {
			t.Errorf("%+v: LastEventID() = %q", tc, got)
		}
		s.Close()
	}
}

func TestStream_invalidEventKeepsStream(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	s, err := sse.NewStream(w, httptest.NewRequest("GET", "/", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(sse.Event{ID: "x\ny"}); !errors.Is(err, sse.ErrInvalidID) {
		t.Fatalf("err = %v", err)
	}
	if err := s.Send(sse.Event{Data: "fine"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SendFrame(sse.CommentFrame("frame")); err != nil {
		t.Fatal(err)
	}
	if err := s.Comment("c"); err != nil {
		t.Fatal(err)
	}
	if got := w.String(); got != ":\ndata: fine\n\n: frame\n: c\n" {
		t.Errorf("wrote %q", got)
	}
}

// TestStream_concurrentSends checks that sends from many goroutines never
// interleave inside an event.
func TestStream_concurrentSends(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	s, err := sse.NewStream(w, httptest.NewRequest("GET", "/", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				_ = s.Send(sse.Event{ID: fmt.Sprint(g), Data: fmt.Sprintf("%d\n%d", g, i)})
			}
		})
	}
	wg.Wait()
	s.Close()
	n := 0
	for e, err := range sse.Read(strings.NewReader(w.String())) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.Data, e.ID+"\n") {
			t.Fatalf("interleaved event %#v", e)
		}
		n++
	}
	if n != 800 {
		t.Fatalf("%d events, want 800", n)
	}
}

func TestStream_heartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		s, err := sse.NewStream(w, httptest.NewRequest("GET", "/", nil), &sse.Options{Heartbeat: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Second) // beats at 10s and 20s
		synctest.Wait()
		if got := w.String(); got != ":\n:\n:\n" {
			t.Fatalf("after 25s: %q, want the opening line and two heartbeats", got)
		}
		_ = s.Send(sse.Event{Data: "x"}) // at 25s: next beat due at 35s, not 30s
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if strings.Count(w.String(), ":\n") != 3 {
			t.Fatalf("heartbeat not pushed back by a send: %q", w.String())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if strings.Count(w.String(), ":\n") != 4 {
			t.Fatalf("no heartbeat 10s after the send: %q", w.String())
		}
		s.Close()
		time.Sleep(time.Minute)
		synctest.Wait()
		if strings.Count(w.String(), ":\n") != 4 {
			t.Fatalf("heartbeat after Close: %q", w.String())
		}
	})
}

func TestStream_heartbeatDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		s, _ := sse.NewStream(w, httptest.NewRequest("GET", "/", nil), &sse.Options{Heartbeat: -1})
		defer s.Close()
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := w.String(); got != ":\n" {
			t.Fatalf("wrote %q", got)
		}
	})
}

// TestStream_writeTimeout checks that every write carries a deadline and
// that it is cleared between writes.
func TestStream_writeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		s, _ := sse.NewStream(w, httptest.NewRequest("GET", "/", nil), &sse.Options{WriteTimeout: 3 * time.Second})
		defer s.Close()
		_ = s.Send(sse.Event{Data: "x"})
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.deadlines) < 2 {
			t.Fatalf("deadlines %v", w.deadlines)
		}
		last := w.deadlines[len(w.deadlines)-2:]
		if !last[0].Equal(time.Now().Add(3*time.Second)) || !last[1].IsZero() {
			t.Errorf("deadlines around a write: %v, want now+3s then cleared", last)
		}
	})
}

// TestStream_shutdownWindow checks that on server shutdown each stream of
// the drain ends within the window, at spread-out moments, and that
// streams without a drain are left alone.
func TestStream_shutdownWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &http.Server{}
		var drain sse.Drain
		srv.RegisterOnShutdown(drain.Start)
		const n = 50
		start := time.Now()
		ends := make(chan time.Duration, n)
		undrained, err := sse.NewStream(newFakeWriter(), httptest.NewRequest("GET", "/", nil), &sse.Options{Heartbeat: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer undrained.Close()
		for range n {
			r := httptest.NewRequest("GET", "/", nil)
			s, err := sse.NewStream(newFakeWriter(), r, &sse.Options{Drain: &drain, ShutdownWindow: 10 * time.Second, Heartbeat: -1})
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				<-s.Done()
				if !errors.Is(s.Err(), sse.ErrShutdown) {
					t.Errorf("Err() = %v", s.Err())
				}
				ends <- time.Since(start)
				s.Close()
			}()
		}
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		distinct := map[time.Duration]bool{}
		for range n {
			d := <-ends
			if d > 10*time.Second {
				t.Errorf("stream ended after %v, past the window", d)
			}
			distinct[d] = true
		}
		if len(distinct) < n/2 {
			t.Errorf("only %d distinct end times for %d streams: not spread", len(distinct), n)
		}
		select {
		case <-undrained.Done():
			t.Error("a stream without a drain ended on shutdown")
		default:
		}
	})
}

// TestStream_gracefulShutdown shuts a real server down under open streams:
// Shutdown completes, and every client sees a clean end of stream (so a
// browser reconnects and resumes) after all the events it was sent.
func TestStream_gracefulShutdown(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var started sync.WaitGroup
			var drain sse.Drain
			srv, client := startServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/warm" {
					return
				}
				s, err := sse.NewStream(w, r, &sse.Options{Drain: &drain, ShutdownWindow: 200 * time.Millisecond})
				if err != nil {
					t.Error(err)
					return
				}
				defer s.Close()
				_ = s.Send(sse.Event{ID: "1", Data: "before"})
				started.Done()
				<-s.Done()
			}))
			// Warm the client's connection first. Concurrent first requests
			// make the transport dial extra connections; one whose handshake
			// ends after Shutdown began never gets a GOAWAY from Go's HTTP/2
			// server (it registers without checking for shutdown), and
			// Shutdown then waits for it until its deadline.
			if resp, err := client.Get(srv.URL + "/warm"); err != nil {
				t.Fatal(err)
			} else {
				resp.Body.Close()
			}
			const n = 5
			started.Add(n)
			results := make(chan error, n)
			for range n {
				go func() {
					resp, err := client.Get(srv.URL)
					if err != nil {
						results <- err
						return
					}
					defer resp.Body.Close()
					r := sse.NewReader(resp.Body)
					var got []string
					for e, err := range r.Events() {
						if err != nil {
							results <- fmt.Errorf("stream ended with %v, want a clean end", err)
							return
						}
						got = append(got, e.Data)
					}
					if len(got) != 1 || r.LastEventID() != "1" {
						results <- fmt.Errorf("got %q, last id %q", got, r.LastEventID())
						return
					}
					results <- nil
				}()
			}
			started.Wait()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			srv.Config.RegisterOnShutdown(drain.Start)
			if err := srv.Config.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			for range n {
				if err := <-results; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// fakeWriter is a ResponseWriter that supports flushing and deadlines, for
// tests inside a synctest bubble.
type fakeWriter struct {
	mu        sync.Mutex
	header    http.Header
	buf       bytes.Buffer
	deadlines []time.Time
	code      int
}

func newFakeWriter() *fakeWriter { return &fakeWriter{header: http.Header{}} }

func (w *fakeWriter) Header() http.Header { return w.header }
func (w *fakeWriter) WriteHeader(code int) {
	w.mu.Lock()
	w.code = code
	w.mu.Unlock()
}
func (w *fakeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}
func (w *fakeWriter) FlushError() error { return nil }
func (w *fakeWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	w.deadlines = append(w.deadlines, t)
	w.mu.Unlock()
	return nil
}
func (w *fakeWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
