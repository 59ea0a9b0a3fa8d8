package mercure

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
)

// maxPublishTopics bounds the topics of one update.
const maxPublishTopics = 100

// reservedType is the event type of the hub's own updates (subscription
// events); publishers may not use it.
const reservedType = "mercure"

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	g, err := h.claims(r, func(k *Keys) *jwt.KeySet { return k.Publisher })
	if err != nil || g == nil {
		h.authFail(w, r, err, false, "publisher token missing")
		return
	}
	maxData := h.MaxDataSize
	if maxData <= 0 {
		maxData = 1 << 20
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(maxData)+64<<10)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		h.fail(w, r, http.StatusBadRequest, "Invalid request body")
		return
	}
	form := r.PostForm
	topics := form["topic"]
	switch {
	case len(topics) == 0:
		h.fail(w, r, http.StatusBadRequest, `Missing "topic" parameter`)
		return
	case len(topics) > maxPublishTopics:
		h.fail(w, r, http.StatusBadRequest, `Invalid "topic" parameter: more than `+strconv.Itoa(maxPublishTopics)+" topics")
		return
	}
	for _, t := range topics {
		if !validProtocolString(t) {
			h.fail(w, r, http.StatusBadRequest, `Invalid "topic" parameter: not UTF-8, or holds control or format characters`)
			return
		}
	}
	var retry time.Duration
	zeroRetry := false
	if s := form.Get("retry"); s != "" {
		// Digits only (no sign), and in range before converting: the
		// milliseconds as a Duration would overflow past 292 years.
		ms, err := strconv.ParseUint(s, 10, 64)
		if err != nil || ms > uint64(herd.MaxRetry/time.Millisecond) {
			h.fail(w, r, http.StatusBadRequest, `Invalid "retry" parameter: want milliseconds, at most `+strconv.FormatInt(int64(herd.MaxRetry/time.Millisecond), 10))
			return
		}
		retry = time.Duration(ms) * time.Millisecond
		zeroRetry = ms == 0 // sent as "retry: 0", not dropped
	}
	for _, t := range topics {
		if !anyMatches(g.publish, []string{t}) {
			h.authFail(w, r, nil, true, "the token does not grant topic "+strconv.Quote(t))
			return
		}
	}
	// Mercure's reservations, whatever the token grants.
	for _, t := range topics {
		switch {
		case t == "*":
			h.fail(w, r, http.StatusBadRequest, `Invalid "topic" parameter: "*" is the wildcard, not a topic`)
			return
		case addressesReserved(t):
			h.fail(w, r, http.StatusBadRequest, `Invalid "topic" parameter: `+strconv.Quote(t)+" is in the hub's reserved namespace "+Path)
			return
		}
	}
	// The field's presence makes an update private, whatever its value.
	_, private := form["private"]
	m := herd.Message{Data: form.Get("data"), Type: form.Get("type"), Private: private, Retry: retry, ZeroRetry: zeroRetry}
	switch {
	case !validProtocolString(m.Type):
		h.fail(w, r, http.StatusBadRequest, `Invalid "type" parameter: not UTF-8, or holds control or format characters`)
		return
	case m.Type == reservedType:
		h.fail(w, r, http.StatusBadRequest, `Invalid "type" parameter: "mercure" is reserved for the hub's own events`)
		return
	case len(m.Data) > maxData:
		h.fail(w, r, http.StatusRequestEntityTooLarge, "data too large")
		return
	case !utf8.ValidString(m.Data):
		h.fail(w, r, http.StatusBadRequest, `Invalid "data" parameter: not UTF-8`)
		return
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
		if err := checkPublisherID(id); err != nil {
			h.fail(w, r, http.StatusBadRequest, `Invalid "id" parameter: `+err.Error())
			return
		}
		it, err := idTopic(id)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, `Invalid "id" parameter: `+err.Error())
			return
		}
		m.Topics = append(m.Topics, it)
	}
	// No idempotency: an id used again is another update, delivered as
	// such (Mercure: ids are the publisher's to keep unique).
	e, _, err := h.Hub.Publish(r.Context(), m)
	if err != nil {
		code := hub.CodeOf(err)
		h.fail(w, r, code.HTTPStatus(), err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, h.mercureID(e, id))
}
