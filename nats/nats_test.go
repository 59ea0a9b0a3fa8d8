//go:build integration

package nats_test

import (
	"sync"
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/hub/storetest"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/nats"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
		Wipe: func(t *testing.T, s hub.Store) {
			opts, _ := setups.Load(s)
			wipe(t, url, opts.(nats.Options))
		},
	})
}

// wipe deletes the stream and bucket of a store with opts, as wiping the
// server's JetStream data would, and starts a store on it again (which
// creates them anew, as a node starting on the wiped server would).
func wipe(t *testing.T, url string, opts nats.Options) {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(t.Context(), "HERD_"+opts.Prefix); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(t.Context(), "HERD_"+opts.Prefix+"_closed"); err != nil {
		t.Fatal(err)
	}
	s, err := nats.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
