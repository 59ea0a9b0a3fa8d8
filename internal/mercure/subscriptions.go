package mercure

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
)

// Mercure's subscriptions: with Handler.Subscriptions on, every
// subscription's start and end is published as a private update to the
// topic subscriptionsPath/{topic}/{subscriber} (through the hub, so
// subscribers on every node see them), and the subscriptions API lists
// the subscriptions open on this node.

const subscriptionsPath = Path + "/subscriptions"

const jsonLDContext = "https://mercure.rocks/"

// A subscription is one topic selector of one subscriber, as Mercure
// describes it.
type subscription struct {
	Context    string          `json:"@context,omitempty"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Subscriber string          `json:"subscriber"`
	Topic      string          `json:"topic"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// subscriptionID is a subscription's IRI: its topic selector and
// subscriber, each URL-encoded.
func subscriptionID(topic, subscriber string) string {
	return subscriptionsPath + "/" + url.QueryEscape(topic) + "/" + url.QueryEscape(subscriber)
}

// registry holds this node's open subscriptions, by subscriber.
type registry struct {
	mu   sync.Mutex
	subs map[string][]subscription
}

func newSubscriberID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// open registers a subscriber's selectors and publishes their start; the
// returned function ends them. With Subscriptions off it does nothing.
func (h *Handler) open(ctx context.Context, selectors []string, payload json.RawMessage) (end func()) {
	if !h.Subscriptions {
		return func() {}
	}
	id := newSubscriberID()
	subs := make([]subscription, len(selectors))
	for i, sel := range selectors {
		subs[i] = subscription{ID: subscriptionID(sel, id), Type: "Subscription", Subscriber: id, Topic: sel, Active: true, Payload: payload}
	}
	h.reg.mu.Lock()
	if h.reg.subs == nil {
		h.reg.subs = map[string][]subscription{}
	}
	h.reg.subs[id] = subs
	h.reg.mu.Unlock()
	h.announce(ctx, subs)
	return func() {
		h.reg.mu.Lock()
		delete(h.reg.subs, id)
		h.reg.mu.Unlock()
		for i := range subs {
			subs[i].Active = false
		}
		// The request is over: announce the end on a context of its own.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		h.announce(ctx, subs)
	}
}

// announce publishes subscription updates, privately: only subscribers
// granted the subscriptions' topics receive them.
func (h *Handler) announce(ctx context.Context, subs []subscription) {
	for _, s := range subs {
		s.Context = jsonLDContext
		data, _ := json.Marshal(s)
		topic, err := herdTopic(s.ID)
		if err != nil {
			h.logger().Warn("mercure: subscription not announced", "id", s.ID, "err", err)
			continue
		}
		if _, _, err := h.Hub.Publish(ctx, hub.Message{Topics: []string{topic}, Data: string(data), Private: true}); err != nil {
			h.logger().Warn("mercure: subscription not announced", "id", s.ID, "err", err)
		}
	}
}

// serveSubscriptions is the subscriptions API: GET
// /subscriptions[/{topic}[/{subscriber}]], the matching subscriptions open
// on this node, to a subscriber whose token grants the request's IRI.
func (h *Handler) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	if !h.Subscriptions {
		h.fail(w, r, http.StatusNotFound, "the subscriptions API is off")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		h.fail(w, r, http.StatusMethodNotAllowed, "GET only")
		return
	}
	claims, err := h.claims(r, func(k *Keys) *jwt.KeySet { return k.Subscriber })
	if err != nil || claims == nil || claims.Mercure == nil {
		h.fail(w, r, http.StatusUnauthorized, "a subscriber token is required")
		return
	}
	granted := grantSelectors(claims.Mercure.Subscribe)
	self := r.URL.EscapedPath()
	if !anyMatches(granted, []string{self}) {
		h.fail(w, r, http.StatusForbidden, "the token does not grant "+self)
		return
	}
	var topic, subscriber string
	if rest := strings.TrimPrefix(strings.TrimPrefix(self, subscriptionsPath), "/"); rest != "" {
		t, s, _ := strings.Cut(rest, "/")
		if topic, err = url.QueryUnescape(t); err == nil && s != "" {
			subscriber, err = url.QueryUnescape(s)
		}
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, "Invalid subscription IRI")
			return
		}
	}
	list := []subscription{}
	h.reg.mu.Lock()
	for _, subs := range h.reg.subs {
		for _, s := range subs {
			if (topic == "" || s.Topic == topic) && (subscriber == "" || s.Subscriber == subscriber) && anyMatches(granted, []string{s.ID}) {
				list = append(list, s)
			}
		}
	}
	h.reg.mu.Unlock()
	if subscriber != "" {
		if len(list) == 0 {
			h.fail(w, r, http.StatusNotFound, "no such subscription")
			return
		}
		list[0].Context = jsonLDContext
		writeJSONLD(w, list[0])
		return
	}
	lastID := hub.EarliestID
	if b, err := h.Store.Bounds(r.Context()); err == nil && b.Last != 0 {
		lastID = h.Store.ID(b.Last)
	}
	writeJSONLD(w, map[string]any{"@context": jsonLDContext, "id": self, "type": "Subscriptions",
		"lastEventID": lastID, "subscriptions": list})
}

func writeJSONLD(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/ld+json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
