package hub

import (
	"context"
	"net/netip"
	"slices"

	"github.com/herd-sse/herd"
)

// subscribe registers a subscription to selectors, resuming after
// lastEventID ("" for live events only, EarliestID for all history). The
// grant, if any, decides which private events it receives. init, if set,
// sets up the subscriber before it is registered (a face's).
func (h *Hub) subscribe(ctx context.Context, selectors []string, lastEventID string, g *Grant, addr netip.Addr, init func(*subscriber)) (*subscriber, error) {
	if len(selectors) == 0 {
		return nil, errorf(EInvalid, "topic is required: /events?topic=NAME (repeatable; * and ** select)")
	}
	var sels []string
	for _, sel := range selectors {
		if err := herd.ValidateSelector(sel); err != nil {
			return nil, errorf(EInvalid, "%v", err)
		}
		if !slices.Contains(sels, sel) {
			sels = append(sels, sel)
		}
		if len(sels) > h.cfg.MaxSubscribeTopics {
			return nil, errorf(EInvalid, "too many topics: more than %d per subscription (the hub's %s)", h.cfg.MaxSubscribeTopics, h.cfg.setting("MaxSubscribeTopics"))
		}
	}
	if !h.isOpen() {
		return nil, shuttingDown
	}
	store := h.cfg.Store
	s := newSubscriber(h.env, sels)
	s.addr = addr
	if g != nil {
		s.private = g.Subscribe
	}
	if init != nil {
		init(s)
	}
	if s.face != nil {
		s.topics = nil // a face's streams do not end with herd's closes
	}

	const (
		live = iota
		earliest
		resume
		unknown
	)
	mode, cursor := live, herd.Pos(0)
	switch lastEventID {
	case "":
	case EarliestID:
		mode = earliest
	default:
		mode = unknown
		if p, err := store.ParseID(lastEventID); err == nil {
			mode, cursor = resume, p
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

	if err := h.subs.add(s); err != nil {
		return nil, err
	}
	// Read the closed topics after registering: a close stored later is
	// then sure to reach s live or in its replay.
	if s.topics != nil {
		closed, err := store.Closed(ctx, s.topics)
		if err != nil {
			h.unsubscribe(s, reasonStore)
			return nil, unavailable("subscribe", err)
		}
		if len(closed) > 0 {
			s.closed = closed
		}
		if mode == live && len(closed) == len(s.topics) {
			mode = earliest // a late subscriber of closed topics gets their history, then the close
		}
	}
	if mode == live {
		return s, nil
	}
	// The replay runs up to the log's end as it is now, once s is
	// registered: everything later reaches s live. It starts where
	// retention has left the log, never before: the replay cache may hold
	// events that history no longer does.
	b, err := store.Bounds(ctx)
	if err != nil {
		h.unsubscribe(s, reasonStore)
		return nil, unavailable("subscribe", err)
	}
	if mode == resume && cursor > b.Last {
		mode = unknown // not an id this log has reached: from a wiped store
	}
	if _, err := store.ParseID(lastEventID); mode == resume && err != nil {
		mode = unknown // of a generation before the one Bounds just found
	}
	s.rp = &replayState{target: b.Last, requested: lastEventID, cursor: b.Trimmed, gen: b.Generation}
	switch {
	case mode == resume && cursor >= b.Trimmed:
		s.rp.cursor = cursor
	case mode != earliest: // resuming from before the history, or from an unknown id
		oldest := ""
		if b.First > 0 {
			oldest = store.ID(b.First)
		}
		s.rp.notice = gapEvent(lastEventID, oldest)
	}
	return s, nil
}

func maxPos(m map[string]herd.Pos) herd.Pos {
	var p herd.Pos
	for _, v := range m {
		p = max(p, v)
	}
	return p
}

// unsubscribe removes s, ending it for reason unless it ended already.
func (h *Hub) unsubscribe(s *subscriber, reason closeReason) {
	s.end(reason)
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if h.subs.remove(s) && s.onEnd != nil {
		s.onEnd()
	}
}
