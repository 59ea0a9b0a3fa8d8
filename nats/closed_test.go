package nats

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herd-sse/herd"
)

// The closed-topic log's logic, without a server: which messages are
// void, the bucket's entries, the ring of idempotency keys, and the
// waits for the reader.

// TestClosedBefore: a message is void when one of its topics was closed
// before it (the close itself is not), or it falls inside a close that a
// marker reopened, or it is a marker.
func TestClosedBefore(t *testing.T) {
	c := newClosedTopics(nil)
	c.first["a"] = 10                     // a: closed at 10, in force
	c.spans["b"] = []span{{5, 8}}         // b: closed at 5, reopened at 8
	c.spans["c"] = []span{{2, 4}, {6, 9}} // c: twice
	c.first["c"] = 12                     // and closed again at 12
	c.markers[8] = true
	for _, tc := range []struct {
		topics []string
		p      herd.Pos
		void   string // the topic that voids it, "" if none
	}{
		{[]string{"a"}, 9, ""},
		{[]string{"a"}, 10, ""}, // the close itself
		{[]string{"a"}, 11, "a"},
		{[]string{"x", "a"}, 11, "a"},
		{[]string{"x"}, 11, ""},
		{[]string{"b"}, 5, ""},
		{[]string{"b"}, 6, "b"},
		{[]string{"b"}, 8, "b"}, // the marker
		{[]string{"x"}, 8, "x"}, // a marker is void whatever its topics
		{[]string{"b"}, 9, ""},
		{[]string{"c"}, 3, "c"},
		{[]string{"c"}, 5, ""},
		{[]string{"c"}, 7, "c"},
		{[]string{"c"}, 10, ""},
		{[]string{"c"}, 13, "c"},
	} {
		topic, void := c.closedBefore(tc.topics, tc.p)
		if void != (tc.void != "") || topic != tc.void {
			t.Errorf("closedBefore(%q, %d) = %q, %v; want %q", tc.topics, tc.p, topic, void, tc.void)
		}
	}
	if !c.seen("c", 9) || c.seen("c", 10) || c.seen("a", 1) {
		t.Error("seen: a position is within the known spans up to the last one's end")
	}
}

// TestBucketValue: a topic's entry lists its reopened spans, then its
// close in force, and reads back as written; an older herd's entry is a
// bare position; anything else is refused.
func TestBucketValue(t *testing.T) {
	c := newClosedTopics(nil)
	c.spans["c"] = []span{{2, 4}, {6, 9}}
	c.first["c"] = 12
	c.first["a"] = 10
	c.spans["b"] = []span{{5, 8}}
	for topic, want := range map[string]string{"a": "10", "b": "5-8", "c": "2-4,6-9,12", "x": ""} {
		v := c.bucketValue(topic)
		if v != want {
			t.Errorf("bucketValue(%s) = %q, want %q", topic, v, want)
		}
		if v == "" {
			continue
		}
		spans, closed, ok := parseClosed(v)
		if !ok || !slices.Equal(spans, c.spans[topic]) || closed != c.first[topic] {
			t.Errorf("parseClosed(%q) = %v, %d, %v; want %v, %d", v, spans, closed, ok, c.spans[topic], c.first[topic])
		}
	}
	for _, bad := range []string{"", "x", "1-", "-2", "1-2-3", "1,,2", "1;2"} {
		if _, _, ok := parseClosed(bad); ok {
			t.Errorf("parseClosed(%q) accepted", bad)
		}
	}
}

// TestKeyRing: an acknowledgement naming the message with its key is
// right; one naming another's is corrected to where the key was read,
// or refused if it was not; one older than the ring is taken as is.
func TestKeyRing(t *testing.T) {
	c := newClosedTopics(nil)
	c.keys.add(1, "k1")
	c.keys.add(2, "")
	c.keys.add(3, "k3")
	for _, tc := range []struct {
		key  string
		p    herd.Pos
		want herd.Pos
		err  bool
	}{
		{"k1", 1, 1, false},
		{"k3", 3, 3, false},
		{"k1", 3, 1, false}, // named another's message: where k1 was read
		{"k9", 2, 0, true},  // never read: a later read may know
		{"k9", 5, 5, false}, // not read yet at all: as acknowledged
	} {
		got, err := c.locate(tc.key, tc.p)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("locate(%q, %d) = %d, %v; want %d (error %v)", tc.key, tc.p, got, err, tc.want, tc.err)
		}
	}
	// A full turn of the ring later, k1's slot holds another key, and
	// k1 is forgotten.
	c.keys.add(1+keyRingSize, "k1b")
	if _, ok := c.keys.where["k1"]; ok {
		t.Error("a key overwritten in the ring is still remembered")
	}
	if got, err := c.locate("k1b", 1+keyRingSize); got != 1+keyRingSize || err != nil {
		t.Errorf("locate after a turn = %d, %v", got, err)
	}
	if got, err := c.locate("k1", 1); got != 1 || err != nil { // older than the ring
		t.Errorf("locate of a position gone from the ring = %d, %v", got, err)
	}
}

// TestWait: a wait returns once the reader has applied its position, and
// only those waiting for positions applied wake; it gives up when its
// context ends, when the store closes, and after maxWait, saying why.
func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClosedTopics(nil)
		woke := make(chan herd.Pos, 3)
		for _, p := range []herd.Pos{1, 2, 3} {
			go func() {
				if err := c.wait(context.Background(), p); err != nil {
					t.Errorf("wait(%d) = %v", p, err)
				}
				woke <- p
			}()
		}
		synctest.Wait()
		c.advance(2)
		synctest.Wait()
		if got := []herd.Pos{<-woke, <-woke}; !slices.Contains(got, 1) || !slices.Contains(got, 2) || len(woke) != 0 {
			t.Errorf("advance(2) woke %v and %d more, want 1 and 2 only", got, len(woke))
		}
		c.advance(1) // behind: nothing changes
		if c.at != 2 {
			t.Errorf("at = %d after advancing backwards", c.at)
		}
		c.advance(3)
		if p := <-woke; p != 3 {
			t.Errorf("woke %d", p)
		}
		if err := c.wait(context.Background(), 3); err != nil {
			t.Errorf("wait for a position applied = %v", err)
		}

		// The reader is stuck: a wait gives up after maxWait with why.
		c.mu.Lock()
		c.err = errors.New("stream gone")
		c.mu.Unlock()
		start := time.Now()
		if err := c.wait(context.Background(), 4); err == nil || !strings.Contains(err.Error(), "stream gone") || time.Since(start) != maxWait {
			t.Errorf("a stuck wait = %v after %v, want the reader's error after %v", err, time.Since(start), maxWait)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.wait(ctx, 4); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a wait whose context ends = %v", err)
		}
		go func() {
			synctest.Wait()
			close(c.done) // the reader exits
		}()
		if err := c.wait(context.Background(), 4); !errors.Is(err, herd.ErrStoreClosed) {
			t.Errorf("a wait as the store closes = %v, want ErrStoreClosed", err)
		}
	})
}
