//go:build linux

package hub_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"golang.org/x/net/http2"
)

// An outside attack on event streams' lifecycles: every way a client can
// end or abandon a stream, at every point of its life, leaves nothing of
// it behind (no subscriber, no parked stream, no handler, no goroutine,
// no descriptor).

const lifecycleRounds = 20

// baseline is what a server holds at rest, to compare with once the
// clients of a case have gone.
type baseline struct{ fds, goroutines int }

func takeBaseline(t *testing.T) baseline {
	runtime.GC()
	return baseline{openFDs(t), runtime.NumGoroutine()}
}

// clean waits for h to hold no subscriber, no parked stream, no handler,
// and for the descriptors and goroutines to come back to b.
func clean(t *testing.T, h *hub.Hub, b baseline) {
	t.Helper()
	until(t, "no subscriber left", func() bool { st := h.Stats(); return st.Subscribers == 0 && st.Parked == 0 })
	until(t, "no handler running", func() bool { return handlersRunning() == 0 })
	until(t, "descriptors back", func() bool { return openFDs(t) <= b.fds })
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > b.goroutines; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, were %d:\n%s", runtime.NumGoroutine(), b.goroutines, buf[:runtime.Stack(buf, true)])
		}
	}
}

func eventsRequest(fr *http2.Framer, id uint32, addr, query string, lastID string) {
	fields := [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", addr}, {":path", "/events?" + query}}
	if lastID != "" {
		fields = append(fields, [2]string{"last-event-id", lastID})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true, BlockFragment: headerBlock(fields...)})
}

// readStream reads frames until stream id's response head and then data
// bytes of it (0: the head only), answering with window updates if open.
func readStream(t *testing.T, fr *http2.Framer, id uint32, data int, open bool) {
	t.Helper()
	readFrames(t, fr, id, false, data, open)
}

// readH2Data reads data bytes of stream id, whose head came already.
func readH2Data(t *testing.T, fr *http2.Framer, id uint32, data int, open bool) {
	t.Helper()
	readFrames(t, fr, id, true, data, open)
}

func readFrames(t *testing.T, fr *http2.Framer, id uint32, head bool, data int, open bool) {
	t.Helper()
	got := 0
	for !head || got < data {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("stream %d: %v (head %v, %d bytes)", id, err, head, got)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				if s := f.PseudoValue("status"); s != "200" {
					t.Fatalf("stream %d: status %s", id, s)
				}
				head = true
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				got += len(f.Data())
			}
			if open && len(f.Data()) > 0 {
				fr.WriteWindowUpdate(0, uint32(len(f.Data())))
				fr.WriteWindowUpdate(f.StreamID, uint32(len(f.Data())))
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
}

// history publishes n events of size bytes on topic.
func history(t *testing.T, h *hub.Hub, topic string, n, size int) {
	data := strings.Repeat("x", size)
	for range n {
		publish(t, h, msg(data, topic))
	}
}

// bigWindow is the settings of a client that opens a large window.
var bigWindow = []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 30}}

func forH2(t *testing.T, f func(t *testing.T, h2c bool)) {
	for _, h2c := range []bool{false, true} {
		t.Run(map[bool]string{false: "tls", true: "h2c"}[h2c], func(t *testing.T) { f(t, h2c) })
	}
}

// leave is how a client abandons a stream.
type leave int

const (
	leaveReset      leave = iota // RST_STREAM, the connection kept (closed later)
	leaveClose                   // the connection closed, no RST_STREAM
	leaveResetClose              // RST_STREAM, then the connection closed at once
	leaveGoAway                  // GOAWAY, then the connection closed
	leaveHalfClose               // the client's write side shut (FIN, or close_notify then FIN)
)

var leaves = []leave{leaveReset, leaveClose, leaveResetClose, leaveGoAway, leaveHalfClose}

func (l leave) String() string {
	return [...]string{"reset", "close", "reset+close", "goaway+close", "halfclose"}[l]
}

func (l leave) do(conn net.Conn, fr *http2.Framer, ids ...uint32) {
	switch l {
	case leaveReset:
		for _, id := range ids {
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	case leaveClose:
		conn.Close()
	case leaveResetClose:
		for _, id := range ids {
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		conn.Close()
	case leaveGoAway:
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		conn.Close()
	case leaveHalfClose:
		conn.(interface{ CloseWrite() error }).CloseWrite()
	}
}

// afterLeave waits for the stream to end after l, and for its client to
// go (a half-closed or reset-only client is closed once the hub has let
// the stream go).
func afterLeave(t *testing.T, h *hub.Hub, conn net.Conn, l leave) {
	t.Helper()
	until(t, fmt.Sprintf("the streams ended after %v", l), func() bool { st := h.Stats(); return st.Subscribers == 0 && st.Parked == 0 })
	conn.Close()
}

// warmH2 parks a stream and drops it, so that what the hub starts once
// (the h2 poller, the heartbeat sweep) is running before a baseline.
func warmH2(t *testing.T, h *hub.Hub, addr string, h2c bool) {
	t.Helper()
	conn, fr := dialH2Conn(t, addr, h2c)
	eventsRequest(fr, 1, addr, "topic=warm", "")
	readStream(t, fr, 1, 0, false)
	until(t, "parked", func() bool { return h.Stats().Parked == 1 })
	conn.Close()
	until(t, "warm-up gone", func() bool { st := h.Stats(); return st.Subscribers == 0 && st.Parked == 0 })
}

// TestLifecycle_H2 abandons an HTTP/2 event stream in every way at
// every point of its life, over TLS and h2c.
func TestLifecycle_H2(t *testing.T) {
	points := []struct {
		name string
		// setup publishes what the point needs; open reports the client's settings.
		history  int
		lastID   string
		settings []http2.Setting
		open     bool
		// reach brings the stream to the point; it returns once there.
		reach func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string)
	}{
		{name: "beforeHead", reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			eventsRequest(fr, 1, addr, "topic="+topic, "")
		}},
		{name: "afterHead", reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			eventsRequest(fr, 1, addr, "topic="+topic, "")
			readStream(t, fr, 1, 0, false)
		}},
		{name: "parked", reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			eventsRequest(fr, 1, addr, "topic="+topic, "")
			readStream(t, fr, 1, 0, false)
			until(t, "parked", func() bool { return h.Stats().Parked == 1 })
		}},
		// A replay waiting for a window the client does not give.
		{name: "replayNoWindow", history: 400, lastID: hub.EarliestID, reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			eventsRequest(fr, 1, addr, "topic="+topic, hub.EarliestID)
			readStream(t, fr, 1, 32<<10, false)
		}},
		// A replay under way, with all the window it wants.
		{name: "replayOpen", history: 400, settings: bigWindow, open: true, reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			fr.WriteWindowUpdate(0, 1<<30)
			eventsRequest(fr, 1, addr, "topic="+topic, hub.EarliestID)
			readStream(t, fr, 1, 100<<10, true)
		}},
		// Parked, the flusher writing a backlog larger than the window.
		{name: "flusherNoWindow", reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			eventsRequest(fr, 1, addr, "topic="+topic, "")
			readStream(t, fr, 1, 0, false)
			until(t, "parked", func() bool { return h.Stats().Parked == 1 })
			history(t, h, topic, 100, 1000)
			readH2Data(t, fr, 1, 32<<10, false)
		}},
		// Parked, the flusher writing a large backlog with window open.
		{name: "flusherOpen", settings: bigWindow, open: true, reach: func(t *testing.T, h *hub.Hub, fr *http2.Framer, addr, topic string) {
			fr.WriteWindowUpdate(0, 1<<30)
			eventsRequest(fr, 1, addr, "topic="+topic, "")
			readStream(t, fr, 1, 0, true)
			until(t, "parked", func() bool { return h.Stats().Parked == 1 })
			go func() {
				for range 300 {
					if _, _, err := h.Publish(context.Background(), msg(strings.Repeat("y", 900), topic)); err != nil {
						return
					}
				}
			}()
		}},
	}
	forH2(t, func(t *testing.T, h2c bool) {
		h, srv := newH2ServerOver(t, h2c, hub.Config{})
		addr := srv.Listener.Addr().String()
		warmH2(t, h, addr, h2c)
		for _, p := range points {
			topic := "t-" + p.name
			if p.history > 0 {
				history(t, h, topic, p.history, 1000)
			}
			for _, l := range leaves {
				t.Run(p.name+"/"+l.String(), func(t *testing.T) {
					b := takeBaseline(t)
					for range lifecycleRounds {
						conn, fr := dialH2Conn(t, addr, h2c, p.settings...)
						p.reach(t, h, fr, addr, topic)
						l.do(conn, fr, 1)
						afterLeave(t, h, conn, l)
					}
					clean(t, h, b)
				})
			}
		}
	})
}

// TestLifecycle_H2ManyStreams: many event streams on one connection, at
// different points (parked, replaying without a window, replaying with
// one), are all abandoned at once, in each way.
func TestLifecycle_H2ManyStreams(t *testing.T) {
	const streams = 30
	forH2(t, func(t *testing.T, h2c bool) {
		h, srv := newH2ServerOver(t, h2c, hub.Config{})
		addr := srv.Listener.Addr().String()
		warmH2(t, h, addr, h2c)
		history(t, h, "many", 200, 1000)
		for _, l := range leaves {
			t.Run(l.String(), func(t *testing.T) {
				b := takeBaseline(t)
				for range lifecycleRounds / 2 {
					conn, fr := dialH2Conn(t, addr, h2c)
					var ids []uint32
					for i := range streams {
						id := uint32(2*i + 1)
						ids = append(ids, id)
						last := ""
						if i%3 != 0 {
							last = hub.EarliestID // a replay, held by the windows
						}
						eventsRequest(fr, id, addr, "topic=many", last)
					}
					until(t, "every stream subscribed", func() bool { return h.Stats().Subscribers == streams })
					l.do(conn, fr, ids...)
					afterLeave(t, h, conn, l)
				}
				clean(t, h, b)
			})
		}
	})
}

// TestLifecycle_H2CloseRacesReset: the topic's close event, published as
// the client resets its parked stream (and leaves), ends the stream once.
func TestLifecycle_H2CloseRacesReset(t *testing.T) {
	forH2(t, func(t *testing.T, h2c bool) {
		h, srv := newH2ServerOver(t, h2c, hub.Config{})
		addr := srv.Listener.Addr().String()
		warmH2(t, h, addr, h2c)
		for _, l := range leaves {
			t.Run(l.String(), func(t *testing.T) {
				b := takeBaseline(t)
				for i := range lifecycleRounds {
					topic := fmt.Sprintf("end-%d-%d", l, i)
					conn, fr := dialH2Conn(t, addr, h2c)
					for k := range 4 {
						eventsRequest(fr, uint32(2*k+1), addr, "topic="+topic, "")
					}
					until(t, "parked", func() bool { return h.Stats().Parked == 4 })
					done := make(chan struct{})
					go func() {
						defer close(done)
						h.Publish(context.Background(), herd.Message{Topics: []string{topic}, Data: "bye", Close: true})
					}()
					l.do(conn, fr, 1, 3, 5, 7)
					<-done
					afterLeave(t, h, conn, l)
				}
				clean(t, h, b)
			})
		}
	})
}

// TestLifecycle_H2HubCloses: the hub closing while streams are parked,
// replaying, waiting for a window, and being reset, leaves none of them
// behind, and no goroutine.
func TestLifecycle_H2HubCloses(t *testing.T) {
	forH2(t, func(t *testing.T, h2c bool) {
		// Close ends the streams at random moments within the shutdown
		// window (spreading the reconnections), and a stream whose client
		// reads nothing ends at the write timeout: short ones here.
		for i := range lifecycleRounds / 2 {
			h, srv := newH2ServerOver(t, h2c, hub.Config{ShutdownWindow: 50 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
			addr := srv.Listener.Addr().String()
			history(t, h, "c", 100, 1000)
			conn, fr := dialH2Conn(t, addr, h2c)
			for k := range 6 {
				last := ""
				if k%2 == 1 {
					last = hub.EarliestID
				}
				eventsRequest(fr, uint32(2*k+1), addr, "topic=c", last)
			}
			until(t, "subscribed", func() bool { return h.Stats().Subscribers == 6 })
			if i%2 == 1 {
				fr.WriteRSTStream(1, http2.ErrCodeCancel)
				fr.WriteRSTStream(3, http2.ErrCodeCancel)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if i%3 == 0 {
				cancel()
			}
			go func() {
				if i%4 == 0 {
					conn.Close()
				}
			}()
			h.Close(ctx)
			cancel()
			until(t, "every stream ended", func() bool { st := h.Stats(); return st.Subscribers == 0 && st.Parked == 0 })
			conn.Close()
			srv.Close()
			until(t, "no handler running", func() bool { return handlersRunning() == 0 })
		}
	})
}

// TestLifecycle_H2SlowReader: a parked stream whose client reads nothing
// and gives no window is ended as slow once its queue overflows, and
// leaves nothing, whether or not its client then resets it or leaves.
func TestLifecycle_H2SlowReader(t *testing.T) {
	forH2(t, func(t *testing.T, h2c bool) {
		h, srv := newH2ServerOver(t, h2c, hub.Config{QueueLength: 8})
		addr := srv.Listener.Addr().String()
		warmH2(t, h, addr, h2c)
		for _, l := range leaves {
			t.Run(l.String(), func(t *testing.T) {
				b := takeBaseline(t)
				for i := range lifecycleRounds / 2 {
					topic := fmt.Sprintf("slow-%d-%d", l, i) // no event of a round before dispatched to this one
					slow := h.Stats().Ended["slow"]
					conn, fr := dialH2Conn(t, addr, h2c)
					eventsRequest(fr, 1, addr, "topic="+topic, "")
					readStream(t, fr, 1, 0, false)
					until(t, "parked", func() bool { return h.Stats().Parked == 1 })
					for h.Stats().Ended["slow"] == slow {
						publish(t, h, msg(strings.Repeat("z", 4000), topic))
					}
					l.do(conn, fr, 1)
					afterLeave(t, h, conn, l)
				}
				clean(t, h, b)
			})
		}
	})
}

// TestLifecycle_H1 abandons an HTTP/1.1 event stream on the connection
// engine, plain and over TLS (Hub.TLSListener), at every point of its
// life: before the head, after it, during a replay, with data unread;
// by closing, by a TCP reset (linger 0), by a half-close.
func TestLifecycle_H1(t *testing.T) {
	type point struct {
		name    string
		lastID  string
		head    bool
		read    int  // bytes of the body read before leaving
		publish bool // events published (unread) once parked
	}
	points := []point{
		{name: "beforeHead"},
		{name: "afterHead", head: true},
		{name: "replay", lastID: hub.EarliestID, head: true, read: 50 << 10},
		{name: "replayUnread", lastID: hub.EarliestID, head: true},
		{name: "parkedUnread", head: true, publish: true},
	}
	type how int
	const (
		hClose how = iota
		hReset
		hHalfClose
	)
	hows := map[how]string{hClose: "close", hReset: "tcpreset", hHalfClose: "halfclose"}
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[tlsOn], func(t *testing.T) {
			h := newHub(t, hub.Config{}, herd.Retention{})
			var addr string
			if tlsOn {
				addr = tlsServer(t, h)
			} else {
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				addr = srv.Listener.Addr().String()
			}
			history(t, h, "h1", 400, 1000)
			dial := func() (net.Conn, *net.TCPConn) {
				tcp, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tcp.Close() })
				if !tlsOn {
					return tcp, tcp.(*net.TCPConn)
				}
				c := tls.Client(tcp, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err := c.Handshake(); err != nil {
					t.Fatal(err)
				}
				return c, tcp.(*net.TCPConn)
			}
			// Warm up: what starts once (the engine's writers) runs before a baseline.
			c, _ := dial()
			io.WriteString(c, "GET /events?topic=warm HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("warm-up: %v %v", resp, err)
			}
			until(t, "parked", func() bool { return h.Stats().Parked == 1 })
			c.Close()
			until(t, "warm-up gone", func() bool { return h.Stats().Subscribers == 0 })
			for _, p := range points {
				for hw := hClose; hw <= hHalfClose; hw++ {
					t.Run(p.name+"/"+hows[hw], func(t *testing.T) {
						b := takeBaseline(t)
						for range lifecycleRounds {
							c, tcp := dial()
							req := "GET /events?topic=h1 HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
							if p.lastID != "" {
								req += "Last-Event-ID: " + p.lastID + "\r\n"
							}
							io.WriteString(c, req+"\r\n")
							if p.head {
								br := bufio.NewReader(c)
								resp, err := http.ReadResponse(br, nil)
								if err != nil || resp.StatusCode != 200 {
									t.Fatalf("subscribe: %v %v", resp, err)
								}
								if p.read > 0 {
									if _, err := io.CopyN(io.Discard, resp.Body, int64(p.read)); err != nil {
										t.Fatal(err)
									}
								}
							}
							if p.publish {
								until(t, "parked", func() bool { return h.Stats().Parked == 1 })
								for range 50 {
									publish(t, h, msg(strings.Repeat("u", 4000), "h1"))
								}
							}
							switch hw {
							case hClose:
								c.Close()
							case hReset:
								tcp.SetLinger(0)
								tcp.Close()
							case hHalfClose:
								// Over TLS, close_notify and then the TCP FIN: crypto/tls's
								// CloseWrite alone sends no FIN, and a close_notify read
								// with the request, before the stream is handed to the
								// engine, is not seen (the client may still read; its
								// stream ends when it closes).
								c.(interface{ CloseWrite() error }).CloseWrite()
								tcp.CloseWrite()
							}
							for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
								if st := h.Stats(); st.Subscribers == 0 && st.Parked == 0 {
									break
								}
								if time.Now().After(deadline) {
									buf := make([]byte, 1<<20)
									t.Fatalf("the stream never ended: %+v\n%s", h.Stats(), buf[:runtime.Stack(buf, true)])
								}
							}
							c.Close()
						}
						until(t, "descriptors back", func() bool { return openFDs(t) <= b.fds })
						clean(t, h, b)
					})
				}
			}
		})
	}
}

// TestLifecycle_H2Face: a face's stream (SubscribeFace, Serve) on the
// hub's HTTP/2 server is abandoned in every way once parked, and as its
// topic closes; each stream ends once (its Ended called once), and
// nothing of it is left.
func TestLifecycle_H2Face(t *testing.T) {
	forH2(t, func(t *testing.T, h2c bool) {
		var mu sync.Mutex
		ended := 0
		var h *hub.Hub
		h, srv := newH2ServerOver(t, h2c, hub.Config{}, func(s *http.Server) {
			mux := s.Handler.(*http.ServeMux)
			mux.HandleFunc("/face", func(w http.ResponseWriter, r *http.Request) {
				opts := hub.FaceOptions{Selectors: []string{r.URL.Query().Get("topic")}, Exact: true, After: r.URL.Query().Get("after"),
					Ended: func() { mu.Lock(); ended++; mu.Unlock() }}
				fs, err := h.SubscribeFace(r.Context(), shoutFace, opts, r)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fs.Serve(w, r)
			})
		})
		addr := srv.Listener.Addr().String()
		warmH2(t, h, addr, h2c)
		history(t, h, "fh", 200, 1000)
		faceRequest := func(fr *http2.Framer, id uint32, query string) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true, BlockFragment: headerBlock(
				[2]string{":method", "GET"}, [2]string{":scheme", "https"}, [2]string{":authority", addr}, [2]string{":path", "/face?" + query})})
		}
		for _, l := range leaves {
			t.Run(l.String(), func(t *testing.T) {
				b := takeBaseline(t)
				mu.Lock()
				ended = 0
				mu.Unlock()
				for i := range lifecycleRounds {
					topic := fmt.Sprintf("f-%d-%d", l, i)
					conn, fr := dialH2Conn(t, addr, h2c)
					faceRequest(fr, 1, "topic="+topic)
					readStream(t, fr, 1, 0, false)
					until(t, "parked", func() bool { return h.Stats().Parked == 1 })
					// Then one replaying, held by the window (it takes the
					// connection's: stream 1 opened first so as to park).
					faceRequest(fr, 3, "topic=fh&after="+hub.EarliestID)
					until(t, "both subscribed", func() bool { return h.Stats().Subscribers == 2 })
					done := make(chan struct{})
					go func() {
						defer close(done)
						if i%2 == 0 {
							h.Publish(context.Background(), herd.Message{Topics: []string{topic}, Data: "bye", Close: true})
						}
					}()
					l.do(conn, fr, 1, 3)
					<-done
					afterLeave(t, h, conn, l)
				}
				clean(t, h, b)
				mu.Lock()
				defer mu.Unlock()
				if ended != 2*lifecycleRounds {
					t.Errorf("Ended called %d times for %d streams", ended, 2*lifecycleRounds)
				}
			})
		}
	})
}
