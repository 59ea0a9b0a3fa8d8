package sse_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// ending serves a stream that sends one event and ends with Stream.End
// (a close event of type closeType) on its first connection, and 204 on
// any later one; it counts connections.
func ending(t *testing.T, closeType string) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conns.Add(1) > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s, err := sse.NewStream(w, r, &sse.Options{CloseEvent: closeType})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		s.Send(sse.Event{ID: "1", Data: "only"})
		s.End()
	}))
	t.Cleanup(srv.Close)
	return srv, &conns
}

// A Client stops at the close event Stream.End sends: it used to
// reconnect in a loop, hundreds of times in seconds at a short retry.
func TestClient_stopsAtCloseEvent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		client    sse.Client
		closeType string
		want      []sse.Event
		conns     int64
	}{
		{"default", sse.Client{Retry: time.Nanosecond}, "", []sse.Event{{ID: "1", Data: "only"}}, 1},
		{"seen", sse.Client{Retry: time.Nanosecond, SeeCloseEvent: true}, "",
			[]sse.Event{{ID: "1", Data: "only"}, {ID: "1", Type: "close"}}, 1},
		{"another type", sse.Client{Retry: time.Nanosecond, CloseEvent: "bye"}, "bye", []sse.Event{{ID: "1", Data: "only"}}, 1},
		{"a type that is not the close event", sse.Client{Retry: time.Nanosecond}, "bye",
			[]sse.Event{{ID: "1", Data: "only"}, {ID: "1", Type: "bye"}}, 2},
		{"as browsers do", sse.Client{Retry: time.Nanosecond, CloseEvent: sse.NoCloseEvent}, "",
			[]sse.Event{{ID: "1", Data: "only"}, {ID: "1", Type: "close"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := ending(t, tc.closeType)
			var got []sse.Event
			for e, err := range tc.client.Events(t.Context(), get(t, srv.URL)) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("event %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if n := conns.Load(); n != tc.conns {
				t.Errorf("%d connections, want %d", n, tc.conns)
			}
		})
	}
}
