package herd

import (
	"context"
	"time"
)

// A Limit bounds what one Store.Read returns, so that reading a long or
// large history costs bounded memory.
type Limit struct {
	// Events is the most events returned. It must be positive.
	Events int
	// Bytes bounds the data returned: a Read stops before the event that
	// would take the events' data past Bytes, but returns at least one
	// event when there is one, however large. Zero means no bound.
	Bytes int
}

// Fits reports whether an event with n bytes of data may follow events
// holding total bytes, count of them, within l.
func (l Limit) Fits(count, total, n int) bool {
	return count == 0 || (count < l.Events && (l.Bytes <= 0 || total+n <= l.Bytes))
}

// FollowBatch returns the Limit of the batches stores hand to Follow's fn.
func FollowBatch() Limit { return Limit{Events: 1024, Bytes: 16 << 20} }

// Bounds describe a store's log.
type Bounds struct {
	First Pos // oldest retained event, 0 if the log is empty
	Last  Pos // newest event ever stored, 0 if none
	// Trimmed is the newest position that retention has removed, 0 if
	// none: a reader resuming after p has missed events iff p < Trimmed.
	Trimmed Pos
	// Generation names this incarnation of the log, as the store reads
	// it now (see Generations); empty for a store that cannot be wiped or
	// replaced under a running hub.
	Generation string
}

// A Store keeps the hub's log: every published event in one total order,
// with the state that all hub nodes sharing the store must agree on: event
// positions, closed topics and idempotency keys. The store assigns
// positions itself; the hub never invents them.
//
// Implementations must be safe for concurrent use. After Close, methods
// return ErrStoreClosed. Errors other than those documented mean the
// store is unavailable: the hub answers 503 and acknowledges nothing.
//
// A store verifies every event it reads back (a checksum, or the shape of
// an entry that someone else could have written) and never returns a
// damaged one as an Event: Read and Follow stop before it with a
// *DamagedEventError, and the caller goes on after its Pos.
type Store interface {
	// Append stores m and returns its event. It returns only once the
	// event is stored as durably as the store can (on disk for a file,
	// acknowledged by the broker for a network store). If m's
	// IdempotencyKey was seen within the idempotency window, Append
	// stores nothing and returns the earlier event with dup set.
	// A Close message records its topics as closed at the event's Pos.
	//
	// A closed topic takes no more events: if any topic of m is closed
	// (and the key is not a repeat), Append returns a *TopicClosedError
	// and m is not in the log, for this node or any other. The check and
	// the append are one atomic step in the log's order, so no event can
	// follow a close of one of its topics.
	Append(ctx context.Context, m Message) (e Event, dup bool, err error)

	// Read returns the events after position after, in order, as far as
	// lim allows. gap reports that events after `after` were removed by
	// retention (after < Bounds.Trimmed) before this read: the caller has
	// missed some, and the events returned start later.
	//
	// At a damaged event it returns the events before it, within lim,
	// with a *DamagedEventError for it (events and an error both).
	Read(ctx context.Context, after Pos, lim Limit) (events []Event, gap bool, err error)

	// Follow calls fn with the events after position after, in order, in
	// batches, as they are stored, until ctx is done (returning ctx's
	// error) or fn returns an error (returned as is). It returns
	// ErrLagged if events it was about to deliver were removed first, and
	// ErrReplaced if the log was wiped or replaced (Bounds.Generation
	// changed) since the Follow began: after is a position of the old log.
	// At a damaged event it calls fn with the events before it, then
	// returns a *DamagedEventError for it.
	Follow(ctx context.Context, after Pos, fn func([]Event) error) error

	// Bounds returns the log's bounds.
	Bounds(ctx context.Context) (Bounds, error)

	// Closed returns the position at which each of topics was closed;
	// open topics are absent from the map.
	Closed(ctx context.Context, topics []string) (map[string]Pos, error)

	// Stats returns per-topic figures for the retained log. Damaged
	// events are left out: their topics cannot be trusted.
	Stats(ctx context.Context) ([]TopicStats, error)

	// ID formats a position as the id clients see.
	ID(p Pos) string

	// ParseID returns the position of an id this store formatted. It
	// returns ErrUnknownID for anything else, including ids from another
	// store or from an earlier incarnation of this one (an earlier
	// generation, once Bounds or Follow has seen the new one).
	ParseID(id string) (Pos, error)

	// Ping reports whether the store can serve requests now.
	Ping(ctx context.Context) error

	// Close releases the store. It is idempotent.
	Close() error
}

// An EventSizer is a Store that holds events up to a size only: its
// MaxEventSize is the most data one event may carry. The hub refuses a
// Config.MaxEventSize above it, and defaults to it when it is smaller.
type EventSizer interface {
	Store
	MaxEventSize() int
}

// TopicStats describe one topic in the retained log.
type TopicStats struct {
	Topic    string
	Retained int    // events of the topic still in the log
	LastID   string // newest event of the topic ever stored, if known
	LastPos  Pos
	Closed   bool
}

// Retention says how long a store keeps events. The zero value keeps
// them forever; stores document their own defaults.
type Retention struct {
	MaxEvents int           // keep at most this many events; 0: no limit
	MaxAge    time.Duration // drop events older than this; 0: no limit
}

// StoreOptions are the settings herd's own stores share. The zero value is
// ready to use; WithDefaults fills in the documented defaults.
type StoreOptions struct {
	// Retention bounds the log. A zero MaxEvents means 100,000 and a zero
	// MaxAge 24h; negative values mean no limit.
	Retention Retention
	// IdempotencyTTL is how long an idempotency key is remembered. Zero
	// means 24h.
	IdempotencyTTL time.Duration
	// Now returns the current time; nil means time.Now. Tests use it.
	Now func() time.Time
	// ChangeSettings lets a store shared between nodes open with history
	// settings other than those recorded in it, and records these instead
	// (see HistorySettings). Without it such a store refuses to open.
	ChangeSettings bool
}

// Defaults for StoreOptions.
const (
	DefaultMaxEvents      = 100_000
	DefaultMaxAge         = 24 * time.Hour
	DefaultIdempotencyTTL = 24 * time.Hour
)

// WithDefaults returns o with its zero fields set to their defaults.
func (o StoreOptions) WithDefaults() StoreOptions {
	if o.Retention.MaxEvents == 0 {
		o.Retention.MaxEvents = DefaultMaxEvents
	}
	if o.Retention.MaxAge == 0 {
		o.Retention.MaxAge = DefaultMaxAge
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// A Reopener is a Store whose closed topics can be opened again. herd's
// stores all are.
type Reopener interface {
	// Reopen opens topics again, as one step in the log's order: Append
	// takes events for them again, and Closed no longer lists them. Their
	// history stays as it is, the close event included, and positions go
	// on (no id is reused). It returns the position at which each topic
	// had been closed; topics that were open are absent and unchanged.
	Reopen(ctx context.Context, topics []string) (map[string]Pos, error)
}

// A WriteChecker is a Store that can find out whether an append would be
// stored now, without storing an event: /readyz asks it while publishes
// are failing, so that a node taken out of a load balancer's rotation (and
// so sent no more publishes) still finds out when it can take them again.
type WriteChecker interface {
	Store
	// CheckWrite stores and removes size bytes of scratch data the way an
	// append of an event of that size would store them (on disk, synced),
	// and returns the error such an append would meet, if any.
	CheckWrite(ctx context.Context, size int) error
}
