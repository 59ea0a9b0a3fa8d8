package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/herd-sse/herd/hub"
	"github.com/nats-io/nats.go/jetstream"
)

// The stream's own limits are the record of a NATS store's history
// settings: every node's Open would set them (and JetStream applies a
// shorter limit at once, to every node's history), so Open compares them
// first and refuses to change them unless StoreOptions.ChangeSettings
// says to. Replicas are not compared: changing them keeps the history.

// historyOf returns the history settings a stream configuration keeps.
func historyOf(cfg jetstream.StreamConfig) hub.HistorySettings {
	return hub.HistorySettings{MaxEvents: int(max(cfg.MaxMsgs, 0)), MaxAge: max(cfg.MaxAge, 0), IdempotencyTTL: cfg.Duplicates}
}

// agree returns a *hub.SettingsError if the stream exists with other
// history settings than want, unless they are to be changed.
func (s *Store) agree(ctx context.Context, want jetstream.StreamConfig) error {
	stream, err := s.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // created with want
	}
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", want.Name, err)
	}
	if s.opts.ChangeSettings {
		return nil
	}
	return historyOf(want).Mismatch("nats: stream "+want.Name, historyOf(stream.CachedInfo().Config))
}
