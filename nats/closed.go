package nats

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herd-sse/herd"
)

// closedTopics knows which topics are closed, exactly, as of a position in
// the stream. JetStream cannot check that a topic is open and append in
// one step, so the log decides: a message is void when one of its topics
// was closed at an earlier position. Every node reads the same log and so
// finds the same messages void: Append refuses a void message once its
// node has read up to it, and Read, Follow and Stats never return one.
//
// It reads the headers of every message in order, from the oldest
// retained one; closes older than that come from the KV bucket, where the
// first close of each topic is recorded before the position is passed (so
// before the close is acknowledged). Its goroutine runs from Open to
// Close.
type closedTopics struct {
	s *Store

	mu      sync.Mutex
	at      herd.Pos            // every message up to at is applied
	first   map[string]herd.Pos // each closed topic's close in force
	spans   map[string][]span   // each topic's closes reopened since (reopen.go)
	markers map[herd.Pos]bool   // the reopen markers read
	waiters []waiter            // calls waiting for at to reach their position
	err     error               // why the last read stopped, while behind
	keys    keyRing             // the idempotency keys of the latest messages

	stop chan struct{}
	done chan struct{} // the reader has exited
}

// A waiter is a call waiting until the messages up to p are applied.
type waiter struct {
	p     herd.Pos
	ready chan struct{} // closed then
}

func newClosedTopics(s *Store) *closedTopics {
	return &closedTopics{s: s, first: map[string]herd.Pos{}, spans: map[string][]span{}, markers: map[herd.Pos]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// run reads the stream until close, starting over (with backoff) from
// where it was whenever the connection or the consumer fails.
func (c *closedTopics) run(log *slog.Logger) {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	backoff := 50 * time.Millisecond
	for {
		err := c.read(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		if log != nil {
			log.Warn("nats: reading closed topics failed; retrying", "err", err, "in", backoff)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// read applies the stream's messages from c.at on, until ctx ends or
// something fails.
func (c *closedTopics) read(ctx context.Context) error {
	st, err := c.s.state(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	from := c.at + 1
	c.mu.Unlock()
	if from == 1 || from < herd.Pos(st.FirstSeq) {
		// Starting, or messages were trimmed before they were read: their
		// closes are in the bucket.
		if err := c.load(ctx); err != nil {
			return err
		}
		if from < herd.Pos(st.FirstSeq) {
			from = herd.Pos(st.FirstSeq)
			c.advance(from - 1)
		}
	}
	cons, err := c.s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		HeadersOnly: true, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: uint64(from),
		MaxResetAttempts: resetAttempts,
	})
	if err != nil {
		return c.s.wrap("closed topics", err)
	}
	defer c.s.stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name)
	// Heartbeats every second, so that a stream leader lost (killed,
	// frozen) is noticed, and the consumer made again on the new one, in
	// about two seconds rather than the client's default of fifteen:
	// publishes wait for this reader.
	it, err := cons.Messages(jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return c.s.wrap("closed topics", err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)() // Next ignores ctx while the consumer resets (a deleted stream)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return c.s.wrap("closed topics", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return c.s.wrap("closed topics", err)
		}
		p := herd.Pos(md.Sequence.Stream)
		if p != from {
			return fmt.Errorf("nats: closed topics: expected message %d, the stream went on at %d", from, p)
		}
		// A message that is not herd's closes nothing: Read and Follow
		// refuse it as damaged.
		c.mu.Lock()
		c.keys.add(p, msg.Headers().Get(natsgo.MsgIdHdr))
		c.mu.Unlock()
		if e := (herd.Event{Pos: p}); decodeHeaders(&e, msg.Headers()) == "" && e.Close {
			if err := c.recordClose(ctx, e.Topics, p); err != nil {
				return err
			}
		} else if e.Topics != nil && msg.Headers().Get(hReopen) != "" {
			if err := c.applyReopen(ctx, e.Topics, p); err != nil {
				return err
			}
		}
		c.advance(p)
		from = p + 1
	}
}

// load reads the first closes recorded in the bucket.
func (c *closedTopics) load(ctx context.Context) error {
	keys, err := c.s.closed.ListKeys(ctx)
	if err != nil {
		return c.s.wrap("closed topics", err)
	}
	found := map[string]herd.Pos{}
	reopened := map[string][]span{}
	for k := range keys.Keys() {
		topic, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil {
			continue
		}
		e, err := c.s.closed.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return c.s.wrap("closed topics", err)
		}
		if spans, p, ok := parseClosed(string(e.Value())); ok {
			found[string(topic)] = p
			reopened[string(topic)] = spans
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, spans := range reopened {
		if len(c.spans[t]) == 0 {
			c.spans[t] = spans
		}
	}
	for t, p := range found {
		if q, ok := c.first[t]; p > 0 && (!ok || p < q) && !c.seen(t, p) {
			c.first[t] = p
		}
	}
	return nil
}

// recordClose applies a close at p of topics, unless it is void, and
// records each topic's first close in the bucket before p is passed.
func (c *closedTopics) recordClose(ctx context.Context, topics []string, p herd.Pos) error {
	if _, void := c.closedBefore(topics, p); void {
		return nil
	}
	for _, t := range topics {
		c.mu.Lock()
		q, ok := c.first[t]
		if (ok && q <= p) || c.seen(t, p) {
			c.mu.Unlock()
			continue // recorded already (read from the bucket)
		}
		c.first[t] = p
		value := c.bucketValue(t)
		c.mu.Unlock()
		if _, err := c.s.closed.Put(ctx, closedKey(t), []byte(value)); err != nil {
			return c.s.wrap("record close", err)
		}
	}
	return nil
}

// advance marks the messages up to p applied, and wakes the waiters that
// were waiting for them (only those: under load many wait, each for its
// own publish).
func (c *closedTopics) advance(p herd.Pos) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p <= c.at {
		return
	}
	c.at, c.err = p, nil
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.p <= p {
			close(w.ready)
		} else {
			kept = append(kept, w)
		}
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}

// wait returns once every message up to p is applied. It gives up after
// maxWait, or when ctx ends or the store closes.
func (c *closedTopics) wait(ctx context.Context, p herd.Pos) error {
	c.mu.Lock()
	if c.at >= p {
		c.mu.Unlock()
		return nil
	}
	w := waiter{p: p, ready: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	timeout := time.NewTimer(maxWait)
	defer timeout.Stop()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return herd.ErrStoreClosed
	case <-timeout.C:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = errors.New("no progress")
		}
		return fmt.Errorf("nats: closed topics not read up to %d within %s: %w", p, maxWait, err)
	}
}

// maxWait bounds how long a call waits for the closed topics to be read
// up to the position it needs.
const maxWait = 10 * time.Second

// closedBefore returns a topic of topics that was closed before p, if
// any: a message at p to these topics is void. Messages up to p-1 must be
// applied.
func (c *closedTopics) closedBefore(topics []string, p herd.Pos) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range topics {
		if q, ok := c.first[t]; (ok && q < p) || c.voidByReopens(t, p) {
			return t, true
		}
	}
	return "", false
}

// void reports whether e is void, once the messages up to it are applied.
func (c *closedTopics) void(ctx context.Context, e herd.Event) (bool, error) {
	if err := c.wait(ctx, e.Pos); err != nil {
		return false, err
	}
	_, void := c.closedBefore(e.Topics, e.Pos)
	return void, nil
}

func (c *closedTopics) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// A keyRing remembers the idempotency keys (JetStream message ids) of the
// latest keyRingSize messages read, to check the position a publish's
// acknowledgement names: JetStream's answer to a duplicate published
// during a change of stream leader can name another message than the
// original (seen with nats-server 2.9 in e2e TestFailover).
type keyRing struct {
	at    [keyRingSize]herd.Pos
	key   [keyRingSize]string
	where map[string]herd.Pos // key → its latest position in the ring
}

const keyRingSize = 1 << 14

func (r *keyRing) add(p herd.Pos, key string) {
	i := p % keyRingSize
	if old := r.key[i]; old != "" && r.where[old] == r.at[i] {
		delete(r.where, old)
	}
	r.at[i], r.key[i] = p, key
	if key != "" {
		if r.where == nil {
			r.where = map[string]herd.Pos{}
		}
		r.where[key] = p
	}
}

// locate returns where the message with key is, given that an
// acknowledgement named p and the messages up to p were read: p if the
// message there has key, the position read with key otherwise, or an
// error when neither is known (a later read may know).
func (c *closedTopics) locate(key string, p herd.Pos) (herd.Pos, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &c.keys
	i := p % keyRingSize
	if r.at[i] != p {
		return p, nil // too old to check: as acknowledged
	}
	if r.key[i] == key {
		return p, nil
	}
	if q, ok := r.where[key]; ok {
		return q, nil
	}
	return 0, fmt.Errorf("nats: the acknowledgement of idempotency key %q named message %d, which is another's; retry", key, p)
}
