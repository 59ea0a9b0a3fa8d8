package hub

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/herd-sse/herd/sse"
)

// serveSubscribe serves GET /events: it subscribes, then streams.
func (h *Hub) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lastID, _ := sse.LastEventID(r, "last_event_id")
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
	if h.log.Enabled(r.Context(), slog.LevelDebug) { // spare building the attributes of every subscription
		h.log.Debug("subscriber started", "topics", s.selectors, "last_event_id", lastID, "remote", r.RemoteAddr)
	}
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

// serveStream parks s on the hub's HTTP/2 server (ConfigureHTTP2), hands
// the connection to the connection engine (HTTP/1.x, plain or over TLS 1.3
// on a connection TLSListener accepted), or streams s on this goroutine
// (TLS 1.2 or a TLS connection from another listener, net/http's HTTP/2,
// HTTP/3, or without the engine). Headers set on w so far (CORS, a
// face's) are sent.
func (h *Hub) serveStream(w http.ResponseWriter, r *http.Request, s *subscriber, opts sse.Options) {
	if h2w := h2WriterOf(r); h2w != nil && r.Method == http.MethodGet {
		h.serveH2(h2w, w.Header(), s, opts.Retry)
		return
	}
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
