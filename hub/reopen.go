package hub

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"slices"

	"github.com/herd-sse/herd"
)

// ErrCannotReopen is returned by Hub.Reopen when the store is not a
// Reopener.
var ErrCannotReopen = errors.New("this store cannot reopen topics")

// Reopen opens closed topics again, so that they take events: what a
// user does to start a topic over (a walkthrough run twice, a topic closed
// by mistake). Events published from now on reach new subscribers and
// those resuming from an id after the close; a subscriber resuming from
// before the close still gets the old close event and ends there, as its
// stream did then. It returns the id of each topic's close; topics that
// were open are absent. Each reopened topic is logged.
func (h *Hub) Reopen(ctx context.Context, topics []string) (map[string]string, error) {
	if len(topics) == 0 {
		return nil, errorf(EInvalid, "topic is required")
	}
	var unique []string
	for _, t := range topics {
		if err := herd.ValidateTopic(t); err != nil {
			return nil, errorf(EInvalid, "%v", err)
		}
		if !slices.Contains(unique, t) {
			unique = append(unique, t)
		}
	}
	if len(unique) > h.cfg.MaxPublishTopics {
		return nil, errorf(EInvalid, "too many topics: %d, at most %d at once (the hub's %s)", len(unique), h.cfg.MaxPublishTopics, h.cfg.setting("MaxPublishTopics"))
	}
	r, ok := h.cfg.Store.(herd.Reopener)
	if !ok {
		return nil, errorf(EConflict, "%v", ErrCannotReopen)
	}
	closed, err := r.Reopen(ctx, unique)
	if err != nil {
		return nil, unavailable("reopen", err)
	}
	out := make(map[string]string, len(closed))
	for _, t := range unique {
		if p, ok := closed[t]; ok {
			out[t] = h.cfg.Store.ID(p)
			h.log.Info("topic reopened", "topic", t, "closed_at", out[t])
		}
	}
	return out, nil
}

// serveReopen is POST /topics/reopen: form fields topic (repeated), from
// the callers who may publish to those topics. It answers
// {"reopened": {topic: id of its close}}; a topic that was open is left
// out.
func (h *Hub) serveReopen(w http.ResponseWriter, r *http.Request) {
	p, err := h.publisher(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		h.fail(w, r, errorf(EMediaType, "Content-Type must be application/x-www-form-urlencoded, with a topic field for each topic (curl -d topic=news)"))
		return
	}
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, h.bodyError(err, "bad form"))
		return
	}
	for k := range r.PostForm {
		if k != "topic" {
			h.fail(w, r, errorf(EInvalid, "unknown field %q: reopening takes topic fields only", k))
			return
		}
	}
	topics := r.PostForm["topic"]
	if err := p.grant.allowsPublish(topics); err != nil {
		h.refuse(w, r, err)
		return
	}
	reopened, err := h.Reopen(r.Context(), topics)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]map[string]string{"reopened": reopened})
}

// reopenRoute is the route of POST /topics/reopen.
func (h *Hub) reopenRoute() Route {
	return Route{Pattern: "POST /topics/reopen", Caller: Credential, Origins: CORS, Query: NoQuery,
		Body: 64 << 10, Rate: PublishRate, Errors: JSON,
		Doc:     "reopen closed topics: this machine, the publish key or a token granting publish to them",
		Handler: http.HandlerFunc(h.serveReopen)}
}

// forgetReopened forgets the closes of e's topics that e follows: an event
// after a topic's close means the topic was reopened, so a subscriber
// replaying across the reopen goes on instead of ending at the old close.
func (s *subscriber) forgetReopened(e herd.Event) {
	if len(s.closed) == 0 {
		return
	}
	for _, t := range e.Topics {
		if p, ok := s.closed[t]; ok && p < e.Pos {
			delete(s.closed, t)
		}
	}
}
