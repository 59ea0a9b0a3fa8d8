package hub

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// Publish validates m and stores it, returning its event once stored. If
// m's idempotency key was used before, it returns the earlier event with
// dup set. Errors are *Error values: bad input (EInvalid, ETooLarge), a
// closed topic (EConflict, wrapping a *TopicClosedError), or the store
// unavailable (EUnavailable).
//
// A private message needs Config.Auth over HTTP only: in-process
// subscriptions receive private events.
//
// An idempotency key is kept per publisher and per set of topics: the
// same key with other topics is another publish. Publish is its own
// publisher, apart from the hub's HTTP clients.
func (h *Hub) Publish(ctx context.Context, m herd.Message) (e herd.Event, dup bool, err error) {
	return h.publish(ctx, m, inProcess)
}

// inProcess is the publisher scope of Publish's callers, apart from every
// HTTP client's.
const inProcess = "go"

// publish is Publish for a publisher known by scope (see publisher).
func (h *Hub) publish(ctx context.Context, m herd.Message, scope string) (e herd.Event, dup bool, err error) {
	if err := h.validate(&m); err != nil {
		return herd.Event{}, false, err
	}
	// Over HTTP, a private event needs token auth, or no subscriber could
	// ever receive it; in-process subscriptions (Publish's own callers, a
	// protocol adapter filtering by its own tokens) receive them all.
	if m.Private && h.cfg.Auth == nil && scope != inProcess {
		return herd.Event{}, false, errorf(EInvalid, "private events need token auth (herd serve --jwt-key or --jwt-public-key): without it no subscriber could receive them")
	}
	if m.IdempotencyKey != "" {
		m.IdempotencyKey = idempotencyKey(scope, m.Topics, m.IdempotencyKey)
	}
	if !h.isOpen() {
		return herd.Event{}, false, shuttingDown
	}
	start := time.Now()
	e, dup, err = h.cfg.Store.Append(ctx, m)
	h.counters.publishTime.observe(time.Since(start))
	h.writes.recordAppend(ctx, err)
	var closed *herd.TopicClosedError
	switch {
	case errors.As(err, &closed):
		return herd.Event{}, false, &Error{Code: EConflict, Err: err,
			Message: fmt.Sprintf("topic %q is closed: a closed topic takes no more events (publish to a new topic, or reopen this one: herd reopen %s)", closed.Topic, closed.Topic)}
	case err != nil:
		h.counters.storeErrors.Add(1)
		return herd.Event{}, false, unavailable("publish", err)
	}
	if !dup {
		h.counters.published.Add(1)
	}
	return e, dup, nil
}

// validate checks a message and normalises its topics.
func (h *Hub) validate(m *herd.Message) error {
	if len(m.Topics) == 0 {
		return errorf(EInvalid, "topic is required")
	}
	topics := make([]string, 0, len(m.Topics))
	for _, t := range m.Topics {
		if err := herd.ValidateTopic(t); err != nil {
			return errorf(EInvalid, "%v", err)
		}
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) > h.cfg.MaxPublishTopics {
		return errorf(EInvalid, "too many topics: %d, at most %d per publish (the hub's %s)", len(topics), h.cfg.MaxPublishTopics, h.cfg.setting("MaxPublishTopics"))
	}
	m.Topics = topics
	if err := (sse.Event{Type: m.Type}).Validate(); err != nil {
		return errorf(EInvalid, "event type: contains CR, LF or NUL")
	}
	if len(m.Type) > 256 {
		return errorf(EInvalid, "event type: longer than 256 bytes")
	}
	if !utf8.ValidString(m.Type) {
		return errorf(EInvalid, "event type is not valid UTF-8")
	}
	if m.Type == h.cfg.CloseEvent || m.Type == GapEvent || m.Type == ExpiredEvent {
		return errorf(EInvalid, "event type %q is reserved by the hub (use close to end topics)", m.Type)
	}
	if len(m.Data) > h.cfg.MaxEventSize {
		return errorf(ETooLarge, "data is %d bytes, more than the %d allowed (the hub's %s)", len(m.Data), h.cfg.MaxEventSize, h.cfg.setting("MaxEventSize"))
	}
	if !utf8.ValidString(m.Data) {
		return errorf(EInvalid, "data is not valid UTF-8")
	}
	if m.NoData && !m.Close {
		return errorf(EInvalid, "data is required (only a close may omit it)")
	}
	if m.Retry < 0 || m.Retry > herd.MaxRetry {
		return errorf(EInvalid, "retry must be from 0 to %d milliseconds", herd.MaxRetry.Milliseconds())
	}
	if k := m.IdempotencyKey; len(k) > 256 || !printableASCII(k) {
		return errorf(EInvalid, "Idempotency-Key must be at most 256 printable ASCII characters")
	}
	return nil
}

// idempotencyKey is the key a store keeps for a publisher's key: a digest
// of the publisher's scope, the publish's topics (in any order) and the
// key, so that keys of different publishers or topics never meet.
func idempotencyKey(scope string, topics []string, key string) string {
	sorted := slices.Clone(topics)
	slices.Sort(sorted)
	d := sha256.New()
	for _, part := range append([]string{scope, key}, sorted...) {
		d.Write([]byte(part))
		d.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(d.Sum(nil))
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
