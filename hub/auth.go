package hub

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/herd-sse/herd"
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

// access is the hub's access policy: who may publish, subscribe and list
// topics, from the credentials a request carries. It is read-only after
// New.
type access struct {
	auth          Authenticator // nil without token auth
	publishKey    string
	subscribeAuth bool
	tokenCookie   string
	tokenQuery    bool
	allowedHosts  []string
	unlisted      []string // selectors of topics /topics names to trusted callers only
}

func newAccess(c *Config) *access {
	return &access{auth: c.Auth, publishKey: c.PublishKey, subscribeAuth: c.SubscribeAuth,
		tokenCookie: c.TokenCookie, tokenQuery: c.TokenQuery, allowedHosts: c.AllowedHosts, unlisted: c.UnlistedTopics}
}

// token returns the token a request carries, from the Authorization
// header, the token cookie or (if allowed) the authorization query
// parameter, in that order; "" if none.
func (a *access) token(r *http.Request) (string, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || tok == "" {
			return "", errorf(EUnauthorized, "Authorization header: want Bearer <token>")
		}
		return tok, nil
	}
	if c, err := r.Cookie(a.tokenCookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	if q := r.URL.Query(); q.Has("authorization") {
		if !a.tokenQuery {
			return "", errorf(EInvalid, "the authorization query parameter is off (URLs end up in logs): send the token in an Authorization header or the %s cookie", a.tokenCookie)
		}
		return q.Get("authorization"), nil
	}
	return "", nil
}

// grant authenticates a request's token, and returns it with its grant;
// a nil grant without a token.
func (a *access) grant(r *http.Request) (string, *Grant, error) {
	tok, err := a.token(r)
	if err != nil || tok == "" {
		return "", nil, err
	}
	g, err := a.auth.Authenticate(tok)
	if err != nil {
		return "", nil, errorf(EUnauthorized, "token refused: %v", err)
	}
	return tok, &g, nil
}

// A publisher is who a publish comes from, as far as the hub checked it.
type publisher struct {
	// grant bounds the topics, nil for any topic (the publish key, or
	// this machine without keys).
	grant *Grant
	// scope names the credential: idempotency keys are kept per scope,
	// so that one publisher can neither take nor learn another's. A token
	// is known by its publish grants, so that a fresh token for the same
	// grants keeps its keys.
	scope string
	// sender is who the publish rate is charged to: the credential
	// itself, or without one the client's address.
	sender string
}

// publisherOf applies the publish policy to a request: with token
// auth, a token or the publish key is required; with a publish key only,
// the key; with neither, only this machine may publish. Only a
// credential the hub has checked names the publisher.
func (a *access) publisherOf(r *http.Request) (*publisher, error) {
	hasKey := func() bool { return a.hasPublishKey(r) }
	byKey := &publisher{scope: "key", sender: "key"}
	switch {
	case a.auth != nil:
		if hasKey() {
			return byKey, nil
		}
		tok, g, err := a.grant(r)
		if err != nil {
			return nil, err
		}
		if g == nil {
			return nil, errorf(EUnauthorized, "publishing needs a token: Authorization: Bearer <token> (herd token mints one)")
		}
		grants := slices.Clone(g.Publish)
		slices.Sort(grants)
		return &publisher{grant: g, scope: "token\x00" + strings.Join(grants, "\x00"), sender: "token\x00" + hash(tok)}, nil
	case a.publishKey != "":
		if r.Header.Get("Authorization") == "" {
			return nil, errorf(EUnauthorized, "publishing needs Authorization: Bearer <publish key>")
		}
		if !hasKey() {
			return nil, errorf(EUnauthorized, "wrong publish key")
		}
		return byKey, nil
	}
	if !a.isLocal(r) {
		return nil, errorf(EForbidden, "publishing is allowed from this machine only; start the hub with --publish-key or --jwt-key to publish from elsewhere")
	}
	return &publisher{scope: "local", sender: addrKey(clientAddr(r))}, nil
}

// sender returns who a publish is charged to: its publisher, when the
// request carries a credential the hub accepts (returned too, so that it
// is checked once), or else the client's address, so that requests with
// made-up credentials share their address's bucket.
func (a *access) sender(r *http.Request) (string, *publisher) {
	if p, err := a.publisherOf(r); err == nil {
		return p.sender, p
	}
	return addrKey(clientAddr(r)), nil
}

// hash returns a short digest of a secret, to key maps by without holding
// the secret itself.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return string(sum[:16])
}

// allowsPublish reports whether g allows publishing to every topic; a nil
// grant allows any.
func (g *Grant) allowsPublish(topics []string) error {
	if g == nil {
		return nil
	}
	for _, t := range topics {
		if !anyMatch(g.Publish, t) {
			return errorf(EForbidden, "the token does not grant publishing to topic %q", t)
		}
	}
	return nil
}

// subscribeGrant returns the grant a subscription to selectors
// carries: nil without token auth or without a token (unless one is
// required).
func (a *access) subscribeGrant(r *http.Request, selectors []string) (*Grant, error) {
	if a.auth == nil {
		return nil, nil
	}
	_, g, err := a.grant(r)
	if err != nil {
		return nil, err
	}
	if !a.subscribeAuth {
		return g, nil
	}
	if g == nil {
		return nil, errorf(EUnauthorized, "subscribing needs a token: Authorization: Bearer <token>, or the %s cookie", a.tokenCookie)
	}
	for _, sel := range selectors {
		if !anyCovers(g.Subscribe, sel) {
			return nil, errorf(EForbidden, "the token does not grant subscribing to %q", sel)
		}
	}
	return g, nil
}

// topicFilter decides which topics a request may see listed: all of
// them with the publish key; without token auth (no herd event can be
// private then) all but the unlisted ones, which only this machine sees;
// else those its token grants, and without a token none.
func (a *access) topicFilter(r *http.Request) (visible func(topic string) bool, err error) {
	all := func(string) bool { return true }
	switch {
	case a.hasPublishKey(r):
		return all, nil
	case a.auth == nil && (len(a.unlisted) == 0 || a.isLocal(r)):
		return all, nil
	case a.auth == nil:
		return func(t string) bool { return !anyMatch(a.unlisted, t) }, nil
	}
	_, g, err := a.grant(r)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, errorf(EUnauthorized, "listing topics needs a token (it lists the topics the token grants) or the publish key")
	}
	return func(t string) bool { return anyMatch(g.Subscribe, t) || anyMatch(g.Publish, t) }, nil
}

// hasPublishKey reports whether r carries the publish key.
func (a *access) hasPublishKey(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && a.publishKey != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.publishKey)) == 1
}

func anyMatch(selectors []string, topic string) bool {
	for _, s := range selectors {
		if herd.Match(s, topic) {
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
