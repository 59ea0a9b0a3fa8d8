package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// A history serves replays: the events after a position, encoded, as far
// as a Limit allows.
type history interface {
	// read returns the frames after position after of the log's
	// generation gen, and whether retention removed events after it
	// before the read (gap). At a damaged event it returns the frames
	// before it and the *DamagedEventError.
	read(ctx context.Context, gen string, after herd.Pos, lim herd.Limit) (frames []*frame, gap bool, err error)
	// id formats a position as its event's id.
	id(p herd.Pos) string
}

// storeHistory serves replays from the replay cache when it holds the
// events after the position asked for, else from the store, encoding what
// it reads. A replay starts where retention has left the log (see
// Hub.subscribe), so what the cache holds beyond is never served.
type storeHistory struct {
	store  herd.Store
	cache  *replayCache // nil when disabled
	framer framer
}

func (h storeHistory) read(ctx context.Context, gen string, after herd.Pos, lim herd.Limit) ([]*frame, bool, error) {
	if frames, ok := h.cache.after(gen, after, lim); ok {
		return frames, false, nil
	}
	events, gap, err := h.store.Read(ctx, after, lim)
	if err != nil && !errors.Is(err, herd.ErrDamaged) {
		return nil, false, err
	}
	frames := make([]*frame, len(events))
	for i, e := range events {
		frames[i] = h.framer.newFrame(e)
	}
	return frames, gap, err
}

func (h storeHistory) id(p herd.Pos) string { return h.store.ID(p) }

// replayBatch bounds the events of one replay batch; Config.QueueBytes
// bounds their size, so that a replay costs no more memory than a queue.
const replayBatch = 512

// replay delivers one batch of history after s.rp.cursor.
func (s *subscriber) replay(ctx context.Context, dst []item) ([]item, error) {
	c := s.env.counters
	n := len(dst)
	defer func() {
		c.delivered.Add(int64(len(dst) - n))
		c.replayed.Add(int64(len(dst) - n))
	}()
	rp := s.rp
	if rp.notice.Type != "" {
		dst = append(dst, item{ev: rp.notice, wire: mustFrame(sse.Event{Type: rp.notice.Type, Data: rp.notice.Data})})
		rp.notice = herd.Event{}
	}
	frames, gap, err := s.env.history.read(ctx, rp.gen, rp.cursor, herd.Limit{Events: replayBatch, Bytes: s.env.queueBytes})
	var damaged *herd.DamagedEventError
	if errors.As(err, &damaged) { // the frames before it are whole: deliver them, then the gap
		err = nil
	}
	if err != nil {
		c.storeErrors.Add(1)
		s.end(reasonStore)
		return dst, fmt.Errorf("hub: replay: %w", err)
	}
	if gap && s.face == nil { // retention removed events while the replay ran
		oldest := ""
		if len(frames) > 0 {
			oldest = frames[0].ev.ID
		}
		g := gapEvent(rp.requested, oldest)
		dst = append(dst, item{ev: g, wire: mustFrame(sse.Event{Type: g.Type, Data: g.Data})})
	}
	for _, f := range frames {
		e := f.ev
		rp.cursor = e.Pos
		if !s.matches(e.Topics) {
			continue
		}
		if s.face != nil {
			dst = s.deliverFace(dst, f, true)
			continue
		}
		dst = s.deliver(dst, e, f.wire)
		if e.Close && s.topics != nil {
			s.recordClose(e)
		} else if s.topics != nil {
			s.forgetReopened(e)
		}
	}
	if damaged != nil {
		s.env.damage.report(s.env, damaged, "replay")
		if g := damagedGap(damaged); s.face == nil {
			dst = append(dst, item{ev: g.ev, wire: g.wire})
		}
		rp.cursor = damaged.Pos
	}
	if (len(frames) > 0 || damaged != nil) && rp.cursor < rp.target {
		return dst, nil
	}
	// Caught up: go live, and if every topic is closed (perhaps by events
	// retention has since removed), deliver the close now.
	s.rp = nil
	s.handOver(rp.cursor)
	if s.allClosedBy(rp.cursor) {
		id := s.env.history.id(maxPos(s.closed))
		dst = append(dst, item{ev: s.env.closeEventFor(id, s.topics), wire: s.env.closeFrame(id, s.topics)})
	}
	return dst, nil
}

// Recent returns the newest event with topic that this node still holds in
// its replay cache (the latest Config.ReplayCache events it dispatched,
// published on any node), and whether there is one. It reads memory only,
// so it is cheap enough for every request and as fresh as this node's
// follower; older events, or any when the cache is disabled, are not
// found: ask the store. It is safe for concurrent use.
func (h *Hub) Recent(topic string) (herd.Event, bool) {
	return h.cache.newestWith(topic)
}
