package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// ServeHTTP serves the hub's API, its Routes behind their guards:
//
//	GET  /events?topic=SELECTOR[&topic=…][&last_event_id=ID]  subscribe (SSE)
//	POST /events                                              publish
//	GET  /topics                                              topic stats (JSON)
//	GET  /healthz, /readyz                                    liveness, readiness
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *Hub) routes() http.Handler {
	mux, err := h.Mount(h.Routes()...)
	if err != nil {
		panic(err) // the hub's own table is complete
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers {"error": message} with the status of err's code.
// Internal errors are not detailed to the client.
func writeError(w http.ResponseWriter, err error) {
	status, msg := errorAnswer(w, err)
	writeJSON(w, status, map[string]string{"error": msg})
}

// errorAnswer sets the headers err calls for (Retry-After) and returns
// the status and the message a client is told, in any format.
func errorAnswer(w http.ResponseWriter, err error) (status int, msg string) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	code := CodeOf(err)
	msg = err.Error()
	if code == EInternal {
		msg = "internal error"
	}
	return statusOf[code], msg
}

// fail answers err and logs it: server-side failures as errors with their
// cause, refusals (bad input, auth, limits) at debug. The query is never
// logged: it may hold a token.
func (h *Hub) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.logRefusal(r, err)
	writeError(w, err)
}

// logRefusal logs an error answered to r: server-side failures as errors
// with their cause, refusals at debug.
func (h *Hub) logRefusal(r *http.Request, err error) {
	switch c := CodeOf(err); c {
	case EInternal, EUnavailable:
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "cause", errors.Unwrap(err))
	default:
		if !h.log.Enabled(r.Context(), slog.LevelDebug) { // a storm of refusals builds no attributes
			return
		}
		h.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", statusOf[c], "err", err, "remote", r.RemoteAddr)
	}
}

// refuse answers an authorization error, with the challenge a 401 needs.
func (h *Hub) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if CodeOf(err) == EUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herd"`)
	}
	h.fail(w, r, err)
}

// serveTopics lists the topics. With token auth it needs a token (or the
// publish key) and lists only the topics the token grants, to publish or
// to subscribe: a topic's name, ids and counts are its business.
func (h *Hub) serveTopics(w http.ResponseWriter, r *http.Request) {
	visible, err := h.access.topicFilter(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	stats, err := h.cfg.Store.Stats(r.Context())
	if err != nil {
		h.fail(w, r, unavailable("topics", err))
		return
	}
	type topic struct {
		Topic       string `json:"topic"`
		Subscribers int    `json:"subscribers"`
		LastID      string `json:"last_id"`
		Closed      bool   `json:"closed"`
		Retained    int    `json:"retained"`
	}
	names := make([]string, len(stats))
	for i, ts := range stats {
		names[i] = ts.Topic
	}
	reach := h.subs.reach(names)
	out := make([]topic, 0, len(stats))
	for _, ts := range stats {
		if visible(ts.Topic) {
			out = append(out, topic{ts.Topic, reach[ts.Topic], ts.LastID, ts.Closed, ts.Retained})
		}
		delete(reach, ts.Topic)
	}
	for t, n := range reach { // subscribed, with nothing retained
		if visible(t) {
			out = append(out, topic{Topic: t, Subscribers: n})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
