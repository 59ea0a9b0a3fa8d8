package hub

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a clock that moves only when a test advances it, running
// what it drives (the engine's sweep, the HTTP/2 heartbeat sweep) on the
// test's goroutine: when advance returns, every sweep due has run.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	period time.Duration // the first every's (the engine's, where there is one)
	runs   []*fakeRun
}

// fakeRun is one every's function and when it is next due.
type fakeRun struct {
	period time.Duration
	next   time.Time
	fn     func(time.Time) // nil once stopped
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) every(d time.Duration, fn func(time.Time)) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.runs) == 0 {
		c.period = d
	}
	r := &fakeRun{period: d, next: c.now.Add(d), fn: fn}
	c.runs = append(c.runs, r)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		r.fn = nil
	}
}

// advance moves the time on by d, calling each function at every period
// it crosses, in the order they fall due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var due *fakeRun
		for _, r := range c.runs {
			if r.fn != nil && !r.next.After(end) && (due == nil || r.next.Before(due.next)) {
				due = r
			}
		}
		if due == nil {
			break
		}
		now, fn := due.next, due.fn
		c.now, due.next = now, now.Add(due.period)
		c.mu.Unlock()
		fn(now)
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// TestSweepEvery: the engine checks its streams four times per heartbeat
// or write timeout, whichever is shorter, and at least once a second.
func TestSweepEvery(t *testing.T) {
	for _, tc := range []struct{ heartbeat, writeTimeout, want time.Duration }{
		{DefaultHeartbeat, DefaultWriteTimeout, time.Second},
		{MinHeartbeat, DefaultWriteTimeout, MinHeartbeat / 4},
		{time.Second, 200 * time.Millisecond, 50 * time.Millisecond},
		{4 * time.Second, time.Hour, time.Second},
		{time.Hour, time.Hour, time.Second},
	} {
		if got := sweepEvery(tc.heartbeat, tc.writeTimeout); got != tc.want {
			t.Errorf("sweepEvery(%v, %v) = %v, want %v", tc.heartbeat, tc.writeTimeout, got, tc.want)
		}
	}
}

// TestRealClock: the real clock calls its function every period, from one
// goroutine, until stopped, and stop waits for a call under way.
func TestRealClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var calls []time.Duration
		hold := make(chan struct{})
		stop := realClock{}.every(time.Second, func(now time.Time) {
			calls = append(calls, now.Sub(start))
			if len(calls) == 3 {
				<-hold
			}
		})
		time.Sleep(3 * time.Second)
		synctest.Wait() // the third call is under way, held
		stopped := make(chan struct{})
		go func() {
			stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned during a call")
		default:
		}
		close(hold)
		<-stopped
		time.Sleep(5 * time.Second)
		if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(calls, want) {
			t.Errorf("called at %v, want %v and none after stop", calls, want)
		}
	})
}
