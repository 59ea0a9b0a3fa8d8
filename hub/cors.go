package hub

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// corsPolicy answers browsers that use the hub from pages of other
// origins (Config.AllowedOrigins). Listed origins get credentialed access
// (cookies, Authorization) to subscribe and publish; "*" lets any page
// subscribe without credentials. A request from any other origin is
// refused with 403 before it costs a stream.
type corsPolicy struct {
	exact []string // origins allowed with credentials
	any   bool     // "*": any origin may subscribe, without credentials
	told  *origins // origins the log has named, once each
}

// origins remembers which origins the hub has told the operator about, so
// that each is named once, however many pages subscribe; at most a
// thousand, so that made-up Origin headers cannot grow it.
type origins struct {
	mu   sync.Mutex
	seen map[string]bool
}

// first reports whether origin is named for the first time.
func (o *origins) first(origin string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = make(map[string]bool)
	}
	if o.seen[origin] || len(o.seen) >= 1000 {
		return false
	}
	o.seen[origin] = true
	return true
}

// explain logs, once per origin, why a page of another origin gets
// nothing: without --cors-origins the hub serves the request, but the
// browser keeps the page from reading it, and tells the page nothing it
// can show; with a list, the origin was refused. Either way the operator
// learns which flag lets the page in.
func (h *Hub) explain(r *http.Request, refused bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(r, origin) || (origin != "null" && !isOrigin(origin)) || !h.cors.told.first(origin) {
		return
	}
	flag := h.cfg.setting("AllowedOrigins")
	switch {
	case origin == "null": // a page opened from a file, or a sandboxed frame
		h.log.Warn("a page opened from a file (Origin: null) called the hub; its browser lets it read public streams only with * "+
			"(or serve the page from a web server whose origin you list)", "path", r.URL.Path, "fix", flag+" '*'")
	case refused:
		h.log.Warn("a page of an origin not listed was refused; list the origin to let it in",
			"origin", origin, "path", r.URL.Path, "fix", flag+" "+origin)
	default:
		h.log.Warn("a page of another origin called the hub, but its browser keeps it from reading the answer; list the origin to let it",
			"origin", origin, "path", r.URL.Path, "fix", flag+" "+origin)
	}
}

// isOrigin reports whether s looks like a browser's Origin, so that the log
// never repeats a forged header's junk.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == "" && len(s) <= 200 &&
		!strings.ContainsAny(s, " \t\r\n\"<>")
}

// checkOrigins validates Config.AllowedOrigins.
func checkOrigins(origins []string) (corsPolicy, error) {
	var p corsPolicy
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return p, fmt.Errorf("%q: want scheme://host[:port], like https://app.example.com, or *", o)
		}
		p.exact = append(p.exact, strings.ToLower(o))
	}
	return p, nil
}

func (p corsPolicy) on() bool { return p.any || len(p.exact) > 0 }

// handle applies the policy. It reports whether the request goes on to
// the API; if not, it has answered a preflight, or returns why the request
// is refused.
func (p corsPolicy) handle(w http.ResponseWriter, r *http.Request) (bool, error) {
	origin := r.Header.Get("Origin")
	if !p.on() || origin == "" || sameOrigin(r, origin) {
		return true, nil
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	method := r.Method
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		method = r.Header.Get("Access-Control-Request-Method")
	}
	exact := slices.Contains(p.exact, strings.ToLower(origin))
	reading := method == http.MethodGet || method == http.MethodHead
	switch {
	case exact:
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	case p.any && reading:
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		what := "this hub"
		if p.any {
			what = "publishing (* allows subscribing only)"
		}
		return false, errorf(EForbidden, "origin %s may not use %s: list it in --cors-origins", origin, what)
	}
	if !preflight {
		h.Set("Access-Control-Expose-Headers", "Idempotent-Replayed")
		return true, nil
	}
	if !reading && method != http.MethodPost {
		return false, errorf(EMethod, "method %s not allowed: GET subscribes, POST publishes", method)
	}
	if exact {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
	} else {
		h.Set("Access-Control-Allow-Methods", "GET")
	}
	// Any request header may be sent: the API ignores those it does not
	// know, and who may do what is decided by origin and token.
	if reqHeaders := r.Header.Get("Access-Control-Request-Headers"); reqHeaders != "" && isTokenList(reqHeaders) {
		h.Set("Access-Control-Allow-Headers", reqHeaders)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return false, nil
}

// sameOrigin reports whether a request comes from a page of the hub's own
// origin, by the browser's word (Sec-Fetch-Site) or by the Host header.
func sameOrigin(r *http.Request, origin string) bool {
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func isTokenList(s string) bool {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}
