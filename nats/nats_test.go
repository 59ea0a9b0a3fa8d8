//go:build integration

package nats_test

import (
	"sync"
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/hub/storetest"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/nats"
)

func TestConformance(t *testing.T) {
	url := services.NATSURL(t)
	var setups sync.Map // store → its options, for its peers
	open := func(t *testing.T, opts nats.Options) hub.Store {
		s, err := nats.Open(t.Context(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		setups.Store(s, opts)
		return s
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, opts storetest.Options) hub.Store {
			return open(t, nats.Options{
				StoreOptions: hub.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL},
				Prefix:       services.NATSPrefix(t, url),
			})
		},
		Peer: func(t *testing.T, s hub.Store) hub.Store {
			opts, _ := setups.Load(s)
			peer := open(t, opts.(nats.Options))
			t.Cleanup(func() { peer.Close() })
			return peer
		},
	})
}
