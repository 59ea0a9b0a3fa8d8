package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd"
)

// A Hub fans events out from its Store to subscribers. Create it with New,
// start it with Open, stop it with Close. Its methods are safe for
// concurrent use.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	mux      http.Handler
	access   *access
	cors     corsPolicy
	limits   *limits
	subs     *registry
	cache    *replayCache // nil when disabled
	env      *env         // what its subscribers share
	counters counters
	writes   writeHealth  // the outcome of the latest publish, for /readyz
	engine   *connEngine  // nil when off or unavailable
	clock    clock        // the engine's time (clock.go); tests set it before Open
	noRing   bool         // tests, before Open: the engine's writers find no io_uring, and make a system call per write
	h2Parked atomic.Int64 // event streams parked by ConfigureHTTP2's servers
	h2sweep  h2Sweep      // heartbeats of HTTP/2 connections with event streams (h2_sweep.go)
	tlsConns tlsConns     // TLSListener's connections, until net/http closes or hijacks them

	mu           sync.Mutex // guards state, opening, h2poll, h2pollFailed; held across no I/O
	state        hubState
	opening      chan struct{} // closed when the Open under way (stateOpening) ends, either way
	h2poll       *h2Poller     // idle h2c connections, started with the first (h2_park_linux.go)
	h2pollFailed bool
	cancel       context.CancelFunc // stops the follower
	follower     sync.WaitGroup
	closed       chan struct{} // closed once the hub is (stateClosed), for a second Close to wait on
}

type hubState int

const (
	stateNew     hubState = iota
	stateOpening          // an Open is asking the store for its bounds, without h.mu
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
	h := &Hub{cfg: c, log: c.Logger, cache: newReplayCache(c.ReplayCache, c.ReplayCacheBytes), clock: realClock{}, closed: make(chan struct{})}
	h.access = newAccess(&h.cfg)
	h.cors, _ = checkOrigins(c.AllowedOrigins) // checked by withDefaults
	h.cors.told = &origins{}
	h.limits = newLimits(&h.cfg)
	h.subs = newRegistry(h.limits)
	fr := framer{closeEvent: c.CloseEvent}
	h.env = &env{framer: fr, queueLength: c.QueueLength, queueBytes: c.QueueBytes, counters: &h.counters, log: c.Logger,
		history: storeHistory{store: c.Store, cache: h.cache, framer: fr}}
	h.mux = h.routes()
	return h, nil
}

// Open starts following the store from its newest event. It fails if the
// store cannot be reached (the hub then stays unopened: Open may be called
// again). An Open or Close called while an Open is under way waits for it
// to end (or for its own ctx, then returning ctx's error) and acts on the
// outcome: a second Open fails if the first succeeded.
func (h *Hub) Open(ctx context.Context) error {
	if err := h.lockSettled(ctx); err != nil {
		return err
	}
	if h.state != stateNew {
		h.mu.Unlock()
		return errors.New("hub: Open called twice")
	}
	h.state, h.opening = stateOpening, make(chan struct{})
	h.mu.Unlock()

	// No lock from here: Bounds is a network call on Redis and NATS.
	b, err := h.cfg.Store.Bounds(ctx)
	if err != nil {
		h.settle(stateNew)
		return fmt.Errorf("hub: store unavailable: %w", err)
	}
	var engine *connEngine
	if !h.cfg.NoEngine {
		engine, err = newEngine(engineConfig{heartbeat: h.cfg.Heartbeat, writeTimeout: h.cfg.WriteTimeout,
			clock: h.clock, counters: &h.counters, log: h.log, release: h.unsubscribe, noRing: h.noRing})
		if err != nil {
			h.log.Warn("connection engine unavailable; every subscriber gets a goroutine", "err", err)
		}
	}
	following, cancel := context.WithCancel(context.Background())
	h.follower.Add(1)
	go h.follow(following, b.Last, b.Generation)
	h.mu.Lock() // before the state says open: whoever sees stateOpen (under h.mu) sees them
	h.engine, h.cancel = engine, cancel
	h.mu.Unlock()
	h.settle(stateOpen)
	return nil
}

// lockSettled locks h.mu once no Open is under way, and returns nil with
// it held; or, if ctx ends first, ctx's error without it.
func (h *Hub) lockSettled(ctx context.Context) error {
	h.mu.Lock()
	for h.state == stateOpening {
		opening := h.opening
		h.mu.Unlock()
		select {
		case <-opening:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
	}
	return nil
}

// settle ends the Open under way with state (stateOpen, or stateNew if it
// failed) and wakes whoever waits for it in lockSettled.
func (h *Hub) settle(state hubState) {
	h.mu.Lock()
	h.state = state
	close(h.opening)
	h.mu.Unlock()
}

// Close stops the hub: new publishes and subscriptions are refused (503),
// open subscriptions end at random moments within Config.ShutdownWindow
// (or at once when ctx is done), and the follower stops. It does not
// close the store. Close is idempotent: a Close called while another is
// draining waits for that one to end, or for its own ctx (then it returns
// ctx's error, and the first goes on); one called while an Open is under
// way waits for it (or for ctx, likewise) and closes what it opened.
func (h *Hub) Close(ctx context.Context) error {
	if err := h.lockSettled(ctx); err != nil {
		return err
	}
	switch h.state {
	case stateNew:
		h.state = stateClosed
		close(h.closed)
		fallthrough
	case stateClosed:
		h.mu.Unlock()
		return nil
	case stateDraining:
		h.mu.Unlock()
		select {
		case <-h.closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.state = stateDraining
	h.mu.Unlock()
	subs := h.subs.close()

	var pending sync.WaitGroup
	timers := make([]*time.Timer, len(subs))
	for i, s := range subs {
		pending.Add(1)
		timers[i] = time.AfterFunc(rand.N(h.cfg.ShutdownWindow), func() {
			defer pending.Done()
			s.end(reasonShutdown)
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
		s.end(reasonShutdown)
	}
	<-allEnded
	if h.engine != nil {
		h.engine.close()
	}
	h.closeH2Poller()
	h.closeH2Sweep()
	h.cancel()
	h.follower.Wait()
	h.mu.Lock()
	h.state = stateClosed
	close(h.closed)
	h.mu.Unlock()
	return nil
}

func (h *Hub) isOpen() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == stateOpen
}

// follow delivers the store's events from position after of generation
// gen on, until ctx ends. Store failures are retried with backoff, from
// the last event delivered, so that no event is skipped; a log wiped or
// replaced meanwhile is followed from its end (see startOver). It is the
// hub's one reader of the log, started by Open and waited for by Close.
func (h *Hub) follow(ctx context.Context, after herd.Pos, gen string) {
	defer h.follower.Done()
	h.cache.reset(after, gen)
	backoff := 50 * time.Millisecond
	for {
		err := h.cfg.Store.Follow(ctx, after, func(events []herd.Event) error {
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
		var damaged *herd.DamagedEventError
		if errors.As(err, &damaged) {
			h.skipDamaged(damaged, gen)
			after = damaged.Pos
			continue
		}
		if errors.Is(err, herd.ErrLagged) {
			// Events were trimmed before this hub delivered them. End every
			// subscription: each resumes with Last-Event-ID and is told of
			// the gap, instead of silently missing events.
			h.log.Error("follower lagged behind retention; disconnecting subscribers so they resume", "err", err)
			h.subs.endAll(reasonLagged).log(h.env)
			if b, err := h.cfg.Store.Bounds(ctx); err == nil {
				after, gen = b.Last, b.Generation
			}
			h.cache.reset(after, gen)
			continue
		}
		if errors.Is(err, herd.ErrReplaced) {
			if b, berr := h.cfg.Store.Bounds(ctx); berr == nil {
				after, gen = h.startOver(b, err)
				continue
			}
			gen = "" // not known yet: the check below starts over
		}
		h.counters.storeErrors.Add(1)
		h.log.Warn("store follow failed; retrying", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
		// A store that failed may be back as another log (wiped, or
		// restored from elsewhere).
		if b, err := h.cfg.Store.Bounds(ctx); err == nil && otherLog(b, gen, after) {
			after, gen = h.startOver(b, fmt.Errorf("%w: the log is generation %q up to %d, this hub followed %q up to %d",
				herd.ErrReplaced, b.Generation, b.Last, gen, after))
		}
	}
}

// skipDamaged goes on past a damaged event (see DamagedEventError): it
// is reported, every subscriber is told with a gap event in its place,
// and the replay cache restarts after it, so that a resume from before it
// reads the store, which reports it again, rather than the cache, which
// would skip it unsaid.
func (h *Hub) skipDamaged(d *herd.DamagedEventError, gen string) {
	h.env.damage.report(h.env, d, "follower")
	h.cache.reset(d.Pos, gen)
	h.subs.offerAll(damagedGap(d)).log(h.env)
}

// dispatch encodes e once and offers it to every subscriber that wants it.
// The subscribers it ends as slow are logged after, in one line: not under
// registry.mu.
func (h *Hub) dispatch(e herd.Event) {
	f := h.env.newFrame(e)
	h.cache.add(f)
	h.subs.offer(f).log(h.env)
}

// jitter returns d changed by a random amount of up to ±25%.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
