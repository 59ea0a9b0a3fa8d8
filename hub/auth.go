package hub

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// A Grant is what a valid token allows its bearer.
type Grant struct {
	// Publish lists the topic selectors the bearer may publish to.
	Publish []string
	// Subscribe lists the topic selectors whose private events the
	// bearer receives. With Config.SubscribeAuth, it also bounds what the
	// bearer may subscribe to.
	Subscribe []string
	// Expires is the instant the token stops being accepted; zero for
	// never. A stream authorised by it ends then.
	Expires time.Time
}

// An Authenticator checks the tokens that requests carry. Authenticate
// returns the grant of a valid token, or an error saying why it is
// refused (malformed, bad signature, expired): the error's text is shown
// to the client, so it must not hold secrets. It must be safe for
// concurrent use; the hub calls it once per publish and per subscription.
type Authenticator interface {
	Authenticate(token string) (Grant, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(token string) (Grant, error)

// Authenticate calls f(token).
func (f AuthenticatorFunc) Authenticate(token string) (Grant, error) { return f(token) }

// ExpiredEvent is the type of the event that ends a stream whose token
// expired. It has no id, so the page can resume where it was once it has a
// fresh token; a reconnection with the expired one is answered 401, which
// stops EventSource instead of letting it retry.
const ExpiredEvent = "token-expired"

// DefaultTokenCookie is the cookie a browser's token is read from unless
// Config.TokenCookie names another.
const DefaultTokenCookie = "herdAuthorization"

// token returns the token a request carries, from the Authorization
// header, the token cookie or (if allowed) the authorization query
// parameter, in that order; "" if none.
func (h *Hub) token(r *http.Request) (string, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || tok == "" {
			return "", Errorf(EUnauthorized, "Authorization header: want Bearer <token>")
		}
		return tok, nil
	}
	if c, err := r.Cookie(h.cfg.TokenCookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	if q := r.URL.Query(); q.Has("authorization") {
		if !h.cfg.TokenQuery {
			return "", Errorf(EInvalid, "the authorization query parameter is off (URLs end up in logs): send the token in an Authorization header or the %s cookie", h.cfg.TokenCookie)
		}
		return q.Get("authorization"), nil
	}
	return "", nil
}

// grant authenticates a request's token. It returns nil without a token.
func (h *Hub) grant(r *http.Request) (*Grant, error) {
	tok, err := h.token(r)
	if err != nil || tok == "" {
		return nil, err
	}
	g, err := h.cfg.Auth.Authenticate(tok)
	if err != nil {
		return nil, Errorf(EUnauthorized, "token refused: %v", err)
	}
	return &g, nil
}

// authorizePublish applies the publish policy to a request: with token
// auth, a token or the publish key is required; with a publish key only,
// the key; with neither, only loopback clients may publish. It returns the
// token's grant, to check the topics against, or nil if any topic is
// allowed.
func (h *Hub) authorizePublish(r *http.Request) (*Grant, error) {
	hasKey := func() bool {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && h.cfg.PublishKey != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.PublishKey)) == 1
	}
	switch {
	case h.cfg.Auth != nil:
		if hasKey() {
			return nil, nil
		}
		g, err := h.grant(r)
		if err != nil {
			return nil, err
		}
		if g == nil {
			return nil, Errorf(EUnauthorized, "publishing needs a token: Authorization: Bearer <token> (herd token mints one)")
		}
		return g, nil
	case h.cfg.PublishKey != "":
		if r.Header.Get("Authorization") == "" {
			return nil, Errorf(EUnauthorized, "publishing needs Authorization: Bearer <publish key>")
		}
		if !hasKey() {
			return nil, Errorf(EUnauthorized, "wrong publish key")
		}
		return nil, nil
	}
	if !IsLocalRequest(r) {
		return nil, Errorf(EForbidden, "publishing is allowed from this machine only; start the hub with --publish-key or --jwt-key to publish from elsewhere")
	}
	return nil, nil
}

// IsLocalRequest reports whether r comes from this machine: from a
// loopback address, and not forwarded by a proxy (no X-Forwarded-For or
// Forwarded header), since a proxy on this machine makes every client
// look local.
func IsLocalRequest(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
		return false
	}
	return clientAddr(r).IsLoopback()
}

// allowsPublish reports whether g allows publishing to every topic; a nil
// grant allows any.
func (g *Grant) allowsPublish(topics []string) error {
	if g == nil {
		return nil
	}
	for _, t := range topics {
		if !anyMatch(g.Publish, t) {
			return Errorf(EForbidden, "the token does not grant publishing to topic %q", t)
		}
	}
	return nil
}

// authorizeSubscribe returns the grant a subscription to selectors
// carries: nil without token auth or without a token (unless one is
// required).
func (h *Hub) authorizeSubscribe(r *http.Request, selectors []string) (*Grant, error) {
	if h.cfg.Auth == nil {
		return nil, nil
	}
	g, err := h.grant(r)
	if err != nil {
		return nil, err
	}
	if !h.cfg.SubscribeAuth {
		return g, nil
	}
	if g == nil {
		return nil, Errorf(EUnauthorized, "subscribing needs a token: Authorization: Bearer <token>, or the %s cookie", h.cfg.TokenCookie)
	}
	for _, sel := range selectors {
		if !anyCovers(g.Subscribe, sel) {
			return nil, Errorf(EForbidden, "the token does not grant subscribing to %q", sel)
		}
	}
	return g, nil
}

func anyMatch(selectors []string, topic string) bool {
	for _, s := range selectors {
		if Match(s, topic) {
			return true
		}
	}
	return false
}

func anyCovers(grants []string, selector string) bool {
	for _, g := range grants {
		if Covers(g, selector) {
			return true
		}
	}
	return false
}

// Covers reports whether every topic the selector sel matches is matched
// by the selector grant too.
func Covers(grant, sel string) bool {
	for {
		g, grest, gmore := strings.Cut(grant, "/")
		s, srest, smore := strings.Cut(sel, "/")
		switch {
		case g == "**":
			return true // sel has at least this segment left
		case s == "**":
			return false // only ** covers one or more segments
		case g != "*" && g != s:
			return false // a literal covers only itself ("*" included)
		case gmore != smore:
			return false
		case !gmore:
			return true
		}
		grant, sel = grest, srest
	}
}
