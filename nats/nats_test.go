package nats_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/hub/storetest"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/nats"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var seq atomic.Int64

// prefix returns a fresh stream name for one test, deleted when it ends.
func prefix(t *testing.T, url string) string {
	p := fmt.Sprintf("t%d_%d", time.Now().UnixNano(), seq.Add(1))
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx := context.Background()
		js.DeleteStream(ctx, "HERD_"+p)
		js.DeleteKeyValue(ctx, "HERD_"+p+"_closed")
	})
	return p
}

func TestConformance(t *testing.T) {
	url := services.NATSURL(t)
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, opts storetest.Options) hub.Store {
			s, err := nats.Open(t.Context(), url, nats.Options{
				StoreOptions: hub.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL},
				Prefix:       prefix(t, url),
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
