package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herd-sse/herd"
)

// publishRequest is the JSON form of a publish.
type publishRequest struct {
	Topic   json.RawMessage `json:"topic"` // a string or an array of strings
	Data    json.RawMessage `json:"data"`  // a string, or any JSON value sent as its text
	Event   string          `json:"event"`
	Retry   json.RawMessage `json:"retry"` // milliseconds, a whole number
	Close   bool            `json:"close"`
	Private bool            `json:"private"`
}

func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	// Credentials are checked before the body is read, the topics after;
	// the route's guard has charged the sender (and may have checked the
	// credential already).
	p, err := h.publisher(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	m, err := h.parsePublish(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := p.grant.allowsPublish(m.Topics); err != nil {
		h.refuse(w, r, err)
		return
	}
	m.IdempotencyKey = r.Header.Get("Idempotency-Key")
	e, dup, err := h.publish(r.Context(), m, p.scope)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if dup {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": e.ID})
}

// publisher is who a request publishes as: the publisher its route's
// rate guard checked, else checked now.
func (h *Hub) publisher(r *http.Request) (*publisher, error) {
	if p, ok := r.Context().Value(publisherKey{}).(*publisher); ok {
		return p, nil
	}
	return h.access.publisherOf(r)
}

// parsePublish reads a publish body: form-encoded, multipart or JSON.
func (h *Hub) parsePublish(w http.ResponseWriter, r *http.Request) (herd.Message, error) {
	limit := h.publishBodyLimit()
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var m herd.Message
	if mt == "application/x-www-form-urlencoded" || mt == "" {
		// curl -d sends JSON as a form, and some clients send no type at
		// all: a body that is a JSON object is understood as one (no form
		// field starts with "{").
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return m, h.bodyError(err, "bad body")
		}
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			mt = "application/json"
		} else if mt == "" {
			return m, errorf(EMediaType, "Content-Type required: application/x-www-form-urlencoded or application/json")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	switch mt {
	case "application/json":
		var req publishRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return m, h.bodyError(err, "bad JSON")
		}
		if dec.More() {
			return m, errorf(EInvalid, "bad JSON: more than one value in the body")
		}
		return fromJSON(req)
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(limit)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return m, h.bodyError(err, "bad form")
		}
		return fromForm(r.PostForm)
	}
	return m, errorf(EMediaType, "Content-Type %q not supported: use application/x-www-form-urlencoded or application/json", mt)
}

// publishBodyLimit is the most bytes a publish's body may hold: an event
// of the largest size, and room for its other fields and encoding.
func (h *Hub) publishBodyLimit() int64 { return int64(h.cfg.MaxEventSize) + 64<<10 }

// tooLarge says what bounds a publish's body.
func (h *Hub) tooLarge() string {
	return fmt.Sprintf("data may be at most %d bytes (the hub's %s)", h.cfg.MaxEventSize, h.cfg.setting("MaxEventSize"))
}

func (h *Hub) bodyError(err error, what string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(ETooLarge, "request body larger than %d bytes: %s", tooBig.Limit, h.tooLarge())
	}
	return errorf(EInvalid, "%s: %v", what, err)
}

func fromJSON(req publishRequest) (herd.Message, error) {
	m := herd.Message{Type: req.Event, Close: req.Close, Private: req.Private}
	switch t := strings.TrimSpace(string(req.Topic)); {
	case t == "" || t == "null":
	case strings.HasPrefix(t, "["):
		if err := json.Unmarshal(req.Topic, &m.Topics); err != nil {
			return m, errorf(EInvalid, "topic: want a string or an array of strings")
		}
	default:
		var one string
		if err := json.Unmarshal(req.Topic, &one); err != nil {
			return m, errorf(EInvalid, "topic: want a string or an array of strings")
		}
		m.Topics = []string{one}
	}
	switch d := strings.TrimSpace(string(req.Data)); {
	case d == "" || d == "null":
		m.NoData = true
	case strings.HasPrefix(d, `"`):
		if err := json.Unmarshal(req.Data, &m.Data); err != nil {
			return m, errorf(EInvalid, "data: %v", err)
		}
	default: // any other JSON value is sent as its compact text
		var buf bytes.Buffer
		if err := json.Compact(&buf, req.Data); err != nil {
			return m, errorf(EInvalid, "data: %v", err)
		}
		m.Data = buf.String()
	}
	if r := strings.TrimSpace(string(req.Retry)); r != "" && r != "null" {
		var err error
		if m.Retry, err = parseRetry(r); err != nil {
			return m, err
		}
		m.ZeroRetry = m.Retry == 0 // sent as "retry: 0", not dropped as unset
	}
	return m, nil
}

func fromForm(f map[string][]string) (herd.Message, error) {
	m := herd.Message{Topics: f["topic"], Type: first(f["event"])}
	data, ok := f["data"]
	m.NoData = !ok
	if len(data) > 1 {
		return m, errorf(EInvalid, "data given %d times; send one data field (it may hold several lines)", len(data))
	}
	m.Data = first(data)
	if r := first(f["retry"]); r != "" {
		var err error
		if m.Retry, err = parseRetry(r); err != nil {
			return m, err
		}
		m.ZeroRetry = m.Retry == 0 // sent as "retry: 0", not dropped as unset
	}
	var err error
	if m.Close, err = formBool(f, "close"); err != nil {
		return m, err
	}
	m.Private, err = formBool(f, "private")
	return m, err
}

// parseRetry reads a publish's retry, from a form or JSON alike: a whole
// number of milliseconds within the range MaxRetry allows.
func parseRetry(s string) (time.Duration, error) {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strings.TrimLeft(s, "0123456789") != "" || ms > herd.MaxRetry.Milliseconds() {
		return 0, errorf(EInvalid, "retry must be a whole number of milliseconds from 0 to %d, got %.40q", herd.MaxRetry.Milliseconds(), s)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// formBool reads a boolean form field: present and empty means true.
func formBool(f map[string][]string, name string) (bool, error) {
	vs, ok := f[name]
	if !ok {
		return false, nil
	}
	switch v := strings.ToLower(first(vs)); v {
	case "", "1", "true", "on", "yes":
		return true, nil
	case "0", "false", "off", "no":
		return false, nil
	default:
		return false, errorf(EInvalid, "%s must be true or false, got %q", name, v)
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
