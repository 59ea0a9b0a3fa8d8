package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// newH2Server serves h (and /echo, which answers a request's body) over
// TLS with the hub's own HTTP/2 server.
func newH2Server(t *testing.T, cfg hub.Config, configure ...func(*http.Server)) (*hub.Hub, *httptest.Server) {
	t.Helper()
	return newH2ServerOver(t, false, cfg, configure...)
}

// newH2ServerOver is newH2Server, over h2c (HTTP/2 without TLS, where
// an idle connection parks on Linux) if h2c.
func newH2ServerOver(t *testing.T, h2c bool, cfg hub.Config, configure ...func(*http.Server)) (*hub.Hub, *httptest.Server) {
	t.Helper()
	h := newHub(t, cfg, herd.Retention{})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	release := make(chan struct{})
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		http.NewResponseController(w).Flush() // the head goes out: a served stream shows
		<-release                             // a handler that ignores its request's end, until the test ends
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.Copy(w, r.Body)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	for _, f := range configure {
		f(srv.Config)
	}
	if h2c {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
	}
	h.ConfigureHTTP2(srv.Config)
	if h2c {
		srv.Start()
	} else {
		srv.StartTLS()
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers
	return h, srv
}

// handlersRunning counts goroutines in a handler of the hub's HTTP/2
// server: a parked event stream has none.
func handlersRunning() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "hub.(*h2Conn).runHandler")
}

// until polls cond; the deadline only bounds a test that would hang.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func TestHTTP2_parkedStreams(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{})
	client := srv.Client()
	publish(t, h, msg("before", "t"))

	const n = 20
	var bodies []*bufio.Reader
	for i := range n {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/events?topic=t", nil)
		if i == 0 {
			req.Header.Set("Last-Event-ID", hub.EarliestID)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream %d: %s %d %q", i, resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		bodies = append(bodies, bufio.NewReader(resp.Body))
	}
	until(t, "every stream parked", func() bool { return h.Stats().Parked == n })
	// A handler returns once its stream is parked (a moment after the
	// count): none is left, however long the streams stay.
	until(t, "no handler goroutine for the parked streams", func() bool { return handlersRunning() == 0 })
	readData(t, bodies[0], "before") // the replay

	// A publish over the same HTTP/2 server reaches every stream.
	resp, err := client.PostForm(srv.URL+"/events", url.Values{"topic": {"t"}, "data": {"live"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("publish: %s %d", resp.Proto, resp.StatusCode)
	}
	for _, b := range bodies {
		readData(t, b, "live")
	}
}

// readData reads SSE lines until a data line, and checks it.
func readData(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if got := strings.TrimSpace(data); got != want {
				t.Fatalf("data %q, want %q", got, want)
			}
			return
		}
	}
}

func TestHTTP2_clientLeaves(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events?topic=t", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	cancel() // RST_STREAM
	until(t, "the subscriber gone", func() bool { st := h.Stats(); return st.Subscribers == 0 && st.Parked == 0 })
	if got := h.Stats().Ended["client"]; got != 1 {
		t.Fatalf("ended as client: %d, want 1", got)
	}
}

func TestHTTP2_requestBodies(t *testing.T) {
	_, srv := newH2Server(t, hub.Config{})
	body := make([]byte, 1<<20) // past every default window: refunds must flow
	rand.Read(body)
	resp, err := srv.Client().Post(srv.URL+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.ProtoMajor != 2 || !bytes.Equal(got, body) {
		t.Fatalf("echo over %s: %d of %d bytes back, err %v", resp.Proto, len(got), len(body), err)
	}
}

func TestHTTP2_shutdownDrains(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{ShutdownWindow: time.Millisecond})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/events?topic=t", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	done := make(chan error, 1)
	go func() { done <- srv.Config.Shutdown(t.Context()) }() // GOAWAY, then waits for the stream
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := h.Stats().Ended["shutdown"]; got != 1 {
		t.Fatalf("ended by shutdown: %d, want 1", got)
	}
}

// TestHTTP2_flowControl speaks HTTP/2 frame by frame: a parked stream
// never sends past the window the client gives, and resumes when it grows.
func TestHTTP2_flowControl(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{})
	const window = 40
	fr := dialH2(t, srv, http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", "/events?topic=t"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})

	var got []byte
	granted := window
	published := false
	for !bytes.Contains(got, []byte("data: "+strings.Repeat("x", 100)+"\n\n")) {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.PseudoValue("status") != "200" {
				t.Fatalf("status %s", f.PseudoValue("status"))
			}
		case *http2.DataFrame:
			got = append(got, f.Data()...)
			if len(got) > granted {
				t.Fatalf("%d bytes sent with a window of %d", len(got), granted)
			}
			if !published { // the opening frame is in: now an event past the window
				published = true
				until(t, "parked", func() bool { return h.Stats().Parked == 1 })
				publish(t, h, msg(strings.Repeat("x", 100), "t"))
			}
			if len(got) == granted { // the window is spent: open it, a little
				granted += 30
				fr.WriteWindowUpdate(1, 30)
			}
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			t.Fatalf("%v", f)
		}
	}
}

func TestHTTP2_heartbeat(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{Heartbeat: 20 * time.Millisecond})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/events?topic=t", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ":") {
			return // a heartbeat, sent by the connection, not by a goroutine of the stream's
		}
	}
}

// dialH2 opens an HTTP/2 connection frame by frame: the preface and the
// client's SETTINGS are sent.
func dialH2(t *testing.T, srv *httptest.Server, settings ...http2.Setting) *http2.Framer {
	t.Helper()
	_, fr := dialH2Conn(t, srv.Listener.Addr().String(), false, settings...)
	return fr
}

func TestHTTP2_idleConnectionGoesAway(t *testing.T) {
	_, srv := newH2Server(t, hub.Config{}, func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
	fr := dialH2(t, srv)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("the connection ended without a GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo {
				t.Fatalf("GOAWAY %v, want NO_ERROR", g.ErrCode)
			}
			break
		}
	}
	if _, err := fr.ReadFrame(); err == nil {
		t.Fatal("the connection stayed open after its GOAWAY")
	}
}

// TestHTTP2_manyStreamsUnderLoad: 50 parked streams on one connection,
// events published concurrently, half the streams leaving midway: every
// stream that stays gets every event, once and in order.
func TestHTTP2_manyStreamsUnderLoad(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{})
	client := srv.Client()
	const streams, events = 50, 200
	type stream struct {
		r      *bufio.Reader
		cancel context.CancelFunc
	}
	var all []stream
	for range streams {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events?topic=load", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		all = append(all, stream{bufio.NewReader(resp.Body), cancel})
	}
	until(t, "every stream parked", func() bool { return h.Stats().Parked == streams })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range events {
			if _, _, err := h.Publish(t.Context(), msg(strconv.Itoa(i), "load")); err != nil {
				t.Error(err) // not Fatal: another goroutine
				return
			}
			if i == events/2 {
				for _, s := range all[:streams/2] {
					s.cancel() // RST_STREAM while events flow
				}
			}
		}
	}()
	for _, s := range all[streams/2:] {
		for i := range events {
			readData(t, s.r, strconv.Itoa(i))
		}
	}
	<-done
	until(t, "the streams that left gone", func() bool { return h.Stats().Parked == streams-streams/2 })
}

// TestHTTP2_endsWithoutWindow: a parked stream whose client gives it no
// more window still ends when the hub ends it (END_STREAM needs none).
func TestHTTP2_endsWithoutWindow(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{})
	fr := dialH2(t, srv, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16}) // the opening frame, and a few bytes
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", "/events?topic=t"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	publish(t, h, msg(strings.Repeat("x", 100), "t")) // past the window: held back
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.Close(ctx) // ends every stream at once
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no END_STREAM: %v", err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamEnded() {
			break
		}
	}
	until(t, "released", func() bool { return h.Stats().Parked == 0 })
}

// TestHTTP2_largeBacklog: megabytes queued for many streams at once go
// out in bounded writes, every stream getting all of its events in order.
func TestHTTP2_largeBacklog(t *testing.T) {
	h, srv := newH2Server(t, hub.Config{})
	const streams, events = 20, 8
	var readers []*bufio.Reader
	for range streams {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/events?topic=big", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		readers = append(readers, bufio.NewReaderSize(resp.Body, 64<<10))
	}
	until(t, "parked", func() bool { return h.Stats().Parked == streams })
	var want []string
	for i := range events {
		data := strconv.Itoa(i) + strings.Repeat("x", 30<<10)
		want = append(want, data)
		publish(t, h, msg(data, "big"))
	}
	for _, r := range readers {
		for _, data := range want {
			readData(t, r, data)
		}
	}
}

// TestHTTP2_rapidReset: streams reset as soon as they are opened still
// count against the stream limit while their handlers run.
func TestHTTP2_rapidReset(t *testing.T) {
	_, srv := newH2Server(t, hub.Config{}, func(s *http.Server) { s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 4} })
	fr := dialH2(t, srv)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", "/block"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for id := uint32(1); id <= 9; id += 2 { // four, reset at once, then a fifth
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
		if id < 9 {
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := f.(*http2.RSTStreamFrame); ok {
			if r.StreamID != 9 || r.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("RST_STREAM %d %v, want stream 9 refused", r.StreamID, r.ErrCode)
			}
			return
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == 9 {
			t.Fatalf("stream 9 was served while four handlers ran")
		}
	}
}

// TestHTTP2_h2c: HTTP/2 without TLS (prior knowledge), when the server
// allows it, parks its streams too.
func TestHTTP2_h2c(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	srv := httptest.NewUnstartedServer(h)
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	h.ConfigureHTTP2(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &cp}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/events?topic=t", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s, want HTTP/2", resp.Proto)
	}
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	publish(t, h, msg("over h2c", "t"))
	readData(t, bufio.NewReader(resp.Body), "over h2c")
}
