package hub

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// upperFace writes events' data in capitals, counting its encodings, and
// shows a subscriber the event's first topic.
func upperFace(views *atomic.Int64) *Face {
	return &Face{View: func(e herd.Event) (any, sse.Frame, bool) {
		views.Add(1)
		if e.Type == "skip" {
			return nil, sse.Frame{}, false
		}
		w, err := sse.NewFrame(sse.Event{ID: "face-" + e.ID, Data: strings.ToUpper(e.Data)})
		return e.Topics[0], w, err == nil
	}}
}

// TestFace_dispatch: a face's subscribers of a wildcard take only what
// their matcher accepts, so a quiet topic's subscriber is not cut as slow
// by other topics' traffic, and each event is encoded once for all of
// them, in the face's format.
func TestFace_dispatch(t *testing.T) {
	h, err := New(Config{Store: nopStore{}, QueueLength: 4, ReplayCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	var views atomic.Int64
	face := upperFace(&views)
	quiet := make([]*subscriber, 3)
	for i := range quiet {
		quiet[i] = newSubscriber(h.env, []string{"**"})
		quiet[i].face = face
		quiet[i].match = func(v any) bool { return v == "quiet" }
		if err := h.subs.add(quiet[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		h.subs.offer(h.env.newFrame(herd.Event{Pos: herd.Pos(i + 1), ID: "loud", Topics: []string{"loud"}, Data: "x"}))
	}
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 51, ID: "s", Type: "skip", Topics: []string{"quiet"}, Data: "no"}))
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 52, ID: "q", Topics: []string{"quiet"}, Data: "hello"}))
	if got := views.Load(); got != 52 {
		t.Errorf("View called %d times for 52 events and 3 subscribers, want once per event", got)
	}
	for _, s := range quiet {
		items, err := s.ready(nil)
		if err != nil {
			t.Fatalf("quiet subscriber ended: %v (cut by other topics' traffic?)", err)
		}
		if len(items) != 1 || string(items[0].wire.Bytes()) != "id: face-q\ndata: HELLO\n\n" {
			t.Fatalf("got %d items, first %q; want the quiet event in the face's encoding", len(items), wireOf(items))
		}
	}
}

// TestFace_local: a frame injected for one face subscriber reaches it, as
// given, after what was queued, and no other subscriber.
func TestFace_local(t *testing.T) {
	h, err := New(Config{Store: nopStore{}, ReplayCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	var views atomic.Int64
	a, b := newSubscriber(h.env, []string{"t"}), newSubscriber(h.env, []string{"t"})
	for _, s := range []*subscriber{a, b} {
		s.face = upperFace(&views)
		h.subs.add(s)
	}
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 1, ID: "1", Topics: []string{"t"}, Data: "one"}))
	(&FaceStream{h: h, s: a}).Inject(sse.CommentFrame("local"))
	items, _ := a.ready(nil)
	if got := wireOf(items); got != "id: face-1\ndata: ONE\n\n: local\n" {
		t.Errorf("a got %q", got)
	}
	items, _ = b.ready(nil)
	if got := wireOf(items); got != "id: face-1\ndata: ONE\n\n" {
		t.Errorf("b got %q", got)
	}
}

func wireOf(items []item) string {
	var b strings.Builder
	for _, it := range items {
		b.Write(it.wire.Bytes())
	}
	return b.String()
}

// TestFace_localDuringReplay: a frame injected while the subscriber
// replays survives the hand-over, which drops only the live frames the
// replay delivered, and keeps its place among the later ones.
func TestFace_localDuringReplay(t *testing.T) {
	h, err := New(Config{Store: nopStore{}, ReplayCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	var views atomic.Int64
	s := newSubscriber(h.env, []string{"t"})
	s.face = upperFace(&views)
	h.subs.add(s)
	fs := &FaceStream{h: h, s: s}
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 1, ID: "1", Topics: []string{"t"}, Data: "replayed"}))
	fs.Inject(sse.CommentFrame("a"))
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 2, ID: "2", Topics: []string{"t"}, Data: "replayed too"}))
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 3, ID: "3", Topics: []string{"t"}, Data: "live"}))
	fs.Inject(sse.CommentFrame("b"))
	s.handOver(2)
	want := 0
	for _, f := range s.queue[s.head:] {
		want += f.size
	}
	if s.bytes != want {
		t.Errorf("queue charged %d bytes after the hand-over, for frames of %d", s.bytes, want)
	}
	items, _ := s.ready(nil)
	if got := wireOf(items); got != ": a\nid: face-3\ndata: LIVE\n\n: b\n" {
		t.Errorf("after the hand-over: %q", got)
	}
}

// TestFace_exact: an exact subscriber's matcher is asked about private
// events only: a public event that reached it through its selectors is
// taken without it, and a private one it refuses is not queued.
func TestFace_exact(t *testing.T) {
	h, err := New(Config{Store: nopStore{}, ReplayCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	var views, asked atomic.Int64
	s := newSubscriber(h.env, []string{"a"})
	s.face, s.exact = upperFace(&views), true
	s.match = func(any) bool { asked.Add(1); return false }
	if err := h.subs.add(s); err != nil {
		t.Fatal(err)
	}
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 1, ID: "pub", Topics: []string{"a"}, Data: "x"}))
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 2, ID: "priv", Topics: []string{"a"}, Data: "y", Private: true}))
	h.subs.offer(h.env.newFrame(herd.Event{Pos: 3, ID: "other", Topics: []string{"b"}, Data: "z"}))
	items, err := s.ready(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || string(items[0].wire.Bytes()) != "id: face-pub\ndata: X\n\n" {
		t.Fatalf("got %d items, first %q; want the public event only", len(items), wireOf(items))
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("matcher asked %d times, want once (the private event)", n)
	}
}
