package herd

import (
	"errors"
	"fmt"
)

// Errors from stores.
var (
	// ErrStoreClosed is returned by a Store's methods after Close.
	ErrStoreClosed = errors.New("hub: store closed")
	// ErrUnknownID is returned by Store.ParseID for an id the store did
	// not make (another store's, or an earlier incarnation's).
	ErrUnknownID = errors.New("hub: unknown event id")
	// ErrLagged is returned by Follow when retention removed events
	// before they could be delivered, and ends the subscriptions of a hub
	// whose follower lagged so (they resume and are told of the gap).
	ErrLagged = errors.New("hub: follower lagged behind retention")
)

// A TopicClosedError is the refusal of a message to a closed topic: a
// closed topic takes no more events until it is reopened (Hub.Reopen). A message to several topics is refused whole when any
// of them is closed. Store.Append returns it; Hub.Publish wraps it in an
// *Error with code EConflict.
type TopicClosedError struct {
	Topic string // a closed topic of the message
}

func (e *TopicClosedError) Error() string { return fmt.Sprintf("topic %q is closed", e.Topic) }
