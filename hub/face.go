package hub

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// A Face is a protocol other than herd's own whose subscribers live in the
// hub's registry, beside herd's: indexed by topic, matched at dispatch,
// bounded by the same queues and limits, and streamed by the same
// connection engine. Mercure is one (internal/mercure).
//
// A face differs from herd's own API in what it sends for an event, and in
// which events it sends: View says both, once per event and face, however
// many of the face's subscribers take the event. A Face is compared by
// pointer: make one per protocol endpoint and keep it.
//
// View and FaceOptions.Match run while the dispatcher holds the
// registry's lock, before a subscriber's: they may take locks of their
// own that nothing else holds while calling into the hub, never the
// hub's (no Publish, no Inject).
type Face struct {
	// View returns the face's view of e (what FaceOptions.Match reads)
	// and its encoding on the wire; ok false means the event is for none
	// of the face's subscribers. It must be safe for concurrent use and
	// must not block: the dispatcher calls it.
	View func(e herd.Event) (view any, wire sse.Frame, ok bool)
}

// FaceOptions describe one subscription of a Face.
type FaceOptions struct {
	// Selectors are the herd selectors whose events the subscription may
	// take (the index's keys): concrete topics where the face's own
	// selectors map to them one to one, else a wildcard.
	Selectors []string
	// Matchers is how many selectors of its own the subscription has,
	// counted against MaxSubscribeTopics when more than its Selectors.
	Matchers int
	// Exact says that Selectors are concrete topics that stand one to one
	// for the face's own selectors: an event the index reaches the
	// subscriber by is one Match would take, unless it is private. Match
	// then runs for private events only, sparing the dispatcher a look at
	// each subscriber's selectors for every public event.
	Exact bool
	// Match reports whether the subscriber takes an event, given the
	// face's view of it: the face's own selectors and grants, private
	// events included (the hub's grants do not apply to face
	// subscribers). It runs at dispatch, so a subscriber's queue holds
	// only its own events; it must be cheap, safe for concurrent use and
	// must not block. Nil takes every event View accepts.
	Match func(view any) bool
	// After is the herd id to resume after ("" for live events only,
	// EarliestID for all history). Gaps are not announced: a face says
	// so its own way, before it serves.
	After string
	// Expires, if set, ends the stream then (a token's expiry), without
	// an event: faces have none for it.
	Expires time.Time
	// Ended, if set, is called once when the subscription ends, however
	// it ends, on some goroutine of the hub's.
	Ended func()
}

// A FaceStream is a face's subscription, registered until it ends.
type FaceStream struct {
	h *Hub
	s *subscriber
}

// SubscribeFace registers a subscription of face. The per-address limit,
// the subscriber limit and MaxSubscribeTopics apply to it as to herd's own;
// errors are the hub's (see CodeOf). The caller serves it with Serve, or
// ends it with Close.
func (h *Hub) SubscribeFace(ctx context.Context, face *Face, opts FaceOptions, r *http.Request) (*FaceStream, error) {
	if face == nil || face.View == nil {
		return nil, errors.New("hub: SubscribeFace needs a Face with a View")
	}
	if opts.Matchers > h.cfg.MaxSubscribeTopics {
		return nil, errorf(EInvalid, "too many topics: more than %d per subscription (the hub's %s)", h.cfg.MaxSubscribeTopics, h.cfg.setting("MaxSubscribeTopics"))
	}
	s, err := h.subscribe(ctx, opts.Selectors, opts.After, nil, clientAddr(r), func(s *subscriber) {
		s.face, s.match, s.exact = face, opts.Match, opts.Exact
	})
	if err != nil {
		return nil, err
	}
	if s.rp != nil {
		s.rp.notice = herd.Event{} // a face announces gaps its own way
	}
	s.onEnd = opts.Ended // not before: a subscription refused never started
	if !opts.Expires.IsZero() {
		s.expiry = time.AfterFunc(time.Until(opts.Expires), s.expire)
	}
	return &FaceStream{h: h, s: s}, nil
}

// Inject queues wire to this subscriber alone, after what is queued: a
// node-local event, never stored, replayed or counted against other
// subscribers' queues. It never blocks: a full queue ends the subscriber
// as slow. Injected while the subscriber replays history, it follows the
// replay. An end it causes is logged: call it holding no lock of the
// caller's (a log line is I/O).
func (fs *FaceStream) Inject(wire sse.Frame) {
	f := &frame{wire: wire, size: wire.Len() + 64}
	f.local = true
	fs.s.offerLocal(f)
}

// Close ends the subscription, if Serve has not been called.
func (fs *FaceStream) Close() { fs.h.unsubscribe(fs.s, reasonClient) }

// Serve streams the subscription with header (set before w's headers are
// written): on the connection engine for HTTP/1.x (plain, or TLS 1.3 from
// Hub.TLSListener) or parked on the hub's HTTP/2 server, where Serve
// returns once the stream is handed over, else on this goroutine until the
// stream ends.
func (fs *FaceStream) Serve(w http.ResponseWriter, r *http.Request) {
	fs.h.serveStream(w, r, fs.s, sse.Options{Heartbeat: fs.h.cfg.Heartbeat, WriteTimeout: fs.h.cfg.WriteTimeout})
}

// A faceView is one face's view of a frame's event, made once.
type faceView struct {
	face *Face
	view any
	wire sse.Frame
	ok   bool
	next *faceView
}

// viewFor returns face's view of f, making it on first use. Views are
// kept in a list that only grows by its head, so readers need no lock; two
// that race both make the view, and one is kept.
func (f *frame) viewFor(face *Face) *faceView {
	for {
		head := f.views.Load()
		for v := head; v != nil; v = v.next {
			if v.face == face {
				return v
			}
		}
		v := &faceView{face: face, next: head}
		v.view, v.wire, v.ok = face.View(f.ev)
		if f.views.CompareAndSwap(head, v) {
			return v
		}
	}
}

// faceFrames are the parts of a frame only faces use.
type faceFrames struct {
	views atomic.Pointer[faceView]
	local bool // injected for one subscriber: its wire is the face's
}
