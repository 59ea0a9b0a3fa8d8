// Package hub is herd's hub: topics, publishing, fan-out to subscribers,
// history with lossless Last-Event-ID resume, and a clean end of stream.
// A Hub is an http.Handler and can be embedded in any Go program; the herd
// command only wires flags to it.
//
// The hub keeps no state of its own that other nodes would need: a Store
// holds the log of events, assigns their positions and ids, and records
// closed topics and idempotency keys, so that any number of hubs sharing a
// store (Redis, NATS) agree on order, resume points and close.
//
// Each hub follows the store's log with one reader, encodes every event
// once, and offers it to the bounded queue of each subscriber whose
// selectors match. A publisher never waits for a subscriber: a subscriber
// whose queue is full is disconnected (it resumes with Last-Event-ID and
// loses nothing the history still holds).
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/herd-sse/herd/sse"
)

// A Hub fans events out from its Store to subscribers. Create it with New,
// start it with Open, stop it with Close. Its methods are safe for
// concurrent use.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	mux    http.Handler
	cors   corsPolicy
	limits *limits

	mu     sync.RWMutex
	index  *index
	subs   map[*subscriber]struct{}
	state  hubState
	cache  *replayCache // nil when disabled
	engine *connEngine  // nil when off or unavailable
	// expired is queued to a subscriber whose token expired; its Pos is
	// after every event's, so that a replay's hand-over never drops it.
	expired *frame

	cancel   context.CancelFunc
	follower sync.WaitGroup

	published    atomic.Int64
	delivered    atomic.Int64 // events handed to subscribers, replays included
	replayed     atomic.Int64
	bytesWritten atomic.Int64
	storeErrors  atomic.Int64
	queueHigh    atomic.Int64 // the most frames any subscriber had queued
	publishTime  histogram    // Store.Append's latency
	disconnected [numReasons]atomic.Int64
}

type hubState int

const (
	stateNew hubState = iota
	stateOpen
	stateDraining
	stateClosed
)

// New returns a Hub for cfg. It validates the configuration and starts
// nothing.
func New(cfg Config) (*Hub, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: c, log: c.Logger, index: newIndex(), subs: make(map[*subscriber]struct{}),
		cache: newReplayCache(c.ReplayCache, c.ReplayCacheBytes)}
	exp := Event{Pos: math.MaxUint64, Type: ExpiredEvent, Data: `{"reason":"token expired"}`}
	h.expired = &frame{ev: exp, wire: mustFrame(sse.Event{Type: exp.Type, Data: exp.Data})}
	h.cors, _ = checkOrigins(c.AllowedOrigins) // checked by withDefaults
	h.limits = newLimits(&h.cfg)
	h.mux = h.routes()
	return h, nil
}

// Open starts following the store from its newest event. It fails if the
// store cannot be reached.
func (h *Hub) Open(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != stateNew {
		return errors.New("hub: Open called twice")
	}
	b, err := h.cfg.Store.Bounds(ctx)
	if err != nil {
		return fmt.Errorf("hub: store unavailable: %w", err)
	}
	if !h.cfg.NoEngine {
		if h.engine, err = newEngine(h); err != nil {
			h.log.Warn("connection engine unavailable; every subscriber gets a goroutine", "err", err)
		}
	}
	ctx, h.cancel = context.WithCancel(context.Background())
	h.follower.Add(1)
	go h.follow(ctx, b.Last)
	h.state = stateOpen
	return nil
}

// Close stops the hub: new publishes and subscriptions are refused (503),
// open subscriptions end at random moments within Config.ShutdownWindow
// (or at once when ctx is done), and the follower stops. It does not
// close the store. Close is idempotent.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.state != stateOpen {
		h.state = max(h.state, stateClosed)
		h.mu.Unlock()
		return nil
	}
	h.state = stateDraining
	subs := make([]*subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()

	var pending sync.WaitGroup
	timers := make([]*time.Timer, len(subs))
	for i, s := range subs {
		pending.Add(1)
		timers[i] = time.AfterFunc(rand.N(h.cfg.ShutdownWindow), func() {
			defer pending.Done()
			s.end(ReasonShutdown)
		})
	}
	allEnded := make(chan struct{})
	go func() {
		pending.Wait()
		close(allEnded)
	}()
	select {
	case <-allEnded:
	case <-ctx.Done():
	}
	for i, s := range subs {
		if timers[i].Stop() {
			pending.Done()
		}
		s.end(ReasonShutdown)
	}
	<-allEnded
	if h.engine != nil {
		h.engine.close()
	}
	h.cancel()
	h.follower.Wait()
	h.mu.Lock()
	h.state = stateClosed
	h.mu.Unlock()
	return nil
}

func (h *Hub) isOpen() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.state == stateOpen
}

// follow delivers the store's events from position after on, until ctx
// ends. Store failures are retried with backoff, from the last event
// delivered, so that no event is skipped.
func (h *Hub) follow(ctx context.Context, after Pos) {
	defer h.follower.Done()
	h.cache.reset(after)
	backoff := 50 * time.Millisecond
	for {
		err := h.cfg.Store.Follow(ctx, after, func(events []Event) error {
			for _, e := range events {
				h.dispatch(e)
				after = e.Pos
			}
			backoff = 50 * time.Millisecond
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrLagged) {
			// Events were trimmed before this hub delivered them. End every
			// subscription: each resumes with Last-Event-ID and is told of
			// the gap, instead of silently missing events.
			h.log.Error("follower lagged behind retention; disconnecting subscribers so they resume", "err", err)
			h.endAll(ReasonLagged)
			if b, err := h.cfg.Store.Bounds(ctx); err == nil {
				after = b.Last
			}
			h.cache.reset(after)
			continue
		}
		h.storeErrors.Add(1)
		h.log.Warn("store follow failed; retrying", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// dispatch offers e to every subscriber that wants it.
func (h *Hub) dispatch(e Event) {
	f := h.newFrame(e)
	h.cache.add(f)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, t := range e.Topics {
		h.index.match(t, func(s *subscriber) { s.offer(f) })
	}
}

func (h *Hub) endAll(reason CloseReason) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		s.end(reason)
	}
}

// ended is called once per subscriber, with the reason it ended.
func (h *Hub) ended(s *subscriber, reason CloseReason) {
	h.disconnected[reason].Add(1)
	level := slog.LevelDebug
	if reason == ReasonSlow || reason == ReasonLagged || reason == ReasonStore {
		level = slog.LevelWarn
	}
	h.log.Log(context.Background(), level, "subscriber ended", "reason", reason.String(), "topics", s.selectors)
}

// Publish validates m and stores it, returning its event once stored. If
// m's idempotency key was used before, it returns the earlier event with
// dup set. Errors are *Error values (bad input, or the store unavailable).
func (h *Hub) Publish(ctx context.Context, m Message) (e Event, dup bool, err error) {
	if err := h.validate(&m); err != nil {
		return Event{}, false, err
	}
	if !h.isOpen() {
		return Event{}, false, &Error{Code: EUnavailable, Message: "hub is shutting down", Err: ErrShuttingDown}
	}
	start := time.Now()
	e, dup, err = h.cfg.Store.Append(ctx, m)
	h.publishTime.observe(time.Since(start))
	if err != nil {
		h.storeErrors.Add(1)
		return Event{}, false, unavailable("publish", err)
	}
	if !dup {
		h.published.Add(1)
	}
	return e, dup, nil
}

// validate checks a message and normalises its topics.
func (h *Hub) validate(m *Message) error {
	if len(m.Topics) == 0 {
		return Errorf(EInvalid, "topic is required")
	}
	topics := make([]string, 0, len(m.Topics))
	for _, t := range m.Topics {
		if err := ValidateTopic(t); err != nil {
			return Errorf(EInvalid, "%v", err)
		}
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) > h.cfg.MaxPublishTopics {
		return Errorf(EInvalid, "too many topics: %d, at most %d per publish", len(topics), h.cfg.MaxPublishTopics)
	}
	m.Topics = topics
	if err := (sse.Event{Type: m.Type}).Validate(); err != nil {
		return Errorf(EInvalid, "event type: contains CR, LF or NUL")
	}
	if len(m.Type) > 256 {
		return Errorf(EInvalid, "event type: longer than 256 bytes")
	}
	if m.Private && h.cfg.Auth == nil {
		return Errorf(EInvalid, "private events need token auth (herd serve --jwt-key or --jwt-public-key): without it no subscriber could receive them")
	}
	if m.Type == h.cfg.CloseEvent || m.Type == GapEvent || m.Type == ExpiredEvent {
		return Errorf(EInvalid, "event type %q is reserved by the hub (use close to end topics)", m.Type)
	}
	if len(m.Data) > h.cfg.MaxEventSize {
		return Errorf(ETooLarge, "data is %d bytes, more than the %d allowed", len(m.Data), h.cfg.MaxEventSize)
	}
	if !utf8.ValidString(m.Data) {
		return Errorf(EInvalid, "data is not valid UTF-8")
	}
	if m.NoData && !m.Close {
		return Errorf(EInvalid, "data is required (only a close may omit it)")
	}
	if m.Retry < 0 {
		return Errorf(EInvalid, "retry must not be negative")
	}
	if k := m.IdempotencyKey; len(k) > 256 || !printableASCII(k) {
		return Errorf(EInvalid, "Idempotency-Key must be at most 256 printable ASCII characters")
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// subscribe registers a subscription to selectors, resuming after
// lastEventID ("" for live events only, "earliest" for all history). The
// grant, if any, decides which private events it receives.
func (h *Hub) subscribe(ctx context.Context, selectors []string, lastEventID string, g *Grant, addr netip.Addr) (*subscriber, error) {
	if len(selectors) == 0 {
		return nil, Errorf(EInvalid, "topic is required: /events?topic=NAME (repeatable; * and ** select)")
	}
	var sels []string
	for _, sel := range selectors {
		if err := ValidateSelector(sel); err != nil {
			return nil, Errorf(EInvalid, "%v", err)
		}
		if !slices.Contains(sels, sel) {
			sels = append(sels, sel)
		}
		if len(sels) > h.cfg.MaxSubscribeTopics {
			return nil, Errorf(EInvalid, "too many topics: more than %d per subscription", h.cfg.MaxSubscribeTopics)
		}
	}
	if !h.isOpen() {
		return nil, &Error{Code: EUnavailable, Message: "hub is shutting down", Err: ErrShuttingDown}
	}
	store := h.cfg.Store
	s := h.newSubscriber(sels)
	s.addr = addr
	if g != nil {
		s.private = g.Subscribe
	}

	const (
		live = iota
		earliest
		resume
		unknown
	)
	mode, cursor := live, Pos(0)
	switch lastEventID {
	case "":
	case "earliest":
		mode = earliest
	default:
		mode = unknown
		if p, err := store.ParseID(lastEventID); err == nil {
			b, err := store.Bounds(ctx)
			if err != nil {
				return nil, unavailable("subscribe", err)
			}
			if p <= b.Last {
				mode, cursor = resume, p
			}
		}
	}
	if s.topics != nil && mode == resume {
		closed, err := store.Closed(ctx, s.topics)
		if err != nil {
			return nil, unavailable("subscribe", err)
		}
		if len(closed) == len(s.topics) && cursor >= maxPos(closed) {
			return nil, ErrTopicsClosed
		}
	}

	if err := h.register(s); err != nil {
		return nil, err
	}
	// Read the closed topics after registering: a close stored later is
	// then sure to reach s live or in its replay.
	if s.topics != nil {
		closed, err := store.Closed(ctx, s.topics)
		if err != nil {
			h.unsubscribe(s, ReasonStore)
			return nil, unavailable("subscribe", err)
		}
		if len(closed) > 0 {
			s.closed = closed
		}
		if mode == live && len(closed) == len(s.topics) {
			mode = earliest // a late subscriber of closed topics gets their history, then the close
		}
	}
	switch mode {
	case earliest:
		s.replaying, s.earliest = true, true
	case resume:
		s.replaying, s.cursor, s.requested = true, cursor, lastEventID
	case unknown:
		s.replaying, s.unknown, s.earliest, s.requested = true, true, true, lastEventID
	}
	return s, nil
}

func maxPos(m map[string]Pos) Pos {
	var p Pos
	for _, v := range m {
		p = max(p, v)
	}
	return p
}

// register adds s, unless the subscriber limits refuse it.
func (h *Hub) register(s *subscriber) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.limits.join(s.addr, len(h.subs)); err != nil {
		return err
	}
	for _, sel := range s.selectors {
		h.index.add(sel, s)
	}
	h.subs[s] = struct{}{}
	return nil
}

// unsubscribe removes s, ending it for reason unless it ended already.
func (h *Hub) unsubscribe(s *subscriber, reason CloseReason) {
	s.end(reason)
	if s.expiry != nil {
		s.expiry.Stop()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return // removed already
	}
	for _, sel := range s.selectors {
		h.index.remove(sel, s)
	}
	delete(h.subs, s)
	h.limits.leave(s.addr)
}

// raiseQueueHigh raises the queue high-water mark to n.
func (h *Hub) raiseQueueHigh(n int64) {
	for {
		old := h.queueHigh.Load()
		if n <= old || h.queueHigh.CompareAndSwap(old, n) {
			return
		}
	}
}

// jitter returns d changed by a random amount of up to ±25%.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
