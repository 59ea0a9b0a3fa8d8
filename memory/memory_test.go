package memory_test

import (
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/hub/storetest"
	"github.com/herd-sse/herd/memory"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		FakeClock: true,
		Open: func(t *testing.T, opts storetest.Options) hub.Store {
			return memory.New(memory.Options{StoreOptions: hub.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL, Now: opts.Now}})
		},
	})
}
