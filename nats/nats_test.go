package nats_test

import (
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/hub/storetest"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/nats"
)

func TestConformance(t *testing.T) {
	url := services.NATSURL(t)
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, opts storetest.Options) hub.Store {
			s, err := nats.Open(t.Context(), url, nats.Options{
				StoreOptions: hub.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL},
				Prefix:       services.NATSPrefix(t, url),
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
