package hub_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/herd-sse/herd/hub"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// dialH2Conn is dialH2 with the connection, for tests that bound a read.
func dialH2Conn(t *testing.T, addr string) (*tls.Conn, *http2.Framer) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
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
// the body is read, the client still sending).
func TestHTTP2_bodyTimeout(t *testing.T) {
	_, srv := newH2Server(t, hub.Config{BodyTimeout: 50 * time.Millisecond, PublishKey: "k"})
	for _, auth := range []string{"Bearer k", ""} {
		conn, fr := dialH2Conn(t, srv.Listener.Addr().String())
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
