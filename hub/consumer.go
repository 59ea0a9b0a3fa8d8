package hub

import (
	"slices"

	"github.com/herd-sse/herd"
)

// A consumer is the consumer's side of a subscriber: where its replay
// stands, which of its topics are closed, and whether its stream has
// delivered its last event. One goroutine at a time owns it, without a
// lock: the one in subscriber.next (net/http's path, a Subscription, the
// replay before a hand-over to the engine), or the engine's writer that
// holds the stream. Hub.subscribe sets it up before anyone consumes.
//
// What only a replay needs is kept apart (replayState), and dropped once
// the stream is live: most subscribers never replay, and a live one
// should not carry 170 bytes of a replay it finished.
type consumer struct {
	// batch is the buffer take swaps in for the queue it takes: two
	// buffers circulate while frames keep coming, and at rest the queue
	// keeps one (see take).
	batch    []*frame
	rp       *replayState        // while s replays history; nil once live
	closed   map[string]herd.Pos // nil until a topic of s is closed
	finished closeReason         // the stream's last event was delivered: why it ends
}

// replayState is a consumer's replay: where it stands, and what it says
// before it starts.
type replayState struct {
	cursor    herd.Pos   // replay reads after this
	target    herd.Pos   // the log's end when s was registered: replay reaches it
	requested string     // the id the client resumed from, for gap notices
	gen       string     // the log's generation its replay reads (Bounds.Generation)
	notice    herd.Event // a gap notice to send before the replay, if its Type is set
}

// replaying reports whether s's consumer is still replaying history: its
// next items come from the store, not the queue.
func (s *subscriber) replaying() bool { return s.rp != nil }

// finishIfClosed records the topics e closes and reports whether every
// topic of s is now closed, ending the subscription.
func (s *subscriber) finishIfClosed(e herd.Event) bool {
	if s.topics == nil {
		return false
	}
	if !e.Close {
		s.forgetReopened(e)
		return false
	}
	s.recordClose(e)
	return s.allClosedBy(e.Pos)
}

// recordClose notes which of s's topics e closes. The map is made on the
// first close: most subscribers never see one, and an empty map costs a
// hundred bytes each.
func (s *subscriber) recordClose(e herd.Event) {
	for _, t := range e.Topics {
		if slices.Contains(s.topics, t) {
			if s.closed == nil {
				s.closed = map[string]herd.Pos{}
			}
			s.closed[t] = e.Pos
		}
	}
}

// allClosedBy reports whether every topic of s is closed at or before p,
// the position delivered so far, and if so marks s finished. A close the
// store reported but that has not reached s yet keeps it open: its event
// (and data) will still come.
func (s *subscriber) allClosedBy(p herd.Pos) bool {
	if s.topics == nil || len(s.closed) < len(s.topics) || maxPos(s.closed) > p {
		return false
	}
	s.finished = reasonTopicClose
	return true
}
