package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// A Route is one entry of a hub's route table: a pattern, its handler, and
// the guards that stand before the handler. Every route of every face of
// the hub (herd's API, Mercure's, the dashboard, the demo, metrics) is
// served through Hub.Mount, so that no surface can skip a guard: the host
// check and the cross-site request check apply to every route, and each
// of the other guards is a field that has no default, so that a route
// that forgets to declare one is refused by Mount.
type Route struct {
	// Pattern is a net/http ServeMux pattern with its method, like
	// "GET /metrics" (GET also serves HEAD). Other methods on the path are
	// answered 405 in the route's error format.
	Pattern string
	// Caller says who may call the route.
	Caller Caller
	// Origins says which browser pages of other origins may call it.
	Origins Origins
	// Query lists the query parameters the route takes. Every value is
	// unescaped strictly: a malformed escape, a semicolon or a parameter
	// not listed is refused with 400 naming it. AnyParam in the list lets
	// other parameters in (still strictly parsed). It must not be nil: an
	// empty list (NoQuery) takes none.
	Query []string
	// Repeat lists the parameters of Query that may be given more than
	// once (a subscription's topics); any other listed parameter given
	// twice is refused with 400, since which of two values counts would be
	// a guess (and a proxy may guess otherwise).
	Repeat []string
	// Body is the most bytes the request body may hold; larger bodies are
	// refused with 413. NoBody (negative) takes none at all.
	Body int64
	// TooLarge, if set, tells a client whose body is too large what the
	// bound is made of (the setting to raise).
	TooLarge string
	// Rate is the rate limit charged before the handler runs.
	Rate Rate
	// Errors is the format of the guards' refusals, which should be the
	// handler's own too.
	Errors ErrorFormat
	// Page marks a route that serves HTML: it gets a Content-Security-
	// Policy without inline script or framing (PageCSP), unless the
	// handler sets a stricter one.
	Page bool
	// Doc says in a few words what the route is, for SECURITY.md's table.
	Doc string

	Handler http.Handler
}

// Caller is who may call a route.
type Caller int

const (
	callerUnset Caller = iota
	// Anyone may call it (reading public data, or a page).
	Anyone
	// Local is this machine (see the publish policy) or a client sending
	// the publish key: a hub's figures tell a stranger too much.
	Local
	// Credential routes check credentials in their handler: a token or
	// the publish key as the hub's (or Mercure's) policy says.
	Credential
)

// Origins says which pages of other origins a route serves.
type Origins int

const (
	originsUnset Origins = iota
	// SameOrigin routes refuse requests that a page of another origin
	// makes (they carry its Origin header); following a link is not
	// refused.
	SameOrigin
	// CORS routes follow the hub's cross-origin policy (--cors-origins):
	// preflights are answered and listed origins get credentialed access.
	CORS
)

// Rate is the rate limit a route charges.
type Rate int

const (
	rateUnset Rate = iota
	// NoRate charges nothing (the handler may bound its cost itself).
	NoRate
	// PublishRate charges one publish to the sender (its checked
	// credential, or else its address) before the handler runs.
	PublishRate
)

// ErrorFormat is how a route's refusals are written.
type ErrorFormat int

const (
	errorsUnset ErrorFormat = iota
	// JSON answers {"error": message}, herd's API format.
	JSON
	// Plain answers the message as text/plain, as Mercure and pages do.
	Plain
)

// NoQuery is the Query of a route that takes no query parameter.
var NoQuery = []string{}

// AnyParam in a Route's Query lets parameters not listed in.
const AnyParam = "*"

// NoBody is the Body of a route that takes no request body.
const NoBody = -1

// PageCSP is the Content-Security-Policy of pages: scripts and styles
// from the hub's own files only, no inline script, no plugins, no
// framing. Pages show data as text; this is the second line of defence.
const PageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// subscribeQuery are the parameters of GET /events: herd's, and those
// that browser libraries add on their own (Datastar sends its signals as
// "datastar"; "_" is the usual cache buster), which the hub ignores. Any
// other is refused, so that a misspelt last_event_id cannot silently turn
// a resume into a live stream.
var subscribeQuery = []string{"topic", "last_event_id", "authorization", "datastar", "_"}

// Routes returns the hub's own routes: subscribe, publish, the topic
// listing, liveness and readiness. Hub.ServeHTTP serves these; a program
// serving more (herd serve) mounts them beside its own with Mount.
func (h *Hub) Routes() []Route {
	return []Route{
		{Pattern: "GET /events", Caller: Anyone, Origins: CORS, Query: subscribeQuery, Repeat: []string{"topic"},
			Body: NoBody, Rate: NoRate, Errors: JSON, Doc: "subscribe (SSE); private events need a token granting them",
			Handler: http.HandlerFunc(h.serveSubscribe)},
		{Pattern: "POST /events", Caller: Credential, Origins: CORS, Query: NoQuery,
			Body: h.publishBodyLimit(), TooLarge: h.tooLarge(), Rate: PublishRate, Errors: JSON, Doc: "publish: this machine, the publish key or a token",
			Handler: http.HandlerFunc(h.servePublish)},
		h.reopenRoute(),
		{Pattern: "GET /topics", Caller: Credential, Origins: CORS, Query: []string{"authorization"},
			Body: NoBody, Rate: NoRate, Errors: JSON, Doc: "topics and their figures; with token auth, those the token grants",
			Handler: http.HandlerFunc(h.serveTopics)},
		{Pattern: "GET /healthz", Caller: Anyone, Origins: CORS, Query: NoQuery,
			Body: NoBody, Rate: NoRate, Errors: JSON, Doc: "liveness",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			})},
		{Pattern: "GET /readyz", Caller: Anyone, Origins: CORS, Query: NoQuery,
			Body: NoBody, Rate: NoRate, Errors: JSON, Doc: "readiness: serving, the store answers and takes publishes",
			Handler: http.HandlerFunc(h.serveReady)},
	}
}

// Check reports what a route fails to declare, or nil.
func (rt Route) Check() error {
	var missing []string
	if rt.Pattern == "" || !strings.Contains(rt.Pattern, " /") {
		missing = append(missing, "a pattern with its method")
	}
	if rt.Caller == callerUnset {
		missing = append(missing, "Caller")
	}
	if rt.Origins == originsUnset {
		missing = append(missing, "Origins")
	}
	if rt.Query == nil {
		missing = append(missing, "Query")
	}
	for _, p := range rt.Repeat {
		if !slices.Contains(rt.Query, p) {
			missing = append(missing, fmt.Sprintf("Query parameter %q (Repeat names it)", p))
		}
	}
	if rt.Body == 0 {
		missing = append(missing, "Body")
	}
	if rt.Rate == rateUnset {
		missing = append(missing, "Rate")
	}
	if rt.Errors == errorsUnset {
		missing = append(missing, "Errors")
	}
	if rt.Doc == "" {
		missing = append(missing, "Doc")
	}
	if rt.Handler == nil {
		missing = append(missing, "Handler")
	}
	if len(missing) > 0 {
		return fmt.Errorf("route %q declares no %s", rt.Pattern, strings.Join(missing, ", "))
	}
	return nil
}

// Mount returns a handler serving routes, each behind its guards, in this
// order: the host check (DNS rebinding), the cross-origin policy and the
// cross-site request check (CSRF: a page of an origin not in
// --cors-origins can never make a state-changing request, whatever
// cookie it carries), the caller, the query, the rate limit, the body
// bound. Paths no route claims answer 404, and other methods on a route's
// path 405, in the format of the route (JSON elsewhere). Every answer
// carries X-Content-Type-Options: nosniff.
//
// Mount returns an error if a route declares too little (Route.Check) or
// a pattern twice.
func (h *Hub) Mount(routes ...Route) (http.Handler, error) {
	mux := http.NewServeMux()
	methods := map[string][]string{} // path → methods
	format := map[string]ErrorFormat{}
	cors := map[string]bool{}
	for _, rt := range routes {
		if err := rt.Check(); err != nil {
			return nil, err
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if slices.Contains(methods[path], method) {
			return nil, fmt.Errorf("route %q is declared twice", rt.Pattern)
		}
		methods[path] = append(methods[path], method)
		format[path] = rt.Errors
		cors[path] = cors[path] || rt.Origins == CORS
		if err := register(mux, rt.Pattern, h.guard(rt)); err != nil {
			return nil, err
		}
	}
	for path, ms := range methods {
		if path == "/" {
			continue // the catch-all below answers for every path
		}
		if err := register(mux, path, h.otherMethods(withHead(ms), format[path], cors[path])); err != nil {
			return nil, err
		}
	}
	if _, ok := methods["/"]; !ok {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if err := checkHost(h.cfg.AllowedHosts, r); err != nil {
				h.answer(w, r, JSON, err) // a rebound page learns nothing, not even which paths exist
				return
			}
			h.answer(w, r, JSON, errorf(ENotFound, "no such path: %s", r.URL.Path))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	}), nil
}

// register registers a pattern, turning ServeMux's panic on a conflict
// into an error.
func register(mux *http.ServeMux, pattern string, handler http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("route %q: %v", pattern, p)
		}
	}()
	mux.Handle(pattern, handler)
	return nil
}

// withHead is the methods of a path as an Allow header lists them, sorted:
// with HEAD wherever GET is, as ServeMux answers HEAD with a GET route.
func withHead(methods []string) []string {
	out := slices.Clone(methods)
	if slices.Contains(out, http.MethodGet) && !slices.Contains(out, http.MethodHead) {
		out = append(out, http.MethodHead)
	}
	slices.Sort(out)
	return out
}

// otherMethods answers the methods no route of a path takes: 405 with
// Allow, after the host check; on a path following the CORS policy, a
// preflight is answered as the policy says.
func (h *Hub) otherMethods(allow []string, f ErrorFormat, cors bool) http.Handler {
	list := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkHost(h.cfg.AllowedHosts, r); err != nil {
			h.answer(w, r, f, err)
			return
		}
		if cors && r.Method == http.MethodOptions {
			switch next, err := h.cors.handle(w, r); {
			case err != nil:
				if CodeOf(err) == EMethod { // a preflight for a method the path does not take
					w.Header().Set("Allow", list)
				}
				h.answer(w, r, f, err)
				return
			case !next: // a preflight, answered
				return
			}
		}
		w.Header().Set("Allow", list)
		h.answer(w, r, f, errorf(EMethod, "method %s not allowed on %s: %s", r.Method, r.URL.Path, list))
	})
}

// guard wraps a route's handler in its guards.
func (h *Hub) guard(rt Route) http.Handler {
	// CSRF: a state-changing request from a page of another origin is
	// refused unless the origin is listed, whatever credentials it
	// carries (a cookie is sent cross-site too).
	csrf := http.NewCrossOriginProtection()
	for _, o := range h.cors.exact {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			panic(err) // checkOrigins accepted only scheme://host[:port]
		}
	}
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.answer(w, r, rt.Errors, errorf(EForbidden, "cross-site %s refused: a page of origin %q may not change this hub's state (list it in --cors-origins)",
			r.Method, r.Header.Get("Origin")))
	}))
	rest := csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Caller == Local && !h.access.hasPublishKey(r) && !h.access.isLocal(r) {
			h.answer(w, r, rt.Errors, errorf(EForbidden, "%s is served to this machine only, or with Authorization: Bearer <publish key>", r.URL.Path))
			return
		}
		if err := checkQuery(r.URL.RawQuery, rt.Query, rt.Repeat); err != nil {
			h.answer(w, r, rt.Errors, err)
			return
		}
		if rt.Body > 0 {
			// Without a deadline, a client trickling a body holds its
			// connection for ever, credentials or not (they are checked
			// once the body is read). Not every transport has deadlines.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
		}
		if err := bodyFits(w, r, rt.Body, rt.TooLarge); err != nil {
			h.answer(w, r, rt.Errors, err)
			return
		}
		if rt.Rate == PublishRate {
			sender, p := h.access.sender(r)
			if err := h.limits.publish(sender, time.Now()); err != nil {
				h.answer(w, r, rt.Errors, err)
				return
			}
			if p != nil {
				r = r.WithContext(context.WithValue(r.Context(), publisherKey{}, p))
			}
		}
		if rt.Page {
			w.Header().Set("Content-Security-Policy", PageCSP) // the handler may set a stricter one
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("Referrer-Policy", "same-origin")
		}
		rt.Handler.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkHost(h.cfg.AllowedHosts, r); err != nil {
			h.answer(w, r, rt.Errors, err)
			return
		}
		switch rt.Origins {
		case CORS:
			next, err := h.cors.handle(w, r)
			if err != nil {
				h.explain(r, true)
				h.answer(w, r, rt.Errors, err)
			}
			if !next {
				return
			}
			if !h.cors.on() && r.Method != http.MethodOptions {
				h.explain(r, false)
			}
		case SameOrigin:
			if o := r.Header.Get("Origin"); o != "" && !sameOrigin(r, o) {
				h.answer(w, r, rt.Errors, errorf(EForbidden, "origin %s may not use %s: it serves this hub's own pages only", o, r.URL.Path))
				return
			}
		}
		rest.ServeHTTP(w, r)
	})
}

// publisherKey carries the publisher a PublishRate guard checked to the
// handler, so that a token is verified once per publish.
type publisherKey struct{}

// checkQuery parses a raw query strictly: every key and value must
// unescape, no semicolons, every parameter must be one of allowed (unless
// allowed holds AnyParam), and no allowed parameter but those of repeat
// may be given twice.
func checkQuery(raw string, allowed, repeat []string) error {
	if raw == "" {
		return nil
	}
	var seen []string
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || strings.Contains(rawKey, ";") {
			return errorf(EInvalid, "query: malformed parameter %.60q: %s", rawKey, unescapeProblem(err))
		}
		if _, err := url.QueryUnescape(rawValue); err != nil || strings.Contains(rawValue, ";") {
			return errorf(EInvalid, "query parameter %.60q: malformed value: %s", key, unescapeProblem(err))
		}
		if !slices.Contains(allowed, key) && !slices.Contains(allowed, AnyParam) {
			if len(allowed) == 0 {
				return errorf(EInvalid, "query parameter %.60q: this path takes no query parameter", key)
			}
			return errorf(EInvalid, "query parameter %.60q: unknown here; this path takes %s", key, strings.Join(allowed, ", "))
		}
		if slices.Contains(allowed, key) && !slices.Contains(repeat, key) {
			if slices.Contains(seen, key) {
				return errorf(EInvalid, "query parameter %.60q: given twice; it takes one value", key)
			}
			seen = append(seen, key)
		}
	}
	return nil
}

func unescapeProblem(err error) string {
	if err != nil {
		return "a % must be followed by two hex digits (escape a literal % as %25)"
	}
	return "a semicolon is not a separator (escape it as %3B)"
}

// bodyFits bounds a request's body to limit bytes (none for NoBody): a
// body declared larger is refused at once, and one that turns out larger
// fails its reader.
func bodyFits(w http.ResponseWriter, r *http.Request, limit int64, hint string) error {
	if limit < 0 {
		limit = 0
	}
	if r.ContentLength > limit {
		if limit == 0 {
			return errorf(ETooLarge, "%s %s takes no request body", r.Method, r.URL.Path)
		}
		if hint != "" {
			hint = ": " + hint
		}
		return errorf(ETooLarge, "request body larger than %d bytes%s", limit, hint)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return nil
}

// answer writes err in a route's format, logging it as fail does.
func (h *Hub) answer(w http.ResponseWriter, r *http.Request, f ErrorFormat, err error) {
	if f == JSON {
		h.refuse(w, r, err)
		return
	}
	if CodeOf(err) == EUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herd"`)
	}
	h.logRefusal(r, err)
	status, msg := errorAnswer(w, err)
	http.Error(w, msg, status)
}
