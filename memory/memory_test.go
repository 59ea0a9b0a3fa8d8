package memory_test

import (
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		FakeClock: true,
		Open: func(t *testing.T, opts storetest.Options) herd.Store {
			return memory.New(memory.Options{StoreOptions: herd.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL, Now: opts.Now}})
		},
	})
}
