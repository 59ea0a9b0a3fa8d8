package mercure

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/sse"
)

// subscriber is one Mercure subscription's filter.
type subscriber struct {
	selectors []*selector
	private   []*selector // what its token grants, for private updates
}

func (s *subscriber) wants(private bool, topics []string) bool {
	if len(topics) == 0 || !anyMatches(s.selectors, topics) {
		return false
	}
	return !private || anyMatches(s.private, topics)
}

// matcherKind returns the kind of selector a query parameter gives: match
// and match_exact exact, match_urlpattern URL patterns and, in 0.x
// compatibility, topic URI templates. ok is false for other parameters;
// err is set for a parameter in Mercure's reserved match namespace that
// names no matcher type herd supports, and for topic out of compatibility.
func (h *Handler) matcherKind(param string) (kind string, ok bool, err error) {
	switch param {
	case "match", "match_exact":
		return kindExact, true, nil
	case "match_urlpattern":
		return kindURLPattern, true, nil
	case "topic":
		if h.legacy() {
			return kindTemplate, true, nil
		}
		return "", false, errBadParam(param, `Mercure 0.x's topic parameter is off (--mercure-protocol-version-compatibility): use match or match_urlpattern`)
	}
	if len(param) >= 5 && strings.EqualFold(param[:5], "match") {
		return "", false, errBadParam(param, "no such matcher type (match, match_exact, match_urlpattern)")
	}
	return "", false, nil
}

type paramError string

func (e paramError) Error() string { return string(e) }

func errBadParam(param, why string) error {
	return paramError("Invalid " + strconv.Quote(param) + " parameter: " + why)
}

// parseQuery reads a subscription's matchers, within the bounds on their
// number and compile cost. raw keeps them as given, for subscription
// events.
func (h *Handler) parseQuery(q url.Values) (sub *subscriber, raw []*selector, err error) {
	sub = &subscriber{}
	b := newBudget()
	for _, param := range slices.Sorted(maps.Keys(q)) { // in order: subscription events list them so
		kind, ok, err := h.matcherKind(param)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		for _, v := range q[param] {
			if len(sub.selectors) == maxSelectors {
				return nil, nil, errBadParam(param, "more than "+strconv.Itoa(maxSelectors)+" matchers in one subscription")
			}
			sel, err := parseSelector(kind, v, b)
			if err != nil {
				return nil, nil, errBadParam(param, strconv.Quote(truncate(v, 64))+": "+err.Error())
			}
			sub.selectors = append(sub.selectors, sel)
		}
	}
	if len(sub.selectors) == 0 {
		return nil, nil, paramError(`Missing "match" parameter`)
	}
	return sub, sub.selectors, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lastEventID returns the id a subscriber resumes after and whether it
// asked to resume at all: the Last-Event-ID header, else the
// last_event_id parameter, else (0.x) lastEventID or Last-Event-ID.
func (h *Handler) lastEventID(r *http.Request) (string, bool) {
	if h.legacy() {
		return sse.LastEventID(r, "last_event_id", "lastEventID", "Last-Event-ID")
	}
	return sse.LastEventID(r, "last_event_id")
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g, err := h.claims(r, func(k *Keys) *jwt.KeySet { return k.Subscriber })
	switch {
	case err != nil:
		h.authFail(w, r, err, false, "")
		return
	case g == nil && !h.Anonymous:
		h.authFail(w, r, nil, false, "a subscriber token is required")
		return
	}
	sub, raw, err := h.parseQuery(q)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if g != nil {
		sub.private = g.subscribe
	}
	lastID, asked := h.lastEventID(r)
	from, answer := "", ""
	if lastID != "" {
		var found bool
		if from, found, err = h.resolve(r.Context(), lastID); err != nil {
			h.fail(w, r, http.StatusServiceUnavailable, err.Error())
			return
		}
		answer = h.resumeAnswer(r.Context(), lastID, from, found)
	} else if asked {
		answer = hub.EarliestID
	}
	sels, exact := sub.indexSelectors()
	opts := hub.FaceOptions{Selectors: sels, Exact: exact, Matchers: len(sub.selectors), After: from,
		Match: func(view any) bool { u := view.(*update); return sub.wants(u.private, u.topics) }}
	if g != nil {
		opts.Expires = g.expires
	}
	var end func() // set before the stream is served, which alone ends it
	opts.Ended = func() { end() }
	fs, err := h.Hub.SubscribeFace(r.Context(), h.face(), opts, r)
	if err != nil {
		code := hub.CodeOf(err)
		h.fail(w, r, code.HTTPStatus(), err.Error())
		return
	}
	end = h.open(fs, sub, raw, g)
	if asked {
		w.Header().Set("Mercure-Last-Event-ID", answer)
		if h.legacy() {
			w.Header().Set("Last-Event-ID", answer) // Mercure 0.x's name
		}
	}
	fs.Serve(w, r)
}

// An update is an event as Mercure's subscribers see it, made once per
// event by the Handler's face and read by each subscriber's filter.
type update struct {
	topics  []string
	private bool
}

// face is the Handler's face of the hub: which events are Mercure
// updates, and how they are written, once per event whatever the number
// of subscribers.
func (h *Handler) face() *hub.Face {
	h.faceOnce.Do(func() {
		h.hubFace = &hub.Face{View: func(e herd.Event) (any, sse.Frame, bool) {
			// The hub's own events (gaps) are not Mercure's; nor are events
			// of the reserved type, which only this node makes, never stored:
			// one from the store was forged through herd's own API.
			if e.NoData || e.Type == hub.GapEvent || e.Type == reservedType {
				return nil, sse.Frame{}, false
			}
			topics, id := fromHerd(e.Topics)
			if len(topics) == 0 {
				return nil, sse.Frame{}, false
			}
			wire, err := sse.NewFrame(sse.Event{ID: h.mercureID(e, id), Type: e.Type, Data: e.Data, Retry: e.Retry})
			if err != nil {
				return nil, sse.Frame{}, false
			}
			return &update{topics: topics, private: e.Private}, wire, true
		}}
	})
	return h.hubFace
}

// indexSelectors are the herd selectors under which the hub's registry
// indexes s: its topics' herd topics when every selector of s is an exact
// topic (each maps to one herd topic), else every Mercure topic. exact
// reports that they stand one to one for s's selectors (hub.FaceOptions):
// each is exact, and its herd topic maps back to it. (parseQuery refuses
// invalid UTF-8, which escape would fold into one herd topic; the check
// keeps the fast path honest whatever parseQuery lets through.)
func (s *subscriber) indexSelectors() (_ []string, exact bool) {
	var out []string
	exact = true
	for _, sel := range s.selectors {
		if sel.all || sel.re != nil {
			return []string{topicPrefix + "**"}, false
		}
		t, err := herdTopic(sel.value)
		if err != nil {
			exact = false
			continue // no update can have it
		}
		if back, _ := fromHerd([]string{t}); len(back) != 1 || back[0] != sel.value {
			exact = false
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return []string{topicPrefix + "**"}, false // matches nothing, but a subscription still
	}
	return out, exact
}

// resumeAnswer is Mercure-Last-Event-ID for a resume after lastID, found
// or not as herdID: the id preceding the first event sent, which is
// lastID itself, or "earliest" when it is unknown or retention has
// removed events after it.
func (h *Handler) resumeAnswer(ctx context.Context, lastID, herdID string, found bool) string {
	if !found || lastID == hub.EarliestID {
		return hub.EarliestID
	}
	if p, err := h.Store.ParseID(herdID); err == nil {
		if b, err := h.Store.Bounds(ctx); err == nil && p < b.Trimmed {
			return hub.EarliestID
		}
	}
	return lastID
}
