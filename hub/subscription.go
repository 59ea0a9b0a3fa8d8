package hub

import (
	"context"
	"net/netip"

	"github.com/herd-sse/herd"
)

// trusted is the grant of in-process subscriptions: every private event.
var trusted = &Grant{Subscribe: []string{"**"}}

// A Subscription receives a hub's events in-process, exactly as an HTTP
// subscriber would: history first when resuming, then live events, a gap
// event if history no longer reaches the resume point (or in place of a
// damaged stored event: see DamagedEventError), and a close event when all
// its topics are closed.
//
// Next must be called from one goroutine at a time; Close may be called
// from any.
type Subscription struct {
	h     *Hub
	s     *subscriber
	items []item
	i     int
	err   error // returned once the items before it are delivered
}

// Subscribe subscribes to the topics the selectors match, resuming after
// lastEventID: "" for live events only, EarliestID for all the history
// held, or an event id. It returns ErrTopicsClosed if every topic is
// closed and the id is at or after the close. In-process subscriptions
// are trusted: they receive private events too.
func (h *Hub) Subscribe(ctx context.Context, selectors []string, lastEventID string) (*Subscription, error) {
	s, err := h.subscribe(ctx, selectors, lastEventID, trusted, netip.Addr{}, nil)
	if err != nil {
		return nil, err
	}
	return &Subscription{h: h, s: s}, nil
}

// Next returns the next event. After the close event it returns io.EOF;
// if the hub ended the subscription it returns why (ErrSlowSubscriber,
// ErrShuttingDown, ErrLagged, ...); it returns ctx's error when ctx ends.
func (sub *Subscription) Next(ctx context.Context) (herd.Event, error) {
	for sub.i >= len(sub.items) {
		if sub.err != nil {
			return herd.Event{}, sub.err
		}
		var err error
		sub.items, err = sub.s.next(ctx, nil, sub.items[:0])
		sub.i = 0
		if err != nil && ctx.Err() != nil {
			return herd.Event{}, err // not sticky: a later call may pass a live context
		}
		sub.err = err
	}
	e := sub.items[sub.i].ev
	sub.items[sub.i] = item{}
	sub.i++
	return e, nil
}

// Close ends the subscription.
func (sub *Subscription) Close() {
	sub.h.unsubscribe(sub.s, reasonClient)
}
