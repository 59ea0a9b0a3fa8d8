package hub

import (
	"encoding/json"
	"sync/atomic"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// damagedGap is the gap event that stands for a damaged event: it has the
// damaged event's position, so that a subscriber takes it in log order,
// and no id, so that a client resuming after it asks from before the
// damage again (and is told again) rather than skipping it unawares.
func damagedGap(d *herd.DamagedEventError) *frame {
	data, _ := json.Marshal(struct {
		Damaged string `json:"damaged"`
	}{d.ID})
	e := herd.Event{Pos: d.Pos, Type: GapEvent, Data: string(data)}
	f := &frame{ev: e, wire: mustFrame(sse.Event{Type: e.Type, Data: e.Data})}
	f.size = f.wire.Len() + 64
	return f
}

// damageLog reports damaged events met by the follower and by replays,
// once per position in a row: a reconnect storm replaying past the same
// damage logs it once, and counts it each time.
type damageLog struct {
	last atomic.Uint64 // position last logged
}

// report logs d as an error unless it was the last one logged, and counts
// it.
func (l *damageLog) report(e *env, d *herd.DamagedEventError, by string) {
	e.counters.damaged.Add(1)
	if l.last.Swap(uint64(d.Pos)) == uint64(d.Pos) {
		return
	}
	e.log.Error("stored event damaged: not delivered; subscribers get a gap event", "pos", d.Pos, "id", d.ID,
		"topics", d.Topics, "cause", d.Cause, "found_by", by)
}
