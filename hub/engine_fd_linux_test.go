//go:build linux

package hub_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// The engine keeps a parked stream's socket as a descriptor of its own:
// each is closed exactly once, when the stream ends, whether the client
// left or the hub cut it. None is left open, and a stream that ends sees
// its connection closed.
func TestEngine_closesEveryDescriptor(t *testing.T) {
	h, srv := newServer(t, hub.Config{})
	addr := srv.Listener.Addr().String()
	before := openFDs(t)
	const n = 20
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /events?topic=fd%d HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n", i%2)
		conns[i], readers[i] = c, bufio.NewReader(c)
	}
	waitFor(t, func() bool { return h.Stats().Parked == n })
	// Half the clients leave; the hub ends the other half (their topic
	// closes), and each of those sees its stream end.
	for i := 0; i < n; i += 2 {
		conns[i].Close()
	}
	publish(t, h, herd.Message{Topics: []string{"fd1"}, Data: "last", Close: true})
	// Not a timing check: a hub that never closes fails instead of hanging.
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; i < n; i += 2 {
		conns[i].SetReadDeadline(deadline)
		var got strings.Builder
		for {
			line, err := readers[i].ReadString('\n')
			got.WriteString(line)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("client %d: the hub did not close its connection:\n%s", i, got.String())
				}
				break // the hub closed the connection
			}
		}
		if !strings.Contains(got.String(), "data: last") {
			t.Errorf("client %d did not get the closing event before its end:\n%s", i, got.String())
		}
		conns[i].Close()
	}
	waitFor(t, func() bool { return h.Stats().Subscribers == 0 && h.Stats().Parked == 0 })
	waitFor(t, func() bool { return openFDs(t) <= before })
}

// openFDs counts this process's open sockets. (Not every descriptor: an
// engine writer keeps an io_uring of its own, from its first batch of
// writes until the hub closes.)
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}
