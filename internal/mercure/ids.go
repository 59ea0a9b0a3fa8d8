package mercure

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// The ids herd generates for updates without a publisher's id are IRIs,
// "urn:uuid:" and a version 8 (custom) UUID holding the event's position
// in the store's log, a tag of the store's id for it (so that an id from
// another store, or an earlier incarnation of this one, is not mistaken
// for an event of this one) and a marker. A publisher may not use an id
// of that shape (refused with 400), so the two cannot collide, and a
// resume from a generated id needs no lookup.
//
// Layout, from the most significant bit: marker (8 bits), tag (40), version
// (4, = 8), position's high 12 bits; variant (2, = 10), marker (10),
// position's low 52 bits.
const (
	idMarkerHi = 0x68  // "h"
	idMarkerLo = 0x2e5 // 10 bits
	uuidPrefix = "urn:uuid:"
)

// generatedID returns the Mercure id of the event at p, whose store id is
// storeID.
func generatedID(p herd.Pos, storeID string) string {
	hi := uint64(idMarkerHi)<<56 | idTag(storeID)<<16 | 8<<12 | uint64(p)>>52
	lo := uint64(2)<<62 | uint64(idMarkerLo)<<52 | uint64(p)&(1<<52-1)
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	h := hex.EncodeToString(b[:])
	return uuidPrefix + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// idTag is the 40 bits of a store id that a generated id carries.
func idTag(storeID string) uint64 {
	sum := sha256.Sum256([]byte(storeID))
	return binary.BigEndian.Uint64(sum[:8]) >> 24
}

// parseGenerated reads an id of the generated shape, in any case: its
// position and tag, and whether it has that shape at all.
func parseGenerated(id string) (p herd.Pos, tag uint64, ok bool) {
	if len(id) != len(uuidPrefix)+36 || !strings.EqualFold(id[:len(uuidPrefix)], uuidPrefix) {
		return 0, 0, false
	}
	u := id[len(uuidPrefix):]
	if u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' {
		return 0, 0, false
	}
	b, err := hex.DecodeString(u[:8] + u[9:13] + u[14:18] + u[19:23] + u[24:])
	if err != nil {
		return 0, 0, false
	}
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if hi>>56 != idMarkerHi || hi>>12&0xf != 8 || lo>>62 != 2 || lo>>52&0x3ff != idMarkerLo {
		return 0, 0, false
	}
	return herd.Pos(hi&0xfff<<52 | lo&(1<<52-1)), hi >> 16 & (1<<40 - 1), true
}

// mercureID is the id Mercure subscribers see for an event: the
// publisher's, else a generated one.
func (h *Handler) mercureID(e herd.Event, publisherID string) string {
	if publisherID != "" {
		return publisherID
	}
	return generatedID(e.Pos, e.ID)
}

// resolve turns a Last-Event-ID into the herd id to resume after, and
// whether it was found: "earliest" asks for all the history; a generated
// id is the event it names; a publisher's id is found by its topic (the
// first event bearing it, when a publisher used it more than once: the
// first in the replay cache, else the first of the log's first maxScan
// events, else the newest); an id
// herd answered before its ids were IRIs is its store id. An unknown id
// resumes nowhere (live updates only), as Mercure does, and the caller
// says so with Mercure-Last-Event-ID: earliest.
//
// A recent publisher's id is found in the hub's replay cache: the
// store's Stats may lag (NATS caches them for seconds), and an id missed
// there would lose what followed it. Stats, which read every topic, are
// asked only for ids older than the cache.
func (h *Handler) resolve(ctx context.Context, lastID string) (herdID string, found bool, err error) {
	if lastID == hub.EarliestID {
		return lastID, true, nil
	}
	if p, tag, ok := parseGenerated(lastID); ok {
		if id := h.Store.ID(p); idTag(id) == tag {
			return id, true, nil
		}
		return "", false, nil
	}
	t, err := idTopic(lastID)
	if err == nil {
		if e, ok := h.Hub.RecentFirst(t); ok {
			return e.ID, true, nil
		}
		stats, err := h.Store.Stats(ctx)
		if err != nil {
			return "", false, err
		}
		for _, s := range stats {
			if s.Topic == t && s.LastID != "" {
				if s.Retained > 1 { // used more than once: find the first
					if id, ok, err := h.firstWith(ctx, t); err != nil || ok {
						return id, ok, err
					}
				}
				return s.LastID, true, nil
			}
		}
	}
	if _, err := h.Store.ParseID(lastID); err == nil {
		return lastID, true, nil
	}
	return "", false, nil
}

// maxScan bounds the events firstWith reads, so that resuming after a
// reused id costs at most that much however often it is asked.
const maxScan = 16 << 10

// firstWith returns the id of the oldest retained event with topic t,
// reading the log from its start, at most maxScan events; ok is false if
// none was found within them.
func (h *Handler) firstWith(ctx context.Context, t string) (id string, ok bool, err error) {
	b, err := h.Store.Bounds(ctx)
	if err != nil {
		return "", false, err
	}
	after := herd.Pos(0)
	if b.First > 0 {
		after = b.First - 1
	}
	for read := 0; read < maxScan; {
		events, _, err := h.Store.Read(ctx, after, herd.Limit{Events: 1024, Bytes: 4 << 20})
		if err != nil || len(events) == 0 {
			return "", false, err
		}
		for _, e := range events {
			if slices.Contains(e.Topics, t) {
				return e.ID, true, nil
			}
		}
		read += len(events)
		after = events[len(events)-1].Pos
	}
	return "", false, nil
}

// checkPublisherID refuses the ids Mercure reserves ("earliest", and
// those starting with # for the hub's own), those that could not travel
// as an SSE id, and those of the shape of herd's own.
func checkPublisherID(id string) error {
	switch {
	case !validProtocolString(id):
		return fmt.Errorf("not UTF-8, or holds control or format characters")
	case strings.HasPrefix(id, "#"), id == hub.EarliestID:
		return fmt.Errorf("reserved")
	}
	if _, _, ok := parseGenerated(id); ok {
		return fmt.Errorf("of the shape of the ids the hub generates")
	}
	return nil
}
