package hub

import (
	"time"

	"github.com/herd-sse/herd/sse"
)

// Heartbeats and write timeouts. A stream silent for Config.Heartbeat gets
// a comment, and a client that takes no bytes for Config.WriteTimeout is
// dropped, on both of the hub's paths, each with its own precision:
//
//   - net/http's path (TLS, --engine=false, other systems): the
//     stream's goroutine keeps an exact timer (sse.Stream's) and a write
//     deadline on the connection.
//   - the connection engine: one sweep checks every parked stream each
//     sweepEvery, so a heartbeat or a drop comes up to that much late.
//   - the hub's HTTP/2 server: one sweep per hub checks every connection
//     with parked streams each sweepEvery too (h2_sweep.go), with the
//     same precision.
//
// The engine and the HTTP/2 server read the time from the hub's clock,
// which tests replace (a goroutine blocked in epoll_wait is not durably
// blocked, so testing/synctest cannot advance the engine's time); the
// engine's sweep and the HTTP/2 server's run on it (clock.every); an
// HTTP/2 connection's idle timeout is a timer of package time. sse.Stream
// reads package time, which testing/synctest fakes.

// heartbeat is what the engine sends an idle stream, as sse.Stream does.
var heartbeat = sse.CommentFrame("").Bytes()

// A clock is the time as the connection engine and the HTTP/2 server
// read it. Tests replace the real one with one they advance by hand.
type clock interface {
	Now() time.Time
	// every calls fn with the time, every d, from one goroutine, until
	// stop is called; stop returns once a call under way has returned.
	every(d time.Duration, fn func(now time.Time)) (stop func())
}

// sweepEvery is how often the connection engine checks its streams for
// heartbeats due and writes stuck past the timeout: a quarter of the
// shorter of the two, at most a second. A heartbeat then goes out within a
// quarter of the interval (or a second) after it is due, and a stuck
// client is dropped as late; a sweep costs a look at every parked stream,
// so the defaults (15s, 10s) sweep once a second, not more.
func sweepEvery(heartbeat, writeTimeout time.Duration) time.Duration {
	return min(heartbeat, writeTimeout, 4*time.Second) / 4
}

// realClock is the system's time.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) every(d time.Duration, fn func(time.Time)) func() {
	t := time.NewTicker(d)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				fn(now)
			}
		}
	}()
	return func() {
		t.Stop()
		close(quit)
		<-done
	}
}
