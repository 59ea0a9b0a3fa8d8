package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/herd-sse/herd"
)

// testGeneration: a store's generation is stable while its log is, and the
// same on a peer.
func testGeneration(t *testing.T, c Config) {
	s := open(t, c, Options{})
	g := bounds(t, s).Generation
	appendMsg(t, s, data("a", "x"))
	if g2 := bounds(t, s).Generation; g2 != g {
		t.Errorf("the generation changed from %q to %q with an append", g, g2)
	}
	if c.Peer != nil {
		if gp := bounds(t, c.Peer(t, s)).Generation; gp != g {
			t.Errorf("a peer's generation is %q, the store's %q", gp, g)
		}
	}
}

// testWipe: after the store's data is wiped under it (Config.Wipe) and an
// event is stored in the new log, a peer's Follow that was following the
// old log returns herd.ErrReplaced (it does not go on in the new log as if
// the old one did); then both report the same new generation, refuse the
// ids of the earlier one, and read nothing wiped.
//
// The Follow starts before the wipe, as a hub's follower does: a Follow
// started after it may begin in the new generation (a store can notice
// the wipe in the background first), and a position carries no
// generation, so only the hub, which compares Bounds.Generation, can tell
// such a position is of the old log.
func testWipe(t *testing.T, c Config) {
	if c.Wipe == nil || c.Peer == nil {
		t.Skip("the store cannot be wiped under a running hub (Config.Wipe or Peer is nil)")
	}
	s := open(t, c, Options{})
	peer := c.Peer(t, s)
	var old []herd.Event
	for _, d := range []string{"wiped 1", "wiped 2"} {
		old = append(old, appendMsg(t, s, data("a", d)))
	}
	g := bounds(t, peer).Generation

	fctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	followed, errc := make(chan string, 1), make(chan error, 1)
	from := old[1].Pos
	go func() {
		errc <- peer.Follow(fctx, from, func(events []herd.Event) error {
			for _, e := range events {
				if e.Data != "wiped 3" {
					return fmt.Errorf("delivered %q after the wipe", e.Data)
				}
				followed <- e.Data
			}
			return nil
		})
	}()
	// The Follow is under way in the old log once it delivers an event
	// stored after it began.
	old = append(old, appendMsg(t, s, data("a", "wiped 3")))
	select {
	case <-followed:
	case err := <-errc:
		t.Fatalf("Follow ended before the wipe: %v", err)
	}
	c.Wipe(t, s)
	appendMsg(t, s, data("a", "new"))
	if err := <-errc; !errors.Is(err, herd.ErrReplaced) {
		t.Errorf("Follow from the wiped log = %v, want herd.ErrReplaced", err)
	}
	gens := map[string]bool{}
	for i, st := range []herd.Store{s, peer} {
		b := bounds(t, st)
		gens[b.Generation] = true
		if b.Generation == g {
			t.Errorf("store %d: the generation is still %q after the wipe", i, g)
		}
		if _, err := st.ParseID(old[1].ID); !errors.Is(err, herd.ErrUnknownID) {
			t.Errorf("store %d: ParseID(%q) of the wiped log = %v, want ErrUnknownID", i, old[1].ID, err)
		}
		events, _ := read(t, st, 0, 10)
		if got := datas(events); len(got) != 1 || got[0] != "new" {
			t.Errorf("store %d reads %q after the wipe, want only the new event", i, got)
		}
	}
	if len(gens) != 1 {
		t.Errorf("the store and its peer disagree on the new generation: %v", gens)
	}
}
