package nats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/herd-sse/herd"
)

// Reopening on JetStream. The stream cannot check and change the closed
// topics in one step, so a reopen, like a close, is decided by the log: a
// marker message (hReopen) to the topics ends each one's current close at
// the marker's position. Every node reads the same log, so every node
// finds the same messages void: those of a topic after its close and
// before the marker that reopens it. The marker is itself void (never
// served). The bucket keeps each topic's closes as spans, "from-to" for a
// close reopened at to, and a bare "from" for the close in force, comma-
// separated in order, so that nodes reading after retention removed the
// messages still know them.

// hReopen marks a reopen message.
const hReopen = "Herd-Reopen"

// reopenType is the marker's event type, should an older herd serve it.
const reopenType = "herd.reopen"

// A span is a close at from, reopened at to.
type span struct{ from, to herd.Pos }

var _ herd.Reopener = (*Store)(nil)

// Reopen implements hub.Reopener: it appends a marker, waits until this
// node has read it, and reports the closes it ended.
func (s *Store) Reopen(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	out := map[string]herd.Pos{}
	if len(topics) == 0 {
		return out, nil
	}
	msg := natsgo.NewMsg(s.subject)
	msg.Header.Set(hTime, strconv.FormatInt(time.Now().UnixNano(), 10))
	msg.Header.Set(hTopics, strings.Join(topics, " "))
	msg.Header.Set(hType, strconv.Quote(reopenType))
	msg.Header.Set(hFlags, flagString(false, false, true)) // private, should an older herd serve it
	msg.Header.Set(hReopen, "1")
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, s.wrap("reopen", err)
	}
	p := herd.Pos(ack.Sequence)
	c := s.topics.Load()
	if err := c.wait(ctx, p); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range topics {
		for _, sp := range c.spans[t] {
			if sp.to == p {
				out[t] = sp.from
			}
		}
	}
	return out, nil
}

// applyReopen applies a marker at p: each of topics closed before p is
// open from p on, and the bucket says so before p is passed.
func (c *closedTopics) applyReopen(ctx context.Context, topics []string, p herd.Pos) error {
	c.mu.Lock()
	c.markers[p] = true // before p is passed: it is never served
	c.mu.Unlock()
	for _, t := range topics {
		c.mu.Lock()
		q, closed := c.first[t]
		if !closed || q >= p || c.seen(t, p) {
			c.mu.Unlock()
			continue
		}
		delete(c.first, t)
		c.spans[t] = append(c.spans[t], span{q, p})
		value := c.bucketValue(t)
		c.mu.Unlock()
		if _, err := c.s.closed.Put(ctx, closedKey(t), []byte(value)); err != nil {
			return c.s.wrap("record reopen", err)
		}
	}
	return nil
}

// seen reports whether p is within the spans already known for t (read
// from the bucket, then met again in the stream). c.mu is held.
func (c *closedTopics) seen(t string, p herd.Pos) bool {
	sp := c.spans[t]
	return len(sp) > 0 && p <= sp[len(sp)-1].to
}

// voidByReopens reports whether a message at p to topic t is void by a
// reopened close, or is a marker. c.mu is held.
func (c *closedTopics) voidByReopens(t string, p herd.Pos) bool {
	if c.markers[p] {
		return true
	}
	for _, sp := range c.spans[t] {
		if sp.from < p && p < sp.to {
			return true
		}
	}
	return false
}

// bucketValue is t's entry in the bucket: its spans, then its close in
// force, if any. c.mu is held.
func (c *closedTopics) bucketValue(t string) string {
	var parts []string
	for _, sp := range c.spans[t] {
		parts = append(parts, fmt.Sprintf("%d-%d", sp.from, sp.to))
	}
	if q, ok := c.first[t]; ok {
		parts = append(parts, strconv.FormatUint(uint64(q), 10))
	}
	return strings.Join(parts, ",")
}

// parseClosed reads a bucket entry: the reopened spans, and the close in
// force (0 if none). An entry of an older herd is a bare position.
func parseClosed(v string) (spans []span, closed herd.Pos, ok bool) {
	for part := range strings.SplitSeq(v, ",") {
		from, to, isSpan := strings.Cut(part, "-")
		f, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			return nil, 0, false
		}
		if !isSpan {
			closed = herd.Pos(f)
			continue
		}
		t, err := strconv.ParseUint(to, 10, 64)
		if err != nil {
			return nil, 0, false
		}
		spans = append(spans, span{herd.Pos(f), herd.Pos(t)})
	}
	return spans, closed, true
}
