// Package mercure serves the Mercure protocol (mercure.rocks) on top of a
// herd hub, so that Mercure's publishers and subscribers work against herd
// unchanged: subscriptions with topic, match and match_urlpattern
// selectors, publishes with publisher-chosen ids, private updates for the
// subscribers whose JWT grants them, and resume with Last-Event-ID, on
// every store and across nodes.
//
// Mercure updates are herd events on topics under "mercure/" (see
// herdTopic), so herd's own subscribers can follow them too.
package mercure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/sse"
)

// Path is where Mercure clients find the hub.
const Path = "/.well-known/mercure"

// DefaultCookie is the cookie Mercure's browsers carry their token in.
const DefaultCookie = "mercureAuthorization"

// Keys are the key sets tokens are checked with: publishers' and
// subscribers' (the same set when Mercure is configured with one jwt_key).
type Keys struct {
	Publisher, Subscriber *jwt.KeySet
}

// A Handler serves the Mercure protocol at Path. Its fields are set before
// it serves; SetKeys may replace the keys at any time (on SIGHUP). It is
// safe for concurrent use.
type Handler struct {
	Hub   *hub.Hub
	Store hub.Store // the hub's store: it finds publisher-chosen ids
	// Anonymous lets subscribers without a token in; they receive public
	// updates only.
	Anonymous bool
	// Cookie names the cookie holding a token; empty means DefaultCookie.
	Cookie string
	// MaxDataSize bounds an update's data; zero means 1 MiB.
	MaxDataSize int
	Heartbeat   time.Duration // zero: 15s
	Logger      *slog.Logger  // nil: slog.Default()
	// Subscriptions publishes each subscription's start and end as a
	// private update, and serves the subscriptions API.
	Subscriptions bool

	keys atomic.Pointer[Keys]
	reg  registry
	now  func() time.Time // nil: time.Now
}

// SetKeys replaces the keys; requests from then on are checked with them.
func (h *Handler) SetKeys(k Keys) { h.keys.Store(&k) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == subscriptionsPath || strings.HasPrefix(r.URL.Path, subscriptionsPath+"/") {
		h.serveSubscriptions(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.subscribe(w, r)
	case http.MethodPost:
		h.publish(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// token returns the token a request carries, as Mercure looks for it: the
// Authorization header, then the cookie, then the authorization query
// parameter.
func (h *Handler) token(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	name := h.Cookie
	if name == "" {
		name = DefaultCookie
	}
	if c, err := r.Cookie(name); err == nil && c.Value != "" {
		return c.Value
	}
	return r.URL.Query().Get("authorization")
}

// claims checks a request's token with keys; nil with no token.
func (h *Handler) claims(r *http.Request, keys func(*Keys) *jwt.KeySet) (*jwt.Claims, error) {
	t := h.token(r)
	if t == "" {
		return nil, nil
	}
	k := h.keys.Load()
	if k == nil {
		return nil, errors.New("no keys configured")
	}
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	c, err := jwt.Verify(t, keys(k), now())
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// fail answers as Mercure's hub does: the status and its text, in plain
// text; the reason is logged, not shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.logger().Debug("mercure: refused", "method", r.Method, "status", status, "reason", reason)
	text := http.StatusText(status)
	if status == http.StatusBadRequest {
		text = reason // what is wrong with the request: safe to show
	}
	http.Error(w, text, status)
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	claims, err := h.claims(r, func(k *Keys) *jwt.KeySet { return k.Publisher })
	if err != nil || claims == nil {
		h.fail(w, r, http.StatusUnauthorized, "publisher token: missing or refused")
		return
	}
	maxData := h.MaxDataSize
	if maxData <= 0 {
		maxData = 1 << 20
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(maxData)+64<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "Invalid request body")
		return
	}
	form := r.PostForm
	topics := form["topic"]
	if len(topics) == 0 {
		h.fail(w, r, http.StatusBadRequest, `Missing "topic" parameter`)
		return
	}
	if claims.Mercure == nil {
		h.fail(w, r, http.StatusForbidden, "the token grants no Mercure publish")
		return
	}
	allowed := grantSelectors(claims.Mercure.Publish)
	for _, t := range topics {
		if !anyMatches(allowed, []string{t}) {
			h.fail(w, r, http.StatusForbidden, "the token does not grant topic "+strconv.Quote(t))
			return
		}
	}
	m := hub.Message{Data: form.Get("data"), Type: form.Get("type"), Private: form.Get("private") == "on"}
	if len(m.Data) > maxData {
		h.fail(w, r, http.StatusRequestEntityTooLarge, "data too large")
		return
	}
	if s := form.Get("retry"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > hub.MaxRetry {
			h.fail(w, r, http.StatusBadRequest, `Invalid "retry" parameter`)
			return
		}
		m.Retry = time.Duration(ms) * time.Millisecond
		m.ZeroRetry = ms == 0
	}
	for _, t := range topics {
		ht, err := herdTopic(t)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, `Invalid "topic" parameter: `+err.Error())
			return
		}
		m.Topics = append(m.Topics, ht)
	}
	id := form.Get("id")
	if id != "" {
		// Mercure: an id must not start with # (fragments name the hub's
		// own); herd: no line breaks (they would end the SSE field), and
		// not the word that asks for the whole history.
		if !validID(id) || strings.HasPrefix(id, "#") || id == hub.EarliestID {
			h.fail(w, r, http.StatusBadRequest, `Invalid "id" parameter`)
			return
		}
		it, err := idTopic(id)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, `Invalid "id" parameter: `+err.Error())
			return
		}
		m.Topics = append(m.Topics, it)
		// An id is unique: publishing it again answers the first update.
		sum := sha256.Sum256([]byte(id))
		m.IdempotencyKey = "mercure-id:" + hex.EncodeToString(sum[:])
	}
	e, _, err := h.Hub.Publish(r.Context(), m)
	if err != nil {
		code := hub.CodeOf(err)
		h.fail(w, r, code.HTTPStatus(), err.Error())
		return
	}
	if id == "" {
		id = e.ID
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, id)
}

// validID reports whether a publisher's id can be an SSE id as it is:
// valid UTF-8 (clients decode the stream as UTF-8, so other bytes would
// come back as another id) and no control characters (CR and LF would end
// the field).
func validID(id string) bool {
	if !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// subscriber is one Mercure subscription's filter.
type subscriber struct {
	selectors []selector
	private   []selector // what its token grants, for private updates
}

func (s *subscriber) wants(e hub.Event, topics []string) bool {
	if len(topics) == 0 || !anyMatches(s.selectors, topics) {
		return false
	}
	return !e.Private || anyMatches(s.private, topics)
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sub := &subscriber{}
	var raw []string // the selectors as given, for subscription updates
	for _, kind := range []string{"topic", "match", "match_urlpattern"} {
		for _, v := range q[kind] {
			raw = append(raw, v)
			sel, err := parseSelector(kind, v)
			if err != nil {
				h.fail(w, r, http.StatusBadRequest, `Invalid "`+kind+`" parameter: `+err.Error())
				return
			}
			sub.selectors = append(sub.selectors, sel)
		}
	}
	if len(sub.selectors) == 0 {
		h.fail(w, r, http.StatusBadRequest, `Missing "topic" parameter`)
		return
	}
	claims, err := h.claims(r, func(k *Keys) *jwt.KeySet { return k.Subscriber })
	switch {
	case err != nil:
		h.fail(w, r, http.StatusUnauthorized, "subscriber token refused: "+err.Error())
		return
	case claims == nil && !h.Anonymous:
		h.fail(w, r, http.StatusUnauthorized, "a subscriber token is required")
		return
	case claims != nil && claims.Mercure != nil:
		sub.private = grantSelectors(claims.Mercure.Subscribe)
	}

	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("lastEventID")
	}
	if lastID == "" {
		lastID = q.Get("Last-Event-ID")
	}
	from, err := h.resolve(r.Context(), lastID)
	if err != nil {
		h.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s, err := h.Hub.Subscribe(ctx, []string{topicPrefix + "**"}, from)
	if err != nil {
		code := hub.CodeOf(err)
		h.fail(w, r, code.HTTPStatus(), err.Error())
		return
	}
	defer s.Close()
	if lastID != "" {
		w.Header().Set("Last-Event-ID", lastID)
	}
	stream, err := sse.NewStream(w, r, &sse.Options{Heartbeat: h.Heartbeat})
	if err != nil {
		return
	}
	defer stream.Close()
	var payload json.RawMessage
	if claims != nil && claims.Mercure != nil {
		payload = claims.Mercure.Payload
	}
	defer h.open(ctx, raw, payload)()
	if expires := claimsExpiry(claims); !expires.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, expires)
		defer stop()
	}
	for {
		e, err := s.Next(ctx)
		if err != nil {
			return // the client left, the hub closes, or the token expired
		}
		if e.NoData || e.Type == hub.GapEvent {
			continue
		}
		topics, id := fromHerd(e.Topics)
		if !sub.wants(e, topics) {
			continue
		}
		if id == "" {
			id = e.ID
		}
		typ := e.Type
		if err := stream.Send(sse.Event{ID: id, Type: typ, Data: e.Data, Retry: e.Retry, ZeroRetry: e.ZeroRetry}); err != nil {
			return
		}
	}
}

func claimsExpiry(c *jwt.Claims) time.Time {
	if c == nil || c.Expires.IsZero() {
		return time.Time{}
	}
	return c.Expires.Add(jwt.Leeway)
}

// resolve turns a Last-Event-ID into the herd id to resume after: a
// publisher-chosen id is found by its topic's last event; herd's own ids
// and "earliest" pass as they are; an unknown id resumes nowhere (live
// updates only), as Mercure does when its history does not hold the id.
//
// A recent id is found in the hub's replay cache: the store's Stats may
// lag (NATS caches them for seconds), and an id missed there would resume
// live only and lose what followed it. Stats, which read every topic, are
// asked only for ids older than the cache.
func (h *Handler) resolve(ctx context.Context, lastID string) (string, error) {
	if lastID == "" || lastID == hub.EarliestID {
		return lastID, nil
	}
	if _, err := h.Store.ParseID(lastID); err == nil {
		return lastID, nil
	}
	t, err := idTopic(lastID)
	if err != nil {
		return "", nil
	}
	if e, ok := h.Hub.Recent(t); ok {
		return e.ID, nil
	}
	stats, err := h.Store.Stats(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range stats {
		if s.Topic == t && s.LastID != "" {
			return s.LastID, nil
		}
	}
	return "", nil
}
