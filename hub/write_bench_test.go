package hub_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// BenchmarkWrite measures the whole way out: b.N events published to one
// topic, each written to n subscribers on real loopback sockets, by the
// connection engine (writev from a few writers, no goroutine per
// subscriber) and by net/http (a goroutine and buffered writer each). The
// subscribers are raw sockets that count blank lines, so that the client
// side allocates nothing; allocations and CPU are mostly the hub's. They
// ask for HTTP/1.0, so that net/http does not chunk the stream (a chunk
// boundary could split an event's blank line).
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, engine := range []bool{true, false} {
			name := map[bool]string{true: "engine", false: "net-http"}[engine]
			b.Run(fmt.Sprintf("%s/subs=%d", name, n), func(b *testing.B) { benchWrite(b, n, engine) })
		}
	}
}

func benchWrite(b *testing.B, n int, engine bool) {
	h := newHub(b, hub.Config{NoEngine: !engine, QueueLength: 1 << 20, QueueBytes: 1 << 40}, herd.Retention{MaxEvents: 1 << 20})
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /events?topic=bench HTTP/1.0\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
		r := bufio.NewReaderSize(c, 64<<10)
		for { // the response head
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
		}
		conns[i], readers[i] = c, r
	}
	for h.Stats().Subscribers < n {
		time.Sleep(time.Millisecond)
	}
	m := herd.Message{Topics: []string{"bench"}, Data: `{"price": 42.17, "symbol": "HERD"}`}
	var done sync.WaitGroup
	report := measure(b, n, func() {
		for _, r := range readers {
			done.Go(func() { countEvents(b, r, b.N) })
		}
		for range b.N {
			if _, _, err := h.Publish(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
		done.Wait()
	})
	report()
}

// countEvents reads until it has seen want blank lines (event ends), not
// counting the retry hint's. It reads the socket in large chunks and
// allocates nothing.
func countEvents(b *testing.B, r *bufio.Reader, want int) {
	seen := -1 // the retry hint's blank line comes first
	prevNL := false
	for seen < want {
		if _, err := r.Peek(1); err != nil { // wait for bytes
			b.Error(err)
			return
		}
		chunk, _ := r.Peek(r.Buffered())
		for _, c := range chunk {
			if c == '\n' {
				if prevNL {
					seen++
				}
				prevNL = true
			} else {
				prevNL = false
			}
		}
		r.Discard(len(chunk))
	}
}
