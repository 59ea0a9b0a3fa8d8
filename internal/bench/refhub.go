package bench

import (
	"net/http"
	"strconv"
	"sync"
)

// RefHub is the baseline herd bench compares with in the same run: the
// naive net/http fan-out most SSE code starts from. A handler goroutine per
// subscriber waits on a buffered channel; a publish formats the event once
// and sends it to every subscriber's channel under one mutex, dropping it
// for a subscriber whose channel is full. No history, no resume, no
// heartbeat, no write deadline.
type RefHub struct {
	mu   sync.Mutex
	subs map[string]map[chan []byte]struct{}
	seq  int
}

// NewRefHub returns an empty RefHub.
func NewRefHub() *RefHub { return &RefHub{subs: map[string]map[chan []byte]struct{}{}} }

func (h *RefHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz", r.URL.Path == "/readyz":
		w.Write([]byte("ok\n"))
	case r.URL.Path == "/events" && r.Method == "GET":
		h.subscribe(w, r)
	case r.URL.Path == "/events" && r.Method == "POST":
		h.publish(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *RefHub) subscribe(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	ch := make(chan []byte, 64)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan []byte]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs[topic], ch)
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	w.Write([]byte(":\n"))
	flusher.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case frame := <-ch:
			if _, err := w.Write(frame); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

func (h *RefHub) publish(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	topic := r.PostForm.Get("topic")
	h.mu.Lock()
	h.seq++
	frame := []byte("id: " + strconv.Itoa(h.seq) + "\ndata: " + r.PostForm.Get("data") + "\n\n")
	for ch := range h.subs[topic] {
		select {
		case ch <- frame:
		default: // full: this subscriber misses the event
		}
	}
	id := h.seq
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"id":"` + strconv.Itoa(id) + `"}` + "\n"))
}
