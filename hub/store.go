package hub

import (
	"context"
	"errors"
	"time"
)

// A Pos is an event's position in a store's log. Positions are totally
// ordered in publish order and unique within a store: the hub resumes,
// deduplicates and hands replay over to live delivery by comparing them.
// Zero is before every event.
type Pos uint64

// A Message is what a publisher sends.
type Message struct {
	Topics []string      // concrete topics, at least one
	Type   string        // event type; empty means "message"
	Data   string        // the payload
	Retry  time.Duration // if positive, a "retry:" hint sent with the event
	// NoData marks a message without data: a close-only publish. It
	// reaches subscribers only as the close it causes.
	NoData bool
	// Close ends the topics: their subscribers get the event (if it has
	// data), then the close event, and their streams end.
	Close bool
	// Private events reach only subscribers whose token grants one of
	// their topics (Config.Auth); in-process subscriptions see them all.
	Private bool
	// IdempotencyKey, if set, makes publishing again with the same key
	// return the first event instead of storing a new one.
	IdempotencyKey string
}

// An Event is a stored message.
type Event struct {
	Pos     Pos
	ID      string    // Pos as the store formats it: opaque to clients
	Time    time.Time // when it was stored
	Topics  []string
	Type    string
	Data    string
	Retry   time.Duration
	NoData  bool
	Close   bool
	Private bool
}

// Bounds describe a store's log.
type Bounds struct {
	First Pos // oldest retained event, 0 if the log is empty
	Last  Pos // newest event ever stored, 0 if none
	// Trimmed is the newest position that retention has removed, 0 if
	// none: a reader resuming after p has missed events iff p < Trimmed.
	Trimmed Pos
}

// A Store keeps the hub's log: every published event in one total order,
// with the state that all hub nodes sharing the store must agree on: event
// positions, closed topics and idempotency keys. The store assigns
// positions itself; the hub never invents them.
//
// Implementations must be safe for concurrent use. After Close, methods
// return ErrStoreClosed. Errors other than those documented mean the
// store is unavailable: the hub answers 503 and acknowledges nothing.
type Store interface {
	// Append stores m and returns its event. It returns only once the
	// event is stored as durably as the store can (on disk for a file,
	// acknowledged by the broker for a network store). If m's
	// IdempotencyKey was seen within the idempotency window, Append
	// stores nothing and returns the earlier event with dup set.
	// A Close message records its topics as closed at the event's Pos.
	Append(ctx context.Context, m Message) (e Event, dup bool, err error)

	// Read returns up to max events after position after, in order.
	// gap reports that events after `after` were removed by retention
	// (after < Bounds.Trimmed) before this read: the caller has missed
	// some, and the events returned start later.
	Read(ctx context.Context, after Pos, max int) (events []Event, gap bool, err error)

	// Follow calls fn with the events after position after, in order, in
	// batches, as they are stored, until ctx is done (returning ctx's
	// error) or fn returns an error (returned as is). It returns
	// ErrLagged if events it was about to deliver were removed first.
	Follow(ctx context.Context, after Pos, fn func([]Event) error) error

	// Bounds returns the log's bounds.
	Bounds(ctx context.Context) (Bounds, error)

	// Closed returns the position at which each of topics was closed;
	// open topics are absent from the map.
	Closed(ctx context.Context, topics []string) (map[string]Pos, error)

	// Stats returns per-topic figures for the retained log.
	Stats(ctx context.Context) ([]TopicStats, error)

	// ID formats a position as the id clients see.
	ID(p Pos) string

	// ParseID returns the position of an id this store formatted. It
	// returns ErrUnknownID for anything else, including ids from another
	// store or from an earlier incarnation of this one.
	ParseID(id string) (Pos, error)

	// Ping reports whether the store can serve requests now.
	Ping(ctx context.Context) error

	// Close releases the store. It is idempotent.
	Close() error
}

// TopicStats describe one topic in the retained log.
type TopicStats struct {
	Topic    string
	Retained int    // events of the topic still in the log
	LastID   string // newest event of the topic ever stored, if known
	LastPos  Pos
	Closed   bool
}

// Errors from stores.
var (
	ErrStoreClosed = errors.New("hub: store closed")
	ErrUnknownID   = errors.New("hub: unknown event id")
	// ErrLagged is returned by Follow when retention removed events
	// before they could be delivered.
	ErrLagged = errors.New("hub: follower lagged behind retention")
)

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
