//go:build integration

package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/nats"
)

// TestFollowAcrossChecks: a Follow idle for longer than its generation
// check period (5s) checks the stream and goes on following it: the
// bounded waits lose nothing.
func TestFollowAcrossChecks(t *testing.T) {
	url := services.NATSURL(t)
	s, err := nats.Open(t.Context(), url, nats.Options{Prefix: services.NATSPrefix(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan herd.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, 0, func(events []herd.Event) error {
			for _, e := range events {
				got <- e
			}
			return nil
		})
	}()
	for _, d := range []string{"before", "after a check"} {
		if d != "before" {
			time.Sleep(6 * time.Second) // idle past a check period: not an assertion on time
		}
		if _, _, err := s.Append(t.Context(), herd.Message{Topics: []string{"a"}, Data: d}); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Data != d {
				t.Fatalf("followed %q, want %q", e.Data, d)
			}
		case err := <-done:
			t.Fatalf("Follow returned %v before %q", err, d)
		case <-time.After(30 * time.Second):
			t.Fatalf("%q not followed within 30s", d)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow after cancel = %v", err)
	}
}
