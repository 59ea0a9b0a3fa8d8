package hub

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when a test advances it, running
// what it drives (the engine's sweep) on the test's goroutine: when
// advance returns, every sweep due has run.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	period time.Duration
	next   time.Time
	fn     func(time.Time)
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
	c.period, c.fn, c.next = d, fn, c.now.Add(d)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fn = nil
	}
}

// advance moves the time on by d, calling fn at every period it crosses.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for c.fn != nil && !c.next.After(end) {
		now, fn := c.next, c.fn
		c.now, c.next = now, now.Add(c.period)
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

// TestRealClock: the real clock calls its function, from one goroutine,
// until stopped, and stop waits for a call under way.
func TestRealClock(t *testing.T) {
	calls := make(chan time.Time)
	var mu sync.Mutex
	inCall := false
	stop := realClock{}.every(time.Millisecond, func(now time.Time) {
		mu.Lock()
		inCall = true
		mu.Unlock()
		calls <- now
		mu.Lock()
		inCall = false
		mu.Unlock()
	})
	first, second := <-calls, <-calls
	if !second.After(first) {
		t.Errorf("calls at %v then %v", first, second)
	}
	go func() {
		for range calls { // let a call under way finish
		}
	}()
	stop()
	mu.Lock()
	defer mu.Unlock()
	if inCall {
		t.Error("stop returned during a call")
	}
	close(calls)
}
