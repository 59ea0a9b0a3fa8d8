//go:build linux

package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"
)

// slowClient is a client whose connection the test reads only when it
// says so: h2c or TLS, its windows wide open, its socket's receive buffer
// small, so that what the hub writes soon fills the socket.
type slowClient struct {
	h   *Hub
	fr  *http2.Framer
	tcp net.Conn
}

func dialSlow(t *testing.T, tls bool, cfg Config) *slowClient {
	t.Helper()
	cfg.QueueLength, cfg.QueueBytes, cfg.MaxEventSize = 1<<20, 1<<30, 64<<10
	wide := http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}
	if tls {
		h, addr := newTLSH2ServerWith(t, cfg)
		c := dialTLSH2(t, addr, nil) // the connection's window is open
		c.fr.WriteSettings(wide)
		return &slowClient{h: h, fr: c.fr, tcp: c.tcp}
	}
	h, addr := newH2cServerWith(t, cfg, nil)
	conn, fr := dialH2c(t, addr, wide)
	fr.WriteWindowUpdate(0, 1<<30)
	return &slowClient{h: h, fr: fr, tcp: conn}
}

// socketOf returns the hub's socket of its one connection with an event
// stream.
func socketOf(t *testing.T, h *Hub) (*h2Conn, *h2Socket) {
	t.Helper()
	var c *h2Conn
	until(t, "the connection in the sweep", func() bool {
		h.h2sweep.mu.Lock()
		defer h.h2sweep.mu.Unlock()
		if len(h.h2sweep.conns) == 1 {
			c = h.h2sweep.conns[0]
		}
		return c != nil
	})
	nc := c.nc
	if t, ok := nc.(*tlsRecordConn); ok {
		nc = t.Conn
	}
	s, ok := nc.(*h2Socket)
	if !ok {
		t.Fatalf("the connection's socket is a %T", nc)
	}
	return c, s
}

func (s *h2Socket) isPromoted() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.promoted != nil
}

// fillUntilPromoted publishes events of 32 KB to topic t, numbered
// from 0, until a write to s waits: a client that does not read. It
// returns how many it published.
func fillUntilPromoted(t *testing.T, h *Hub, s *h2Socket) int {
	t.Helper()
	pad := strings.Repeat("x", 32<<10)
	n := 0
	for !s.isPromoted() {
		if n == 4000 {
			t.Fatalf("%d events of 32 KB written without the socket filling", n)
		}
		for range 20 {
			if _, _, err := h.Publish(t.Context(), herd.Message{Data: fmt.Sprintf("seq-%06d-%s", n, pad), Topics: []string{"t"}}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		until(t, "the events written or waiting", func() bool {
			return s.isPromoted() || h.Stats().Delivered >= int64(n)
		})
	}
	return n
}

// TestH2Socket_slowReaderPromoted: events written to a client that does
// not read fill its socket: the write that finds it full finishes
// through the promoted file, waiting in Go's poller, and so do the
// writes after it; the client, reading at last, gets every event, in
// order. Once the connection parks again, its socket is bare again.
func TestH2Socket_slowReaderPromoted(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[tls], func(t *testing.T) {
			cl := dialSlow(t, tls, Config{})
			openStream(t, cl.fr, 1, "t")
			_, s := socketOf(t, cl.h)
			until(t, "parked", func() bool { return cl.h.Stats().Parked == 1 && parked(cl.h) && !s.isPromoted() })
			n := fillUntilPromoted(t, cl.h, s)
			pad := strings.Repeat("x", 32<<10)
			// More while the write waits: they queue, and go out after it.
			for range 20 {
				if _, _, err := cl.h.Publish(t.Context(), herd.Message{Data: fmt.Sprintf("seq-%06d-%s", n, pad), Topics: []string{"t"}}); err != nil {
					t.Fatal(err)
				}
				n++
			}
			// The write waits in Go's poller, holding no thread.
			until(t, "the write waiting in the poller", func() bool {
				buf := make([]byte, 1<<20)
				for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
					if strings.Contains(g, "hub.(*h2Socket).Write") && strings.Contains(g, "internal/poll.(*pollDesc).waitWrite") {
						return true
					}
				}
				return false
			})
			var got bytes.Buffer
			readUntil(t, cl.fr, "every event", func(f http2.Frame) bool {
				if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
					got.Write(d.Data())
				}
				return bytes.Contains(got.Bytes(), fmt.Appendf(nil, "seq-%06d-", n-1))
			})
			seen := 0
			for _, part := range strings.Split(got.String(), "seq-")[1:] {
				if !strings.HasPrefix(part, fmt.Sprintf("%06d-", seen)) {
					t.Fatalf("event %d: got %.7q", seen, part)
				}
				seen++
			}
			if seen != n {
				t.Fatalf("%d events of %d", seen, n)
			}
			// A PING wakes the reader, which parks again: the promoted
			// file is dropped.
			cl.fr.WritePing(false, [8]byte{7})
			readUntil(t, cl.fr, "the PING's answer", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() })
			until(t, "parked, bare", func() bool { return parked(cl.h) && !s.isPromoted() })
		})
	}
}

// TestH2Socket_writeDeadline: a write to a client that never reads ends
// at the hub's write timeout, the promoted file's deadline: the
// connection breaks, and its stream ends.
func TestH2Socket_writeDeadline(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[tls], func(t *testing.T) {
			cl := dialSlow(t, tls, Config{WriteTimeout: 200e6, Heartbeat: 1e12})
			openStream(t, cl.fr, 1, "t")
			c, s := socketOf(t, cl.h)
			until(t, "parked", func() bool { return cl.h.Stats().Parked == 1 && parked(cl.h) })
			fillUntilPromoted(t, cl.h, s)
			until(t, "the stream ended", func() bool { return cl.h.Stats().Parked == 0 })
			c.wmu.Lock()
			err := c.broken
			c.wmu.Unlock()
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the connection broke with %v, not its write deadline", err)
			}
		})
	}
}

// TestH2Socket_closeRacesWrites: a socket closed while writers and
// readers use it never reaches the descriptor that takes its number
// next: a socket opened right after the close (with the same number,
// mostly) gets none of the old one's bytes.
func TestH2Socket_closeRacesWrites(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reused := 0
	oldBytes := bytes.Repeat([]byte("old bytes "), 1000)
	for i := range 300 {
		client, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s, err := newH2Socket(server)
		if err != nil {
			t.Fatal(err)
		}
		server.Close()
		if i%2 == 0 { // a client that reads: writes go out at once
			go io.Copy(io.Discard, client)
		} else { // one that does not: writes wait, promoted
			client.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		old := s.fd
		var wg sync.WaitGroup
		var writes atomic.Int64
		stop := make(chan struct{})
		for range 3 {
			wg.Go(func() {
				for {
					writes.Add(1)
					_, err := s.Write(oldBytes)
					if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
				}
			})
		}
		wg.Go(func() {
			b := make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.readNow(b); err != nil && err != errWouldBlock {
					return
				}
				s.SetWriteDeadline(time.Now().Add(5 * time.Millisecond))
			}
		})
		// Close while the writers write (or wait, promoted).
		for writes.Load() < int64(3+i%50) || (i%2 == 1 && i%3 != 0 && !s.isPromoted()) {
			runtime.Gosched()
		}
		s.Close()
		// The lowest free number: the one just closed, unless another
		// goroutine took it first.
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if pair[0] == old || pair[1] == old {
			reused++
		}
		close(stop)
		wg.Wait()
		b := make([]byte, 64)
		for _, fd := range pair {
			if n, err := unix.Read(fd, b); err != unix.EAGAIN {
				t.Fatalf("a socket opened after the close read %q, %v", b[:max(n, 0)], err)
			}
		}
		unix.Close(pair[0])
		unix.Close(pair[1])
		client.Close()
	}
	t.Logf("%d of 300 sockets opened after a close took its number", reused)
}
