package hub

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/herd-sse/herd/sse"
)

// serveSubscribe serves GET /events: it subscribes, then streams.
func (h *Hub) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("last_event_id")
	}
	g, err := h.access.subscribeGrant(r, q["topic"])
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	s, err := h.subscribe(r.Context(), q["topic"], lastID, g, clientAddr(r), nil)
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
	h.serveStream(w, r, s, sse.Options{
		Heartbeat:    h.cfg.Heartbeat,
		WriteTimeout: h.cfg.WriteTimeout,
		Retry:        jitter(h.cfg.Retry),
		CloseEvent:   h.cfg.CloseEvent,
	})
}

// serveStream streams s with opts on this goroutine (HTTP/2, TLS 1.2 or a
// TLS connection not accepted by TLSListener, or without the engine) or
// hands the connection to the connection engine (HTTP/1.x, plain or over
// TLS 1.3). Headers set on w so far (CORS, a face's) are sent.
func (h *Hub) serveStream(w http.ResponseWriter, r *http.Request, s *subscriber, opts sse.Options) {
	if h.engine != nil && r.ProtoMajor == 1 && r.Method == http.MethodGet && (r.TLS == nil || h.tlsConns.adoptable(r)) {
		extra := w.Header().Clone() // set so far: CORS
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			h.serveHijacked(conn, s, extra, opts.Retry)
			return
		}
	}
	reason := reasonClient
	defer func() { h.unsubscribe(s, reason) }()
	// No sse.Drain: on shutdown the hub ends its subscribers itself (Close),
	// spread over its ShutdownWindow, and next returns.
	stream, err := sse.NewStream(w, r, &opts)
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
				h.counters.wrote(wires)
			}
		}
		if err == nil {
			continue
		}
		switch {
		case err == io.EOF:
			reason = s.finished
		case r.Context().Err() != nil:
			reason = reasonClient
		case stream.Err() != nil:
			reason = reasonWrite
		}
		return
	}
}
