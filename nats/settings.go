package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/herd-sse/herd"
)

// The stream's own limits are the record of a NATS store's history
// settings: every node's Open would set them (and JetStream applies a
// shorter limit at once, to every node's history), so Open compares them
// first and refuses to change them unless StoreOptions.ChangeSettings
// says to. Replicas are compared the same way: a node started without
// replicas=3 would otherwise quietly take a cluster's stream down to one
// copy (JetStream keeps the history when the count changes).

// historyOf returns the history settings a stream configuration keeps.
func historyOf(cfg jetstream.StreamConfig) herd.HistorySettings {
	return herd.HistorySettings{MaxEvents: int(max(cfg.MaxMsgs, 0)), MaxAge: max(cfg.MaxAge, 0), IdempotencyTTL: cfg.Duplicates}
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
	have := stream.CachedInfo().Config
	if err := historyOf(want).Mismatch("nats: stream "+want.Name, historyOf(have)); err != nil {
		return err
	}
	if have.Replicas != want.Replicas {
		return &ReplicasError{Stream: want.Name, Recorded: have.Replicas, Own: want.Replicas}
	}
	return nil
}

// A ReplicasError is Open's refusal of a node whose replica count is not
// the stream's.
type ReplicasError struct {
	Stream        string
	Recorded, Own int
}

func (e *ReplicasError) Error() string {
	return fmt.Sprintf("nats: stream %s is kept on %d replicas but this node has replicas=%d: the nodes sharing a store must agree. "+
		"Give this node replicas=%d in its store URL; or, to change it for every node, stop them all and start one with the new "+
		"value and --change-history-settings (StoreOptions.ChangeSettings), then the others with the new value (docs/clustering.md)",
		e.Stream, e.Recorded, e.Own, e.Recorded)
}
