package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// A closeReason says why the hub ended a subscription. Every disconnect
// has one; they are counted in the hub's Stats (Ended, by name).
type closeReason int

// The reasons.
const (
	reasonClient     closeReason = iota + 1 // the client went away
	reasonSlow                              // its queue filled: it could not keep up
	reasonTopicClose                        // all its topics were closed
	reasonShutdown                          // the hub is shutting down
	reasonLagged                            // the hub fell behind the store's retention
	reasonWrite                             // a write to the client failed or timed out
	reasonStore                             // the store failed during replay
	reasonExpired                           // its token expired
	numReasons
)

var reasonNames = [numReasons]string{"", "client", "slow", "topic_closed", "shutdown", "lagged", "write_failed", "store_error", "token_expired"}

func (r closeReason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("closeReason(%d)", int(r))
}

// err is the error a subscription ended for r returns.
func (r closeReason) err() error {
	switch r {
	case reasonSlow:
		return ErrSlowSubscriber
	case reasonShutdown:
		return ErrShuttingDown
	case reasonLagged:
		return herd.ErrLagged
	}
	return fmt.Errorf("hub: subscription ended (%s)", r)
}

// An env is what all of a hub's subscribers share: made by New, read-only
// after. A subscriber needs nothing else of its hub.
type env struct {
	framer
	queueLength, queueBytes int
	counters                *counters
	log                     *slog.Logger
	history                 history // where replays read
	damage                  damageLog
}

// ended is called once per subscriber, with the reason it ended.
func (e *env) ended(s *subscriber, reason closeReason) {
	e.counters.ended[reason].Add(1)
	level := slog.LevelDebug
	if reason == reasonSlow || reason == reasonLagged || reason == reasonStore {
		level = slog.LevelWarn
	}
	e.log.Log(context.Background(), level, "subscriber ended", "reason", reason.String(), "topics", s.selectors)
}

// An item is one thing to deliver: an event, a gap notice or a close.
type item struct {
	ev   herd.Event
	wire sse.Frame
}

// A subscriber is one subscription's state, shared between the dispatcher,
// which offers it frames, and its consumer (an HTTP stream or an in-process
// Subscription), which takes them.
type subscriber struct {
	env       *env
	selectors []string
	topics    []string   // the topics, if every selector is concrete; else nil
	private   []string   // selectors whose private events s receives
	addr      netip.Addr // the client's, for the per-address limit
	expiry    *time.Timer
	face      *Face               // nil for herd's own API
	match     func(view any) bool // a face's filter; nil: all
	onEnd     func()              // called once it is removed; set before it is served

	mu      sync.Mutex
	queue   []*frame
	head    int
	bytes   int
	lastPos herd.Pos // newest position queued: a frame matched twice is queued once
	ended   bool
	reason  closeReason
	wake    chan struct{} // signalled when frames arrive or the subscriber ends
	eng     *engineSub    // set when the connection engine serves it

	// Owned by the consumer.
	batch     []*frame // reused by next
	replaying bool
	cursor    herd.Pos            // replay reads after this
	target    herd.Pos            // the log's end when s was registered: replay reaches it
	requested string              // the id the client resumed from, for gap notices
	gen       string              // the log's generation its replay reads (Bounds.Generation)
	notice    herd.Event          // a gap notice to send before the replay, if its Type is set
	closed    map[string]herd.Pos // nil until a topic of s is closed
	finished  closeReason         // the stream's last event was delivered: why it ends
}

func newSubscriber(e *env, selectors []string) *subscriber {
	s := &subscriber{env: e, selectors: selectors, wake: make(chan struct{}, 1)}
	concrete := true
	for _, sel := range selectors {
		concrete = concrete && isConcrete(sel)
	}
	if concrete {
		s.topics = selectors
	}
	return s
}

// matches reports whether an event of the given topics is for s.
func (s *subscriber) matches(topics []string) bool {
	for _, t := range topics {
		for _, sel := range s.selectors {
			if herd.Match(sel, t) {
				return true
			}
		}
	}
	return false
}

// offer queues f unless s has it already. It never blocks: a full queue
// ends the subscriber as slow.
func (s *subscriber) offer(f *frame) {
	if s.face != nil && !s.takes(f) {
		return // not queued: a face subscriber's queue holds its own events only
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || f.ev.Pos <= s.lastPos {
		return
	}
	s.lastPos = f.ev.Pos
	s.queueLocked(f)
}

// takes reports whether a face subscriber takes f: its face has a view of
// it, and s's matcher accepts the view.
func (s *subscriber) takes(f *frame) bool {
	v := f.viewFor(s.face)
	return v.ok && (s.match == nil || s.match(v.view))
}

// offerLocal queues f, a frame for s alone, unless s has ended. Queued
// while s replays, it is delivered after the replay.
func (s *subscriber) offerLocal(f *frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.queueLocked(f)
}

func (s *subscriber) queueLocked(f *frame) {
	if len(s.queue)-s.head >= s.env.queueLength || s.bytes+f.size > s.env.queueBytes {
		s.endLocked(reasonSlow)
		return
	}
	// The consumer always takes the whole queue, so it needs waking only
	// when the queue stops being empty: while frames wait, a wake-up is
	// pending or the consumer is at work. Under load this spares most
	// offers a touch of the consumer's state, a cache miss each.
	wasEmpty := len(s.queue) == s.head
	s.queue = append(s.queue, f)
	s.bytes += f.size
	if n := int64(len(s.queue) - s.head); n > s.env.counters.queueHigh.Load() {
		s.env.counters.raiseQueueHigh(n) // rarely: the mark only rises
	}
	if wasEmpty {
		s.notifyLocked()
	}
}

// notifyLocked tells s's consumer there is something to do: the engine's
// writers, or the goroutine waiting in next. s.mu must be held.
func (s *subscriber) notifyLocked() {
	if s.eng != nil {
		s.eng.scheduleLocked(s)
		return
	}
	s.signal()
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// end ends the subscriber for reason, unless it has ended already.
func (s *subscriber) end(reason closeReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(reason)
}

func (s *subscriber) endLocked(reason closeReason) {
	if s.ended {
		return
	}
	s.ended, s.reason = true, reason
	clear(s.queue)
	s.queue, s.head, s.bytes = nil, 0, 0
	s.notifyLocked()
	s.env.ended(s, reason)
}

// take moves the queued frames into dst.
func (s *subscriber) take(dst []*frame) ([]*frame, closeReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return dst, s.reason
	}
	dst = append(dst, s.queue[s.head:]...)
	clear(s.queue)
	s.queue, s.head, s.bytes = s.queue[:0], 0, 0
	return dst, 0
}

// handOver ends the replay at position upTo: frames the dispatcher queued
// meanwhile that the replay already delivered are dropped.
// Frames queued for s alone (offerLocal) are kept, in order.
func (s *subscriber) handOver(upTo herd.Pos) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept, i := s.head, s.head
	for ; i < len(s.queue) && s.queue[i].ev.Pos <= upTo; i++ {
		if f := s.queue[i]; f.local {
			s.queue[kept] = f
			kept++
			continue
		}
		s.bytes -= s.queue[i].size
	}
	n := kept - s.head
	copy(s.queue[i-n:i], s.queue[s.head:kept])
	clear(s.queue[s.head : i-n])
	s.head = i - n
	s.lastPos = max(s.lastPos, upTo)
}

// next returns the next items to deliver, appended to dst. It blocks until
// there are some, the subscription ends, ctx is done or stop is closed.
// After the close item it returns io.EOF; when the hub ended the
// subscription it returns the reason's error.
func (s *subscriber) next(ctx context.Context, stop <-chan struct{}, dst []item) ([]item, error) {
	if s.replaying {
		return s.replay(ctx, dst)
	}
	for {
		n := len(dst)
		var err error
		if dst, err = s.ready(dst); len(dst) > n || err != nil {
			return dst, err
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return dst, ctx.Err()
		case <-stop:
			return dst, io.ErrClosedPipe
		}
	}
}

// ready appends the live items queued now, without waiting: the core of
// next, and what the connection engine calls. It must not be called while
// replaying.
func (s *subscriber) ready(dst []item) ([]item, error) {
	if s.finished != 0 {
		return dst, io.EOF
	}
	frames, reason := s.take(s.batch[:0])
	defer func() {
		clear(frames) // let the GC have frames the queue no longer holds
		s.batch = frames[:0]
	}()
	if reason != 0 {
		return dst, reason.err()
	}
	n := len(dst)
	for _, f := range frames {
		if f == expired {
			s.finished = reasonExpired
			if s.face != nil { // a face has no event for it: the stream just ends, now
				s.env.counters.delivered.Add(int64(len(dst) - n))
				return dst, io.EOF
			}
			dst = append(dst, item{ev: f.ev, wire: f.wire})
			break
		}
		if s.face != nil {
			dst = s.deliverFace(dst, f, false)
			continue
		}
		if dst = s.deliver(dst, f.ev, f.wire); s.finishIfClosed(f.ev) {
			if f.ev.Private && !s.mayRead(f.ev) {
				// Name only s's own topics: the others are not its to know.
				dst = append(dst, item{ev: s.env.closeEventFor(f.ev.ID, s.topics), wire: s.env.closeFrame(f.ev.ID, s.topics)})
				break
			}
			dst = append(dst, item{ev: s.env.closeEventFor(f.ev.ID, f.ev.Topics), wire: f.close})
			break
		}
	}
	s.env.counters.delivered.Add(int64(len(dst) - n))
	return dst, nil
}

// deliver appends e unless it has no data or is private and not for s.
// Every event reaches a consumer through here.
func (s *subscriber) deliver(dst []item, e herd.Event, wire sse.Frame) []item {
	if e.NoData || !s.mayRead(e) {
		return dst
	}
	return append(dst, item{ev: e, wire: wire})
}

// deliverFace appends f in s's face's encoding: local frames as they are,
// others if s takes them (already known for frames the dispatcher queued).
func (s *subscriber) deliverFace(dst []item, f *frame, check bool) []item {
	if f.local {
		return append(dst, item{ev: f.ev, wire: f.wire})
	}
	if check && !s.takes(f) {
		return dst
	}
	return append(dst, item{ev: f.ev, wire: f.viewFor(s.face).wire})
}

// mayRead reports whether s may receive e: a public event, or a private
// one with a topic that s's grant matches.
func (s *subscriber) mayRead(e herd.Event) bool {
	if !e.Private {
		return true
	}
	for _, t := range e.Topics {
		if anyMatch(s.private, t) {
			return true
		}
	}
	return false
}

// expire ends s because its token expired: the expired event is queued
// after what is queued already, and the stream ends once it is written.
func (s *subscriber) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.queue = append(s.queue, expired)
	s.notifyLocked()
}

// finishIfClosed records the topics e closes and reports whether every
// topic of s is now closed, ending the subscription.
func (s *subscriber) finishIfClosed(e herd.Event) bool {
	if s.topics == nil {
		return false
	}
	if !e.Close {
		s.forgetReopened(e)
		return false
	}
	s.recordClose(e)
	return s.allClosedBy(e.Pos)
}

// recordClose notes which of s's topics e closes. The map is made on the
// first close: most subscribers never see one, and an empty map costs a
// hundred bytes each.
func (s *subscriber) recordClose(e herd.Event) {
	for _, t := range e.Topics {
		if contains(s.topics, t) {
			if s.closed == nil {
				s.closed = map[string]herd.Pos{}
			}
			s.closed[t] = e.Pos
		}
	}
}

// allClosedBy reports whether every topic of s is closed at or before p,
// the position delivered so far, and if so marks s finished. A close the
// store reported but that has not reached s yet keeps it open: its event
// (and data) will still come.
func (s *subscriber) allClosedBy(p herd.Pos) bool {
	if s.topics == nil || len(s.closed) < len(s.topics) || maxPos(s.closed) > p {
		return false
	}
	s.finished = reasonTopicClose
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
