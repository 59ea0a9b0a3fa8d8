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

// An item is one thing to deliver: an event, a gap notice or a close.
type item struct {
	ev   herd.Event
	wire sse.Frame
}

// A subscriber is one subscription's state, shared between the dispatcher,
// which offers it frames, and its consumer (an HTTP stream, the connection
// engine's record of a parked one, or an in-process Subscription), which
// takes them. It knows nothing of its consumer but a waker: it tells the
// waker when there is something to take.
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
	exact   bool // FaceOptions.Exact; set before s is registered, read-only after (not mu's: here it fills padding)
	reason  closeReason
	waker   waker    // told when frames arrive or s ends: wake, or the engine's record once it holds s
	wake    wakeChan // what next waits on

	consumer // owned by the consumer (consumer.go)
}

// A waker is told when a subscriber has something for its consumer: frames
// where the queue was empty, or its end. It is called with the
// subscriber's mutex held, so that it may keep state of its own under it;
// it must not block, and may take no lock but those after subscriber.mu
// in the lock order (connEngine.mu). net/http's path and in-process
// subscriptions wait on a channel (wakeChan); the connection engine's
// record of a parked connection (engineSub) puts it in its writers' queue.
type waker interface {
	wakeLocked()
}

// A wakeChan wakes a goroutine waiting in subscriber.next. A wake-up
// pending in it stands for any number of them.
type wakeChan chan struct{}

func (c wakeChan) wakeLocked() {
	select {
	case c <- struct{}{}:
	default:
	}
}

func newSubscriber(e *env, selectors []string) *subscriber {
	s := &subscriber{env: e, selectors: selectors, wake: make(wakeChan, 1)}
	s.waker = s.wake
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
// ends the subscriber as slow, and offer reports that it did. The caller
// reports the end (env.ended) once it holds no lock: dispatch holds
// registry.mu, and a log line is I/O.
func (s *subscriber) offer(f *frame) (ended bool) {
	if s.face != nil && !s.takes(f) {
		return false // not queued: a face subscriber's queue holds its own events only
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || f.ev.Pos <= s.lastPos {
		return false
	}
	s.lastPos = f.ev.Pos
	return s.queueLocked(f)
}

// takes reports whether a face subscriber takes f: its face has a view of
// it, and s's matcher accepts the view (a public event reaching s through
// its exact selectors is accepted without asking: FaceOptions.Exact).
// Its callers reached s through s's selectors: the index, or matches.
func (s *subscriber) takes(f *frame) bool {
	v := f.viewFor(s.face)
	return v.ok && (s.match == nil || (s.exact && !f.ev.Private) || s.match(v.view))
}

// offerLocal queues f, a frame for s alone, unless s has ended. Queued
// while s replays, it is delivered after the replay.
func (s *subscriber) offerLocal(f *frame) {
	s.mu.Lock()
	ended := !s.ended && s.queueLocked(f)
	s.mu.Unlock()
	if ended {
		s.env.ended(s, reasonSlow)
	}
}

// queueLocked queues f, or ends s as slow if its queue is full and
// reports that it did.
func (s *subscriber) queueLocked(f *frame) (ended bool) {
	if len(s.queue)-s.head >= s.env.queueLength || s.bytes+f.size > s.env.queueBytes {
		return s.endLocked(reasonSlow)
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
		s.waker.wakeLocked()
	}
	return false
}

// end ends the subscriber for reason, unless it has ended already, and
// logs it. The caller must hold no lock (see endQuiet).
func (s *subscriber) end(reason closeReason) {
	if s.endQuiet(reason) {
		s.env.ended(s, reason)
	}
}

// endQuiet ends the subscriber for reason, unless it has ended already,
// and reports whether it did, logging nothing: for callers that hold
// registry.mu, which report the ends once they release it (endings).
func (s *subscriber) endQuiet(reason closeReason) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endLocked(reason)
}

// endLocked ends s for reason unless it has ended, and reports whether it
// did. It counts the end; its caller logs it, once it holds no lock.
func (s *subscriber) endLocked(reason closeReason) bool {
	if s.ended {
		return false
	}
	s.ended, s.reason = true, reason
	clear(s.queue)
	s.queue, s.head, s.bytes = nil, 0, 0
	s.waker.wakeLocked()
	s.env.counters.ended[reason].Add(1)
	return true
}

// endReason returns why s ended, or 0 while it has not.
func (s *subscriber) endReason() closeReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// pendingLocked reports whether s's consumer has something to do: frames
// queued, or the end. s.mu must be held.
func (s *subscriber) pendingLocked() bool {
	return s.ended || len(s.queue) > s.head
}

// handTo makes w s's waker from now on: the connection engine taking
// over a stream from the goroutine that replayed it. s's wake channel
// goes (96 bytes a parked subscriber would keep for nothing): next must
// not be called any more.
func (s *subscriber) handTo(w waker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waker, s.wake = w, nil
}

// take returns the queued frames, which the caller owns until it gives
// the slice back as s.batch (cleared), and swaps s.batch in as the queue.
// If there are none and s has not ended, it calls park, if not nil, with
// s.mu held, and reports what park reported (see readyOrPark).
//
// Buffers: while frames keep coming, the queue and the batch swap, and
// nothing is allocated. When the queue is found empty it keeps one buffer
// at most, the larger of the two with room for keepQueue frames or less:
// a subscriber at rest holds no buffer sized by its busiest moment, nor
// two of them.
func (s *subscriber) take(park func() bool) (_ []*frame, _ closeReason, parked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, s.reason, false
	}
	if len(s.queue) == s.head {
		q, b := s.queue, s.batch
		if cap(q) > keepQueue || (cap(b) <= keepQueue && cap(b) > cap(q)) {
			q = b
		}
		if cap(q) > keepQueue {
			q = nil
		}
		s.queue, s.head, s.batch = q[:0], 0, nil
		return nil, 0, park != nil && park()
	}
	frames := s.queue[s.head:]
	s.queue, s.head, s.bytes = s.batch[:0], 0, 0
	s.batch = nil
	return frames, 0, false
}

// keepQueue is the most frames a subscriber's queue keeps room for when
// it empties: 8 pointers, the room a burst of a few events needs.
const keepQueue = 8

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
	if s.replaying() {
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
	dst, _, err := s.readyOrPark(dst, nil)
	return dst, err
}

// readyOrPark is ready for a consumer that must stop being scheduled once
// nothing is queued (the connection engine's writer): if s has no frames
// and has not ended, it calls park with s.mu held, in the same critical
// section as the take, and reports whether park parked the consumer (then
// dst is returned as it was, and the next frame queued wakes it). A
// writer thus takes a subscriber's lock once per turn, not three times.
func (s *subscriber) readyOrPark(dst []item, park func() bool) (_ []item, parked bool, _ error) {
	if s.finished != 0 {
		return dst, false, io.EOF
	}
	frames, reason, parked := s.take(park)
	if parked {
		// Nothing was taken, and s's consumer state is no longer this
		// goroutine's: another may hold it already.
		return dst, true, nil
	}
	defer func() {
		clear(frames) // let the GC have frames the queue no longer holds
		s.batch = frames[:0]
	}()
	if reason != 0 {
		return dst, false, reason.err()
	}
	n := len(dst)
	for _, f := range frames {
		if f == expired {
			s.finished = reasonExpired
			if s.face != nil { // a face has no event for it: the stream just ends, now
				s.env.counters.delivered.Add(int64(len(dst) - n))
				return dst, false, io.EOF
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
	return dst, false, nil
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
	s.waker.wakeLocked()
}
