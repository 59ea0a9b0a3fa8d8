// Package mercure serves the Mercure protocol (mercure.rocks) on top of a
// herd hub, so that Mercure's publishers and subscribers work against herd
// unchanged: subscriptions with match, match_urlpattern and (Mercure 0.x)
// topic matchers, publishes with publisher-chosen ids, private updates for
// the subscribers whose JWT grants them, and resume with Last-Event-ID, on
// every store and across nodes.
//
// Mercure updates are herd events on topics under "mercure/" (see
// herdTopic), so herd's own subscribers can follow them too.
package mercure

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
)

// Path is where Mercure clients find the hub.
const Path = "/.well-known/mercure"

// DefaultCookie is the cookie Mercure 1.0's browsers carry their token in;
// LegacyCookie is Mercure 0.x's, also read in 0.x compatibility.
const (
	DefaultCookie = "__Secure-mercure_access_token"
	LegacyCookie  = "mercureAuthorization"
)

// DefaultCompatibility is the protocol version compatibility a Handler
// has when none is set: Mercure 0.x clients (draft 8 and before) keep
// working beside 1.0 ones.
const DefaultCompatibility = 8

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
	Store herd.Store // the hub's store: it finds publisher-chosen ids
	// Anonymous lets subscribers without a token in; they receive public
	// updates only.
	Anonymous bool
	// Cookie names the cookie holding a token; empty means DefaultCookie.
	Cookie string
	// Compatibility is Mercure's protocol_version_compatibility: 7 or 8
	// also serve Mercure 0.x clients (the mercure claim, the topic
	// parameter, lastEventID, the mercureAuthorization cookie, a token in
	// the authorization parameter); -1 serves the current specification
	// only; 0 means DefaultCompatibility.
	Compatibility int
	// PublishOrigins are the origins (scheme://host[:port]) besides the
	// hub's own whose pages may publish with the cookie: a publish that
	// authenticates with the cookie from any other origin is refused, as
	// a forged cross-site request.
	PublishOrigins []string
	// MaxDataSize bounds an update's data; zero means 1 MiB.
	MaxDataSize int
	Logger      *slog.Logger // nil: slog.Default()
	// Subscriptions publishes each subscription's start and end to this
	// node's subscribers, and serves the subscriptions API.
	Subscriptions bool

	keys     atomic.Pointer[Keys]
	faceOnce sync.Once
	hubFace  *hub.Face
	reg      registry
	now      func() time.Time // nil: time.Now
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

// legacy reports whether Mercure 0.x clients are served too.
func (h *Handler) legacy() bool { return h.Compatibility >= 0 }

// Why a request's token is refused, as RFC 6750 names it.
var (
	errInvalidRequest = errors.New("invalid_request") // 400: how the token is presented
	errInvalidToken   = errors.New("invalid_token")   // 401: the token itself
)

// token returns the token a request carries, as Mercure looks for it: the
// Authorization header (its scheme in any case), then, in 0.x
// compatibility, the authorization query parameter, then the cookie.
// fromCookie says it came from the cookie, which a browser sends by
// itself, even on a request another site's page makes.
func (h *Handler) token(r *http.Request) (token string, fromCookie bool, err error) {
	if a, ok := r.Header["Authorization"]; ok {
		if len(a) != 1 {
			return "", false, fmt.Errorf("%w: want one Authorization header", errInvalidRequest)
		}
		scheme, t, _ := strings.Cut(strings.TrimSpace(a[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(t) == "" {
			return "", false, fmt.Errorf("%w: want Authorization: Bearer and a token", errInvalidRequest)
		}
		return strings.TrimSpace(t), false, nil
	}
	if h.legacy() {
		if t := r.URL.Query().Get("authorization"); t != "" {
			return t, false, nil
		}
	}
	name := h.Cookie
	if name == "" {
		name = DefaultCookie
	}
	if c, err := r.Cookie(name); err == nil && c.Value != "" {
		return c.Value, true, nil
	}
	if h.legacy() && name != LegacyCookie {
		if c, err := r.Cookie(LegacyCookie); err == nil && c.Value != "" {
			return c.Value, true, nil
		}
	}
	return "", false, nil
}

// claims checks a request's token with keys and returns its Mercure
// grants: nil with no token, grants with nothing in them when the token
// has none this Handler honours. A publish whose token comes from the
// cookie must come from the hub's origin or one of PublishOrigins.
func (h *Handler) claims(r *http.Request, keys func(*Keys) *jwt.KeySet) (*grants, error) {
	t, fromCookie, err := h.token(r)
	if err != nil || t == "" {
		return nil, err
	}
	if fromCookie && r.Method == http.MethodPost {
		if err := h.checkOrigin(r); err != nil {
			return nil, err
		}
	}
	k := h.keys.Load()
	if k == nil {
		return nil, fmt.Errorf("%w: no keys configured", errInvalidToken)
	}
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	c, err := jwt.VerifyExact(t, keys(k), now())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidToken, err)
	}
	g, err := h.grants(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidToken, err)
	}
	return g, nil
}

// checkOrigin refuses a cookie-authenticated publish from a page of
// another origin than the hub's or PublishOrigins, or that names none.
func (h *Handler) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Scheme == "" || ref.Host == "" {
			return fmt.Errorf("%w: a publish with the cookie needs an Origin or Referer header", errInvalidRequest)
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	if slices.ContainsFunc(h.PublishOrigins, func(o string) bool { return strings.EqualFold(o, origin) }) {
		return nil
	}
	return fmt.Errorf("%w: origin %s may not publish with the cookie (list it in --cors-origins)", errInvalidRequest, origin)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// fail answers as Mercure's hub does: the status and its text, in plain
// text; the reason is logged, not shown, except for a 400, which says
// what is wrong with the request.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	if l := h.logger(); l.Enabled(r.Context(), slog.LevelDebug) { // a storm of refusals builds no attributes
		l.Debug("mercure: refused", "method", r.Method, "status", status, "reason", reason)
	}
	text := http.StatusText(status)
	if status == http.StatusBadRequest {
		text = reason
	}
	http.Error(w, text, status)
}

// authFail answers a refused token or a missing grant, with the Bearer
// challenge RFC 6750 asks for: err nil means no token (401), a
// errInvalidRequest a token badly presented (400), errInvalidToken a
// token refused (401); forbidden means a valid token without the grant
// (403).
func (h *Handler) authFail(w http.ResponseWriter, r *http.Request, err error, forbidden bool, reason string) {
	challenge, status := "Bearer", http.StatusUnauthorized
	switch {
	case forbidden:
		challenge, status = `Bearer error="insufficient_scope"`, http.StatusForbidden
	case errors.Is(err, errInvalidRequest):
		challenge, status = `Bearer error="invalid_request"`, http.StatusBadRequest
		reason = err.Error()
	case err != nil:
		challenge = `Bearer error="invalid_token"`
		reason = err.Error()
	}
	w.Header().Set("WWW-Authenticate", challenge)
	h.fail(w, r, status, reason)
}
