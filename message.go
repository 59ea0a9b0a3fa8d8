package herd

import "time"

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
	// ZeroRetry sends "retry: 0" (reconnect at once) when Retry is zero,
	// which otherwise means no hint; see sse.Event.ZeroRetry.
	ZeroRetry bool
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
	Pos       Pos
	ID        string    // Pos as the store formats it: opaque to clients
	Time      time.Time // when it was stored
	Topics    []string
	Type      string
	Data      string
	Retry     time.Duration
	ZeroRetry bool
	NoData    bool
	Close     bool
	Private   bool
}

// MaxRetry is the longest reconnection delay the hub sends: 2^31-1
// milliseconds (24.8 days), the longest every browser and JavaScript timer
// handles (setTimeout fires at once past it).
const MaxRetry = (1<<31 - 1) * time.Millisecond
