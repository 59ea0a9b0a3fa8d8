package hub_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/herd-sse/herd/hub"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// dialH2Conn is dialH2 with the connection, for tests that bound a
// read; over h2c if h2c.
func dialH2Conn(t *testing.T, addr string, h2c bool, settings ...http2.Setting) (net.Conn, *http2.Framer) {
	t.Helper()
	var conn net.Conn
	var err error
	if h2c {
		conn, err = net.Dial("tcp", addr)
	} else {
		conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings(settings...)
	return conn, fr
}

func headerBlock(fields ...[2]string) []byte {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return block.Bytes()
}

// TestHTTP2_bodyTimeout: a publish whose body stops midway is cut after
// BodyTimeout over HTTP/2 as over HTTP/1.1, and its stream ends, rather
// than holding a handler, or a half-closed stream, for ever: with the key
// (the body is read, and cut by its deadline) and without (refused before
// the body is read, the client still sending). Over TLS and over h2c,
// whose connection parks while the body does not come.
func TestHTTP2_bodyTimeout(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		t.Run(map[bool]string{false: "tls", true: "h2c"}[h2c], func(t *testing.T) { testBodyTimeout(t, h2c) })
	}
}

func testBodyTimeout(t *testing.T, h2c bool) {
	_, srv := newH2ServerOver(t, h2c, hub.Config{BodyTimeout: 50 * time.Millisecond, PublishKey: "k"})
	for _, auth := range []string{"Bearer k", ""} {
		conn, fr := dialH2Conn(t, srv.Listener.Addr().String(), h2c)
		// The answer must come from the hub's deadline, long before this one.
		conn.SetReadDeadline(time.Now().Add(8 * time.Second))
		fields := [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "127.0.0.1"},
			{":path", "/events"}, {"content-type", "application/x-www-form-urlencoded"}, {"content-length", "1000"}}
		if auth != "" {
			fields = append(fields, [2]string{"authorization", auth})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: headerBlock(fields...)})
		fr.WriteData(1, false, []byte("topic=a"))
		for ended := false; !ended; {
			f, err := fr.ReadFrame()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%q: a stopped body held its stream (no end in 8 s)", auth)
			}
			if err != nil {
				t.Fatal(err)
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if s := f.PseudoValue("status"); f.StreamID == 1 && s < "400" {
					t.Fatalf("%q: a body cut off answered %s", auth, s)
				}
			case *http2.RSTStreamFrame:
				ended = f.StreamID == 1 // the stream ended: nothing of it is held
			}
		}
		conn.Close()
	}
}

// TestHTTP2_zeroWindowWriteTimeout: a client that opens no window
// (SETTINGS_INITIAL_WINDOW_SIZE 0) holds neither an ordinary handler nor
// an event stream's past the hub's WriteTimeout: their streams are reset,
// as a slow reader is dropped on every other path. Without it each of
// its streams held a goroutine for ever, and an event stream was never
// parked. Over TLS and over h2c.
func TestHTTP2_zeroWindowWriteTimeout(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		t.Run(map[bool]string{false: "tls", true: "h2c"}[h2c], func(t *testing.T) { testZeroWindow(t, h2c) })
	}
}

func testZeroWindow(t *testing.T, h2c bool) {
	_, srv := newH2ServerOver(t, h2c, hub.Config{WriteTimeout: 50 * time.Millisecond})
	conn, fr := dialH2Conn(t, srv.Listener.Addr().String(), h2c, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	conn.SetReadDeadline(time.Now().Add(8 * time.Second))
	for i, path := range []string{"/healthz", "/events?topic=a"} { // streams 1 and 3, in order
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), EndHeaders: true, EndStream: true, BlockFragment: headerBlock(
			[2]string{":method", "GET"}, [2]string{":scheme", "https"}, [2]string{":authority", "127.0.0.1"}, [2]string{":path", path})})
	}
	reset := map[uint32]bool{}
	for len(reset) < 2 {
		f, err := fr.ReadFrame()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("streams held without a window past WriteTimeout: reset only %v", reset)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := f.(*http2.RSTStreamFrame); ok {
			reset[r.StreamID] = true
		}
	}
	until(t, "no handler running", func() bool { return handlersRunning() == 0 })
}

// TestHTTP2_resetThenLeave: a client that resets its event stream as soon
// as the response's head comes and closes the connection at once (Go's
// client does, closing the body then its idle connections) leaves no
// subscriber behind, over TLS and over h2c. The reset woke the stream's
// flusher, which found the connection closed and gave up without releasing
// the stream, whose subscriber then stayed registered for ever.
func TestHTTP2_resetThenLeave(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		t.Run(map[bool]string{false: "tls", true: "h2c"}[h2c], func(t *testing.T) {
			h, srv := newH2ServerOver(t, h2c, hub.Config{})
			for range 40 {
				conn, fr := dialH2Conn(t, srv.Listener.Addr().String(), h2c)
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: true,
					BlockFragment: headerBlock([2]string{":method", "GET"}, [2]string{":scheme", "https"},
						[2]string{":authority", srv.Listener.Addr().String()}, [2]string{":path", "/events?topic=t"})})
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						t.Fatal(err)
					}
					if hf, ok := f.(*http2.MetaHeadersFrame); ok && hf.StreamID == 1 {
						if status := hf.PseudoValue("status"); status != "200" {
							t.Fatalf("status %s", status)
						}
						break
					}
				}
				until(t, "parked", func() bool { return h.Stats().Parked == 1 })
				fr.WriteRSTStream(1, http2.ErrCodeCancel)
				conn.Close()
				until(t, "the stream ended", func() bool { return h.Stats().Parked == 0 })
			}
			until(t, "every subscriber gone", func() bool { st := h.Stats(); return st.Subscribers == 0 && st.Parked == 0 })
		})
	}
}
