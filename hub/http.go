package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herd-sse/herd/sse"
)

// ServeHTTP serves the hub's API:
//
//	GET  /events?topic=SELECTOR[&topic=…][&last_event_id=ID]  subscribe (SSE)
//	POST /events                                              publish
//	GET  /topics                                              topic stats (JSON)
//	GET  /healthz, /readyz                                    liveness, readiness
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *Hub) routes() http.Handler {
	mux := http.NewServeMux()
	// Publishing from a browser page of another origin is refused unless
	// the origin is allowed, so that a page cannot publish through a hub
	// that trusts loopback.
	csrf := http.NewCrossOriginProtection()
	for _, o := range h.cors.exact {
		csrf.AddTrustedOrigin(o)
	}
	publish := csrf.Handler(http.HandlerFunc(h.servePublish))
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.serveSubscribe(w, r)
		case http.MethodPost:
			publish.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			writeError(w, Errorf(EMethod, "method %s not allowed: GET subscribes, POST publishes", r.Method))
		}
	})
	mux.HandleFunc("GET /topics", h.serveTopics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.serveReady)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch next, err := h.cors.handle(w, r); {
		case err != nil:
			h.fail(w, r, err)
		case next:
			mux.ServeHTTP(w, r)
		}
	})
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
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	code := CodeOf(err)
	msg := err.Error()
	if code == EInternal {
		msg = "internal error"
	}
	writeJSON(w, statusOf[code], map[string]string{"error": msg})
}

// fail answers err and logs it: server-side failures as errors with their
// cause, refusals (bad input, auth, limits) at debug. The query is never
// logged: it may hold a token.
func (h *Hub) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch c := CodeOf(err); c {
	case EInternal, EUnavailable:
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "cause", errors.Unwrap(err))
	default:
		h.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", statusOf[c], "err", err, "remote", r.RemoteAddr)
	}
	writeError(w, err)
}

func (h *Hub) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("last_event_id")
	}
	g, err := h.authorizeSubscribe(r, q["topic"])
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	s, err := h.subscribe(r.Context(), q["topic"], lastID, g, clientAddr(r))
	if errors.Is(err, ErrTopicsClosed) {
		w.WriteHeader(http.StatusNoContent) // browsers stop reconnecting
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Debug("subscriber started", "topics", s.selectors, "last_event_id", lastID, "remote", r.RemoteAddr)
	if g != nil && !g.Expires.IsZero() {
		s.expiry = time.AfterFunc(time.Until(g.Expires), s.expire)
	}
	if h.engine != nil && r.ProtoMajor == 1 && r.TLS == nil && r.Method == http.MethodGet {
		extra := w.Header().Clone() // set so far: CORS
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			h.serveHijacked(conn, s, extra)
			return
		}
	}
	reason := ReasonClient
	defer func() { h.unsubscribe(s, reason) }()
	stream, err := sse.NewStream(w, r, &sse.Options{
		Heartbeat:      h.cfg.Heartbeat,
		WriteTimeout:   h.cfg.WriteTimeout,
		Retry:          jitter(h.cfg.Retry),
		CloseEvent:     h.cfg.CloseEvent,
		ShutdownWindow: h.cfg.ShutdownWindow,
	})
	if err != nil {
		h.fail(w, r, &Error{Code: EInternal, Message: "cannot stream", Err: err})
		return
	}
	defer stream.Close()

	var items []item
	var wires []sse.Frame
	for {
		items, err = s.next(r.Context(), stream.Done(), items[:0])
		wires = wires[:0]
		for _, it := range items {
			wires = append(wires, it.wire)
		}
		if len(wires) > 0 {
			if werr := stream.SendFrames(wires...); werr != nil {
				err = werr
			} else {
				h.countWritten(wires)
			}
		}
		if err == nil {
			continue
		}
		switch {
		case err == io.EOF:
			reason = s.finished
		case errors.Is(stream.Err(), sse.ErrShutdown):
			reason = ReasonShutdown
		case r.Context().Err() != nil:
			reason = ReasonClient
		case stream.Err() != nil:
			reason = ReasonWrite
		}
		return
	}
}

// serveHijacked serves s on a connection taken over from net/http: it
// writes the response head and the history (on this goroutine, which ends
// afterwards), then hands the connection to the engine. The response has
// no length and no chunking: it ends when the connection closes. extra
// holds headers to send besides the stream's own.
func (h *Hub) serveHijacked(conn net.Conn, s *subscriber, extra http.Header) {
	conn.SetDeadline(time.Time{}) // the server's deadlines no longer apply
	write := func(b []byte) error {
		conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		_, err := conn.Write(b)
		conn.SetWriteDeadline(time.Time{})
		return err
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
		"X-Accel-Buffering: no\r\nConnection: close\r\n")
	extra.Write(&head)
	fmt.Fprintf(&head, "\r\nretry: %d\n\n", jitter(h.cfg.Retry).Milliseconds())
	if err := write(head.Bytes()); err != nil {
		conn.Close()
		h.unsubscribe(s, ReasonClient)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var items []item
	var buf []byte
	for s.replaying {
		var err error
		items, err = s.next(ctx, nil, items[:0])
		buf = buf[:0]
		for _, it := range items {
			buf = it.wire.AppendTo(buf)
		}
		werr := write(buf)
		if werr == nil {
			h.bytesWritten.Add(int64(len(buf)))
		}
		if werr != nil || err != nil {
			conn.Close()
			h.unsubscribe(s, ReasonWrite)
			return
		}
	}
	if s.finished != 0 { // the replay ended with the close
		conn.Close()
		h.unsubscribe(s, s.finished)
		return
	}
	if err := h.engine.adopt(conn, s); err != nil {
		conn.Close()
		h.unsubscribe(s, ReasonShutdown)
	}
}

// countWritten adds the frames' bytes to the bytes written.
func (h *Hub) countWritten(frames []sse.Frame) {
	n := 0
	for _, f := range frames {
		n += f.Len()
	}
	h.bytesWritten.Add(int64(n))
}

// publishRequest is the JSON form of a publish.
type publishRequest struct {
	Topic   json.RawMessage `json:"topic"` // a string or an array of strings
	Data    json.RawMessage `json:"data"`  // a string, or any JSON value sent as its text
	Event   string          `json:"event"`
	Retry   *int64          `json:"retry"` // milliseconds
	Close   bool            `json:"close"`
	Private bool            `json:"private"`
}

func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	// Credentials are checked before the body is read, the topics after.
	g, err := h.authorizePublish(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if err := h.limits.publish(r, time.Now()); err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.parsePublish(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := g.allowsPublish(m.Topics); err != nil {
		h.refuse(w, r, err)
		return
	}
	m.IdempotencyKey = r.Header.Get("Idempotency-Key")
	e, dup, err := h.Publish(r.Context(), m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if dup {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": e.ID})
}

// refuse answers an authorization error, with the challenge a 401 needs.
func (h *Hub) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if CodeOf(err) == EUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herd"`)
	}
	h.fail(w, r, err)
}

// parsePublish reads a publish body: form-encoded, multipart or JSON.
func (h *Hub) parsePublish(w http.ResponseWriter, r *http.Request) (Message, error) {
	limit := int64(h.cfg.MaxEventSize) + 64<<10
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var m Message
	switch mt {
	case "application/json":
		var req publishRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return m, bodyError(err, "bad JSON")
		}
		if dec.More() {
			return m, Errorf(EInvalid, "bad JSON: more than one value in the body")
		}
		return h.fromJSON(req)
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(limit)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return m, bodyError(err, "bad form")
		}
		return fromForm(r.PostForm)
	case "":
		return m, Errorf(EMediaType, "Content-Type required: application/x-www-form-urlencoded or application/json")
	}
	return m, Errorf(EMediaType, "Content-Type %q not supported: use application/x-www-form-urlencoded or application/json", mt)
}

func bodyError(err error, what string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return Errorf(ETooLarge, "request body larger than %d bytes", tooBig.Limit)
	}
	return Errorf(EInvalid, "%s: %v", what, err)
}

func (h *Hub) fromJSON(req publishRequest) (Message, error) {
	m := Message{Type: req.Event, Close: req.Close, Private: req.Private}
	switch t := strings.TrimSpace(string(req.Topic)); {
	case t == "" || t == "null":
	case strings.HasPrefix(t, "["):
		if err := json.Unmarshal(req.Topic, &m.Topics); err != nil {
			return m, Errorf(EInvalid, "topic: want a string or an array of strings")
		}
	default:
		var one string
		if err := json.Unmarshal(req.Topic, &one); err != nil {
			return m, Errorf(EInvalid, "topic: want a string or an array of strings")
		}
		m.Topics = []string{one}
	}
	switch d := strings.TrimSpace(string(req.Data)); {
	case d == "" || d == "null":
		m.NoData = true
	case strings.HasPrefix(d, `"`):
		if err := json.Unmarshal(req.Data, &m.Data); err != nil {
			return m, Errorf(EInvalid, "data: %v", err)
		}
	default: // any other JSON value is sent as its compact text
		var buf bytes.Buffer
		if err := json.Compact(&buf, req.Data); err != nil {
			return m, Errorf(EInvalid, "data: %v", err)
		}
		m.Data = buf.String()
	}
	if req.Retry != nil {
		if *req.Retry < 0 {
			return m, Errorf(EInvalid, "retry must be a non-negative number of milliseconds")
		}
		m.Retry = time.Duration(*req.Retry) * time.Millisecond
	}
	return m, nil
}

func fromForm(f map[string][]string) (Message, error) {
	m := Message{Topics: f["topic"], Type: first(f["event"])}
	data, ok := f["data"]
	m.NoData = !ok
	if len(data) > 1 {
		return m, Errorf(EInvalid, "data given %d times; send one data field (it may hold several lines)", len(data))
	}
	m.Data = first(data)
	if r := first(f["retry"]); r != "" {
		ms, err := strconv.ParseUint(r, 10, 32)
		if err != nil {
			return m, Errorf(EInvalid, "retry must be a non-negative number of milliseconds, got %q", r)
		}
		m.Retry = time.Duration(ms) * time.Millisecond
	}
	var err error
	if m.Close, err = formBool(f, "close"); err != nil {
		return m, err
	}
	m.Private, err = formBool(f, "private")
	return m, err
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
		return false, Errorf(EInvalid, "%s must be true or false, got %q", name, v)
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (h *Hub) serveTopics(w http.ResponseWriter, r *http.Request) {
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
	out := make([]topic, 0, len(stats))
	h.mu.RLock()
	seen := make(map[string]bool, len(stats))
	for _, ts := range stats {
		seen[ts.Topic] = true
		out = append(out, topic{ts.Topic, h.countSubscribers(ts.Topic), ts.LastID, ts.Closed, ts.Retained})
	}
	for t := range h.index.exact {
		if !seen[t] {
			out = append(out, topic{Topic: t, Subscribers: h.countSubscribers(t)})
		}
	}
	h.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

// countSubscribers counts the subscribers a publish to t would reach.
// h.mu must be held.
func (h *Hub) countSubscribers(t string) int {
	seen := map[*subscriber]bool{}
	h.index.match(t, func(s *subscriber) { seen[s] = true })
	return len(seen)
}

func (h *Hub) serveReady(w http.ResponseWriter, r *http.Request) {
	if !h.isOpen() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not serving (starting or shutting down)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.cfg.Store.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "store unavailable: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
