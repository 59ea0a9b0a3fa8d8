package herd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrDamaged is matched (errors.Is) by every *DamagedEventError.
var ErrDamaged = errors.New("hub: stored event damaged")

// A DamagedEventError reports a stored event that fails its store's
// integrity check: bytes that changed after it was written (a checksum
// that does not match), or an entry that herd did not write (fields
// missing or malformed). Such an event is never returned as an Event:
// nothing in it, its data, topics or flags (Private among them), can be
// trusted.
//
// Store.Read returns the events before it (within its Limit) with this
// error; Store.Follow hands fn the events before it, then returns this
// error. Either way the caller goes on after Pos. The hub does: it
// delivers nothing of the event, tells every subscriber with a gap event
// that names its id ({"damaged":"<id>"}: which subscribers it was for is
// not known), logs it as an error and counts it (Stats.DamagedEvents).
type DamagedEventError struct {
	Pos Pos
	ID  string // Pos as the store formats it
	// Topics are the event's topics as far as they could be read, for the
	// log only: they may be what the damage made of them. Nil when
	// unreadable.
	Topics []string
	Cause  string // what is wrong, as found
}

func (e *DamagedEventError) Error() string {
	topics := "unreadable"
	if e.Topics != nil {
		topics = fmt.Sprintf("%q as read", e.Topics)
	}
	return fmt.Sprintf("hub: stored event %s (position %d, topics %s) is damaged and was not served: %s", e.ID, e.Pos, topics, e.Cause)
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedEventError) Is(target error) bool { return target == ErrDamaged }

// CheckStored reports whether e could have been stored by a hub, for
// stores whose entries others can write (a broker's stream): at least one
// topic, each valid and none twice; a type without CR, LF or NUL; a retry
// from 0 to MaxRetry; and, for a message without data, a close with no
// data; a type that is valid UTF-8. Such a store refuses an entry that
// fails it as a *DamagedEventError. Data is checked for its shape only:
// stores keep whatever bytes they are given (storetest's RoundTrip), and
// the encoder splits any data into data: lines, so no bytes can forge a
// field.
func CheckStored(e Event) error {
	if len(e.Topics) == 0 {
		return errors.New("no topics")
	}
	for i, t := range e.Topics {
		if err := ValidateTopic(t); err != nil {
			return err
		}
		if slices.Contains(e.Topics[:i], t) {
			return fmt.Errorf("topic %q twice", t)
		}
	}
	if strings.ContainsAny(e.Type, "\r\n\x00") {
		return errors.New("an event type with CR, LF or NUL")
	}
	if !utf8.ValidString(e.Type) {
		return errors.New("an event type that is not valid UTF-8")
	}
	if e.Retry < 0 || e.Retry > MaxRetry {
		return fmt.Errorf("retry %v out of range", e.Retry)
	}
	if e.NoData && (!e.Close || e.Data != "") {
		return errors.New("no data, but not a close, or with data")
	}
	return nil
}
