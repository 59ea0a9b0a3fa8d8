package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/herd-sse/herd/sse"
)

// The seed program: ten quotes, one per interval, then a close event so
// that the browser does not start over.
func Example() {
	quotes := []string{"I'm a moo-dern programmer.", "Stay udderly fantastic!"}
	handler := func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewStream(w, r, &sse.Options{CloseEvent: "closeStream"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer s.Close()
		for _, q := range quotes {
			select {
			case <-time.After(10 * time.Millisecond):
			case <-s.Done(): // client gone or server shutting down
				return
			}
			if err := s.Send(sse.Event{Data: "<div>" + q + "</div>"}); err != nil {
				return
			}
		}
		s.End() // event: closeStream, data: (empty)
	}

	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	for e, err := range sse.Read(resp.Body) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %q\n", e.Type, e.Data)
	}
	// Output:
	// "<div>I'm a moo-dern programmer.</div>"
	//  "<div>Stay udderly fantastic!</div>"
	// closeStream ""
}

func ExampleEncoder() {
	enc := sse.NewEncoder(os.Stdout)
	enc.Encode(sse.Event{ID: "1", Type: "quote", Data: "moo\nmoo again"})
	enc.Comment("heartbeat")
	err := enc.Encode(sse.Event{ID: "2\nevent: injected"})
	fmt.Println(err)
	// Output:
	// event: quote
	// id: 1
	// data: moo
	// data: moo again
	//
	// : heartbeat
	// sse: event id contains CR, LF or NUL
}

// Encode an event once and send the same bytes to any number of streams.
func ExampleNewFrame() {
	f, err := sse.NewFrame(sse.Event{ID: "42", Data: "to everyone"})
	if err != nil {
		panic(err)
	}
	for range 2 {
		f.WriteTo(os.Stdout)
	}
	// Output:
	// id: 42
	// data: to everyone
	//
	// id: 42
	// data: to everyone
	//
}

func ExampleReader() {
	stream := "\xEF\xBB\xBF: a comment\r\nid: 7\r\nevent: add\r\ndata: one\r\ndata: two\r\n\r\nretry: 500\n\ndata: three\n\n"
	r := sse.NewReader(strings.NewReader(stream))
	for e, err := range r.Events() {
		if err != nil {
			panic(err)
		}
		fmt.Printf("id=%s type=%s data=%q\n", e.ID, e.Type, e.Data)
	}
	fmt.Println("last event id:", r.LastEventID(), "retry:", r.Retry())
	// Output:
	// id=7 type=add data="one\ntwo"
	// id=7 type= data="three"
	// last event id: 7 retry: 500ms
}

// A client that follows a stream across reconnections, resuming with
// Last-Event-ID, and stops at the server's 204.
func ExampleClient() {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n > 2 {
			w.WriteHeader(http.StatusNoContent) // done: do not reconnect
			return
		}
		s, _ := sse.NewStream(w, r, nil)
		defer s.Close()
		s.Send(sse.Event{ID: fmt.Sprint(n), Data: fmt.Sprintf("Last-Event-ID=%q", r.Header.Get("Last-Event-ID"))})
	}))
	defer srv.Close()

	client := &sse.Client{Retry: time.Millisecond}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	for e, err := range client.Events(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s: %s\n", e.ID, e.Data)
	}
	fmt.Println("done")
	// Output:
	// 1: Last-Event-ID=""
	// 2: Last-Event-ID="1"
	// done
}
