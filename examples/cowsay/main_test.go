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

// A client that reconnects resumes after the last quote it saw, and one
// that saw them all is answered 204: a browser never gets the ten quotes
// again. sse.Client stops at the close event by itself.
func TestEvents_resume(t *testing.T) {
	srv := httptest.NewServer(events(time.Millisecond))
	defer srv.Close()
	for _, tc := range []struct {
		lastID string
		first  string // the first quote's id
		status int
	}{{"", "1", 200}, {"7", "8", 200}, {"10", "", 204}, {"junk", "1", 200}, {"-3", "1", 200}, {"99", "1", 200}} {
		req := httptest.NewRequest("GET", srv.URL, nil)
		req.RequestURI = ""
		if tc.lastID != "" {
			req.Header.Set("Last-Event-ID", tc.lastID)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("Last-Event-ID %q: %s, want %d", tc.lastID, resp.Status, tc.status)
		}
		for e, err := range sse.Read(resp.Body) {
			if err != nil || e.ID != tc.first {
				t.Errorf("Last-Event-ID %q: first event %+v, %v; want id %s", tc.lastID, e, err, tc.first)
			}
			break
		}
		resp.Body.Close()
	}
	var ids []string
	client := &sse.Client{Retry: time.Millisecond, CloseEvent: "closeStream"}
	req := httptest.NewRequest("GET", srv.URL, nil)
	req.RequestURI = ""
	for e, err := range client.Events(t.Context(), req) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if len(ids) != len(quotes) || ids[0] != "1" || ids[9] != "10" {
		t.Errorf("sse.Client read %v, want the ten quotes once", ids)
	}
}
