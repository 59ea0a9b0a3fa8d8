package herd

import (
	"fmt"
	"slices"
	"time"
)

// A Pos is an event's position in a store's log. Positions are totally
// ordered in publish order and unique within a store: the hub resumes,
// deduplicates and hands replay over to live delivery by comparing them.
// Zero is before every event.
type Pos uint64

// A Message is what a publisher sends.
type Message struct {
	Topics []string // concrete topics, at least one
	Type   string   // event type; empty means "message"
	Data   string   // the payload
	// Retry, if positive, is a "retry:" hint sent with the event. The
	// wire carries whole milliseconds, and so does the stored event (see
	// Message.Event): a retry under a millisecond is sent as "retry: 0".
	Retry time.Duration
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
	// their topics (hub.Config.Auth); in-process subscriptions see them all.
	Private bool
	// IdempotencyKey, if set, makes publishing again with the same key
	// return the first event instead of storing a new one.
	IdempotencyKey string
}

// An Event is a stored message. Stores make it with Message.Event and keep
// every field but Pos, ID and Time as Flags and the others say, so that an
// event reads back the same from every store.
type Event struct {
	Pos       Pos
	ID        string    // Pos as the store formats it: opaque to clients
	Time      time.Time // when it was stored
	Topics    []string
	Type      string
	Data      string
	Retry     time.Duration // whole milliseconds, from 0 to MaxRetry
	ZeroRetry bool          // "retry: 0" is sent: set only when Retry is zero
	NoData    bool
	Close     bool
	Private   bool
}

// MaxRetry is the longest reconnection delay the hub sends: 2^31-1
// milliseconds (24.8 days), the longest every browser and JavaScript timer
// handles (setTimeout fires at once past it).
const MaxRetry = (1<<31 - 1) * time.Millisecond

// Event returns m as stored at position p, with id (p as the store formats
// it) and time at. It is the one conversion from a message to an event:
// every store makes its events with it, and so agrees with the others on
// every field.
//
// Retry is truncated to the millisecond, the precision of the wire's
// "retry:" field, so that what a store keeps is what subscribers get. A
// positive retry under a millisecond is sent as "retry: 0" (as sse writes
// it), so it becomes ZeroRetry; ZeroRetry is set only when Retry is zero,
// since a positive retry is sent as it is either way. Topics are copied: a
// store may keep the event, and the caller its slice.
func (m Message) Event(p Pos, id string, at time.Time) Event {
	retry := m.Retry.Truncate(time.Millisecond)
	return Event{Pos: p, ID: id, Time: at, Topics: slices.Clone(m.Topics), Type: m.Type, Data: m.Data,
		Retry: retry, ZeroRetry: retry == 0 && (m.ZeroRetry || m.Retry > 0),
		NoData: m.NoData, Close: m.Close, Private: m.Private}
}

// Flags are an event's booleans as one number: the encoding every store
// keeps them in (bolt's flags byte and Redis's f field as the number,
// NATS's Herd-Flags header as Letters), so that a new flag is added here
// and nowhere else: a bit, its Event field (Flags, SetFlags) and its
// letter (flagLetters). The values and letters are stored data: never
// change or reuse one.
type Flags uint8

// The flags.
const (
	FlagClose     Flags = 1 << iota // Close
	FlagNoData                      // NoData
	FlagPrivate                     // Private
	FlagZeroRetry                   // ZeroRetry

	// KnownFlags are all of them: a stored entry with any other bit set is
	// not one herd wrote.
	KnownFlags = FlagClose | FlagNoData | FlagPrivate | FlagZeroRetry
)

// flagLetters are the flags' letters, in the order Letters writes them:
// a header-friendly form for stores whose fields are text (NATS trims
// header values, so a number with spaces could not pass whole; these were
// herd's first encoding of the flags).
var flagLetters = [...]struct {
	flag   Flags
	letter byte
}{{FlagClose, 'c'}, {FlagNoData, 'n'}, {FlagPrivate, 'p'}, {FlagZeroRetry, 'z'}}

// Letters returns f as letters, one per flag set, in flagLetters' order
// ("" for none). Unknown bits have no letter and are left out.
func (f Flags) Letters() string {
	var b []byte
	for _, l := range flagLetters {
		if f&l.flag != 0 {
			b = append(b, l.letter)
		}
	}
	return string(b)
}

// ParseFlagLetters reads s as Letters writes it, each letter once and in
// order, and reports whether it could: any other string is not herd's.
func ParseFlagLetters(s string) (Flags, bool) {
	var f Flags
	for _, l := range flagLetters {
		for i := range len(s) {
			if s[i] == l.letter {
				f |= l.flag
				break
			}
		}
	}
	return f, s == f.Letters()
}

// Flags returns e's booleans as Flags.
func (e Event) Flags() Flags {
	var f Flags
	if e.Close {
		f |= FlagClose
	}
	if e.NoData {
		f |= FlagNoData
	}
	if e.Private {
		f |= FlagPrivate
	}
	if e.ZeroRetry {
		f |= FlagZeroRetry
	}
	return f
}

// SetFlags sets e's booleans from f. It returns an error, and changes
// nothing, if f has a bit that is not one of KnownFlags: the entry was not
// written by herd (or by a newer herd), and its store reports it damaged.
func (e *Event) SetFlags(f Flags) error {
	if f&^KnownFlags != 0 {
		return fmt.Errorf("unknown flags %#x", uint8(f))
	}
	e.Close, e.NoData, e.Private, e.ZeroRetry = f&FlagClose != 0, f&FlagNoData != 0, f&FlagPrivate != 0, f&FlagZeroRetry != 0
	return nil
}
