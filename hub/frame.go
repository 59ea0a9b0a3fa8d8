package hub

import (
	"encoding/json"
	"math"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// A frame is one event as the dispatcher hands it to subscribers: encoded
// once, shared by all of them, never changed.
type frame struct {
	ev    herd.Event
	wire  sse.Frame // the event on the wire; empty for a message without data
	close sse.Frame // the close event, for a Close message
	size  int       // bytes a queue is charged for holding it
	faceFrames
}

// A framer encodes events: the hub's own (close, gap, token expired), and
// the stored ones.
type framer struct {
	closeEvent string // the type of the event that ends a closed stream
}

// newFrame encodes e for delivery. Messages were validated when published,
// so encoding cannot fail; an event read back from a store that somehow
// holds an invalid one is sent without its bad fields rather than dropped.
func (fr framer) newFrame(e herd.Event) *frame {
	f := &frame{ev: e}
	if !e.NoData {
		f.wire = mustFrame(sse.Event{ID: e.ID, Type: e.Type, Data: e.Data, Retry: e.Retry, ZeroRetry: e.ZeroRetry})
	}
	if e.Close {
		f.close = fr.closeFrame(e.ID, e.Topics)
	}
	f.size = f.wire.Len() + f.close.Len() + 64
	return f
}

func mustFrame(e sse.Event) sse.Frame {
	f, err := sse.NewFrame(e)
	if err != nil {
		e.Type = ""
		f, _ = sse.NewFrame(sse.Event{ID: validOr(e.ID), Data: e.Data, Retry: max(e.Retry, 0), ZeroRetry: e.ZeroRetry})
	}
	return f
}

func validOr(id string) string {
	if (sse.Event{ID: id}).Validate() != nil {
		return ""
	}
	return id
}

// closeFrame is the event that ends a stream whose topics are all closed.
// It carries the id of the closing publish, so that a client resuming from
// it is answered 204, and a data line, so that browsers dispatch it.
func (fr framer) closeFrame(id string, topics []string) sse.Frame {
	e := fr.closeEventFor(id, topics)
	return mustFrame(sse.Event{ID: e.ID, Type: e.Type, Data: e.Data})
}

// closeEventFor is the close as an in-process subscriber receives it.
func (fr framer) closeEventFor(id string, topics []string) herd.Event {
	data, _ := json.Marshal(struct {
		Topics []string `json:"topics"`
	}{topics})
	return herd.Event{ID: id, Type: fr.closeEvent, Data: string(data), Topics: topics}
}

// gapEvent is sent before a replay that cannot start where the client asked:
// its data names the requested id and the oldest id still held ("" if
// none). It carries no id of its own, so a client cut off during the
// replay asks again from the same point.
func gapEvent(requested, oldest string) herd.Event {
	data, _ := json.Marshal(struct {
		Requested string `json:"requested"`
		Oldest    string `json:"oldest"`
	}{requested, oldest})
	return herd.Event{Type: GapEvent, Data: string(data)}
}

// expired is queued to a subscriber whose token expired. Its Pos is after
// every event's, so that a replay's hand-over never drops it.
var expired = func() *frame {
	e := herd.Event{Pos: math.MaxUint64, Type: ExpiredEvent, Data: `{"reason":"token expired"}`}
	return &frame{ev: e, wire: mustFrame(sse.Event{Type: e.Type, Data: e.Data})}
}()
