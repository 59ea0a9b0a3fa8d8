package hub_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/sse"
)

// shoutFace writes an event's data in capitals under an id of its own,
// and skips events of type "skip".
var shoutFace = &hub.Face{View: func(e herd.Event) (any, sse.Frame, bool) {
	if e.Type == "skip" {
		return nil, sse.Frame{}, false
	}
	w, err := sse.NewFrame(sse.Event{ID: "shout-" + e.ID, Data: strings.ToUpper(e.Data)})
	return e.Topics, w, err == nil
}}

// serveFace serves shoutFace's subscriptions to topics "a" and "b/**",
// matching "b/keep" only of the latter, resuming after ?after, with an
// injected comment first; ended is closed when a subscription ends.
func serveFace(t *testing.T, h *hub.Hub, ended chan<- struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := hub.FaceOptions{Selectors: []string{"a", "b/**"}, Matchers: len(r.URL.Query()["m"]), After: r.URL.Query().Get("after"),
			Match: func(v any) bool {
				for _, t := range v.([]string) {
					if t == "a" || t == "b/keep" {
						return true
					}
				}
				return false
			},
			Ended: func() { close(ended) }}
		fs, err := h.SubscribeFace(r.Context(), shoutFace, opts, r)
		if err != nil {
			http.Error(w, err.Error(), hub.CodeOf(err).HTTPStatus())
			return
		}
		w.Header().Set("X-Face", "shout")
		fs.Inject(sse.CommentFrame("hello"))
		fs.Serve(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// TestSubscribeFace: a face's stream, served by the hub (by its connection
// engine on Linux), carries the face's headers and encoding, the events
// its matcher takes, live and replayed, and its end is reported once.
func TestSubscribeFace(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	first := publish(t, h, msg("old", "a"))
	publish(t, h, msg("older", "b/drop"))
	ended := make(chan struct{})
	srv := serveFace(t, h, ended)
	resp, err := http.Get(srv.URL + "?after=" + hub.EarliestID)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Face") != "shout" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	publish(t, h, msg("dropped", "b/drop"))
	publish(t, h, herd.Message{Topics: []string{"a"}, Type: "skip", Data: "skipped"})
	last := publish(t, h, msg("kept", "b/keep"))
	events := sse.NewReader(resp.Body)
	for _, want := range []sse.Event{{ID: "shout-" + first.ID, Data: "OLD"}, {ID: "shout-" + last.ID, Data: "KEPT"}} {
		got, err := events.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Data != want.Data {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	resp.Body.Close()
	<-ended // the hub finds the client gone and reports it
}

// TestSubscribeFace_limits: a face's own matchers count against
// MaxSubscribeTopics, and its subscribers against the hub's limits.
func TestSubscribeFace_limits(t *testing.T) {
	h := newHub(t, hub.Config{MaxSubscribeTopics: 2, MaxSubscribers: 1}, herd.Retention{})
	srv := serveFace(t, h, make(chan struct{}))
	resp, err := http.Get(srv.URL + "?m=1&m=2&m=3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("3 matchers, 2 allowed: status %d, want 400", resp.StatusCode)
	}
	if _, err := h.SubscribeFace(t.Context(), nil, hub.FaceOptions{Selectors: []string{"a"}}, httptest.NewRequest("GET", "/", nil)); err == nil {
		t.Error("SubscribeFace without a face: no error")
	}
	one, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Body.Close()
	two, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	two.Body.Close()
	if one.StatusCode != 200 || two.StatusCode != http.StatusTooManyRequests {
		t.Errorf("MaxSubscribers 1: statuses %d and %d, want 200 and 429", one.StatusCode, two.StatusCode)
	}
}
