package main

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// TestEvents checks the example does what the post wanted: ten quotes in
// order, then a close event that stops the client.
func TestEvents(t *testing.T) {
	srv := httptest.NewServer(events(time.Millisecond))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	for e, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		if n < len(quotes) && e.Type != "" || n == len(quotes) && e.Type != "closeStream" {
			t.Fatalf("event %d: %#v", n, e)
		}
		n++
	}
	if n != len(quotes)+1 {
		t.Fatalf("%d events, want %d quotes and the close", n, len(quotes))
	}
}
