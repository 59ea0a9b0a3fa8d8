package mercure

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/sse"
)

// Mercure's active subscriptions. With Handler.Subscriptions on, every
// subscription's start and end is a private update of type "mercure" to
// its subscription topic, and the subscriptions API lists the open ones.
//
// Both are this node's: subscription events go straight to this node's
// subscribers and are never stored. Stored, they would count against the
// store's retention like any update, and anonymous subscribers, by merely
// connecting, could push real history out of it; they could also not be
// resumed truthfully (the subscriptions they describe are gone when the
// history is read). So they carry no id (a client's Last-Event-ID stays
// at the last real update, where it resumes), and each node reports the
// subscribers it holds, as the API does.

const subscriptionsPath = Path + "/subscriptions"

const jsonLDContext = "https://mercure.rocks/"

// A subscription is one matcher of one subscriber, as Mercure describes
// it: 1.0's (match and match_type) for match parameters, 0.x's (topic,
// JSON-LD) for topic ones.
type subscription struct {
	Context    string          `json:"@context,omitempty"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type,omitempty"`
	Match      string          `json:"match,omitempty"`
	Topic      string          `json:"topic,omitempty"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

func (s *subscription) legacy() bool { return s.Topic != "" }

// escapeSegment encodes one segment of a subscription IRI once, whole:
// only unreserved characters stay as they are.
func escapeSegment(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func newSubscription(sel *selector, subscriber string, payload json.RawMessage) subscription {
	if sel.kind == kindTemplate {
		return subscription{ID: subscriptionsPath + "/" + escapeSegment(sel.value) + "/" + escapeSegment(subscriber),
			Type: "Subscription", Topic: sel.value, Subscriber: subscriber, Active: true, Payload: payload}
	}
	return subscription{ID: subscriptionsPath + "/" + sel.kind + "/" + escapeSegment(sel.value) + "/" + escapeSegment(subscriber),
		Type: "subscription", MatchType: sel.kind, Match: sel.value, Subscriber: subscriber, Active: true, Payload: payload}
}

// registry holds this node's open subscriptions and the streams that may
// receive subscription events.
type registry struct {
	mu    sync.Mutex
	subs  map[string][]subscription // by subscriber
	feeds map[*feed]struct{}
}

// A feed takes subscription events to one subscriber's stream, queued by
// the hub beside its updates: a subscriber that lets them pile up is cut,
// like a slow one, and announcing never waits on a client.
type feed struct {
	sub    *subscriber
	stream *hub.FaceStream
}

func newSubscriberID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// open registers a subscriber's stream for subscription events, and its
// matchers as subscriptions, announcing their start; the returned
// function, called once when the stream ends, ends them. With
// Subscriptions off it does nothing.
func (h *Handler) open(fs *hub.FaceStream, sub *subscriber, sels []*selector, g *grants) (end func()) {
	if !h.Subscriptions {
		return func() {}
	}
	f := &feed{sub: sub, stream: fs}
	id := newSubscriberID()
	subs := make([]subscription, len(sels))
	for i, sel := range sels {
		subs[i] = newSubscription(sel, id, g.payloadFor(sel.value))
	}
	h.reg.mu.Lock()
	if h.reg.subs == nil {
		h.reg.subs, h.reg.feeds = map[string][]subscription{}, map[*feed]struct{}{}
	}
	h.reg.feeds[f] = struct{}{}
	h.reg.subs[id] = subs
	h.reg.mu.Unlock()
	h.announce(subs)
	return func() {
		h.reg.mu.Lock()
		delete(h.reg.subs, id)
		delete(h.reg.feeds, f)
		h.reg.mu.Unlock()
		for i := range subs {
			subs[i].Active = false
		}
		h.announce(subs)
	}
}

// announce sends subscription events to this node's subscribers that
// select their topics and whose tokens grant them (they are private).
// The feeds are chosen under reg.mu and fed once it is released: a feed
// whose queue is full ends as slow, and the hub logs that end (I/O, which
// no lock may be held across).
func (h *Handler) announce(subs []subscription) {
	type delivery struct {
		stream *hub.FaceStream
		wire   sse.Frame
	}
	var out []delivery
	h.reg.mu.Lock()
	for _, s := range subs {
		topics := []string{s.ID}
		var wire sse.Frame
		for f := range h.reg.feeds {
			if !f.sub.wants(true, topics) {
				continue
			}
			if wire.Len() == 0 {
				var e sse.Event
				if s.legacy() {
					s.Context = jsonLDContext
				} else {
					e.Type = reservedType
				}
				data, _ := json.Marshal(s)
				e.Data = string(data)
				wire, _ = sse.NewFrame(e)
			}
			out = append(out, delivery{f.stream, wire})
		}
	}
	h.reg.mu.Unlock()
	for _, d := range out {
		d.stream.Inject(d.wire)
	}
}

// serveSubscriptions is the subscriptions API, for a token granting the
// request's path: GET /subscriptions, /subscriptions/{match_type}/{match}
// and /subscriptions/{match_type}/{match}/{subscriber} (Mercure 1.0), and
// /subscriptions/{topic} and /subscriptions/{topic}/{subscriber} (0.x) list
// the matching subscriptions open on this node.
func (h *Handler) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	if !h.Subscriptions {
		h.fail(w, r, http.StatusNotFound, "the subscriptions API is off")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed, "GET only")
		return
	}
	self := r.URL.EscapedPath()
	var segs []string
	if rest := strings.TrimPrefix(strings.TrimPrefix(self, subscriptionsPath), "/"); rest != "" {
		segs = strings.Split(rest, "/")
	}
	for i, s := range segs {
		var err error
		if segs[i], err = url.PathUnescape(s); err != nil || segs[i] == "" {
			h.fail(w, r, http.StatusBadRequest, "Invalid subscription IRI: bad segment "+strconv.Quote(s))
			return
		}
	}
	var keep func(subscription) bool
	single := false
	switch known := len(segs) >= 2 && (segs[0] == kindExact || segs[0] == kindURLPattern); {
	case len(segs) == 0:
		keep = func(subscription) bool { return true }
	case len(segs) == 3 && known, len(segs) == 2 && known:
		keep = func(s subscription) bool {
			return s.MatchType == segs[0] && s.Match == segs[1] && (len(segs) == 2 || s.Subscriber == segs[2])
		}
		single = len(segs) == 3
	case len(segs) == 3:
		h.fail(w, r, http.StatusBadRequest, "Invalid subscription IRI: unsupported matcher type "+strconv.Quote(segs[0]))
		return
	case h.legacy() && len(segs) <= 2: // 0.x: /{topic}[/{subscriber}]
		keep = func(s subscription) bool { return s.Topic == segs[0] && (len(segs) == 1 || s.Subscriber == segs[1]) }
		single = len(segs) == 2
	default:
		h.fail(w, r, http.StatusNotFound, "no such subscription resource")
		return
	}
	g, err := h.claims(r, func(k *Keys) *jwt.KeySet { return k.Subscriber })
	switch {
	case err != nil || g == nil:
		h.authFail(w, r, err, false, "a subscriber token is required")
		return
	case !anyMatches(g.subscribe, []string{self}):
		h.authFail(w, r, nil, true, "the token does not grant "+self)
		return
	}
	list := []subscription{}
	h.reg.mu.Lock()
	for _, subs := range h.reg.subs {
		for _, s := range subs {
			if keep(s) {
				list = append(list, s)
			}
		}
	}
	h.reg.mu.Unlock()
	lastID := hub.EarliestID
	if b, err := h.Store.Bounds(r.Context()); err == nil && b.Last != 0 {
		lastID = generatedID(b.Last, h.Store.ID(b.Last))
	}
	w.Header().Set("Link", `<`+Path+`>; rel="mercure"; last-event-id="`+lastID+`"; type="mercure"; content-type="application/json"`)
	if single {
		if len(list) == 0 {
			h.fail(w, r, http.StatusNotFound, "no such subscription")
			return
		}
		s := list[0]
		if s.legacy() {
			s.Context = jsonLDContext
		}
		writeJSON(w, s.legacy(), s)
		return
	}
	writeJSON(w, false, map[string]any{"id": self, "type": "subscriptions", "lastEventID": lastID, "subscriptions": list})
}

func writeJSON(w http.ResponseWriter, ld bool, v any) {
	w.Header().Set("Content-Type", "application/json")
	if ld {
		w.Header().Set("Content-Type", "application/ld+json")
	}
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
