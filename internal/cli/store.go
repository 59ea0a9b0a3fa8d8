package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/herd-sse/herd/bolt"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

// storeOptions are the settings every store takes.
type storeOptions struct {
	retention      hub.Retention
	idempotencyTTL time.Duration
}

const storeHint = "herd serve --store bolt:herd.db   (or --store memory)"

// checkStoreSpec reports a malformed --store value as a usage error,
// before anything is opened.
func checkStoreSpec(spec string) error {
	scheme, rest, _ := strings.Cut(spec, ":")
	switch {
	case spec == "memory":
		return nil
	case scheme == "bolt":
		if rest == "" {
			return usagef(storeHint, "--store bolt: needs a file path, like bolt:herd.db")
		}
		return nil
	}
	return usagef(storeHint, "unknown store %q: use bolt:PATH or memory", spec)
}

// openStore opens the store --store names. A store that cannot be opened
// is a runtime error, reported at once.
func openStore(spec string, o storeOptions) (hub.Store, string, error) {
	if err := checkStoreSpec(spec); err != nil {
		return nil, "", err
	}
	if spec == "memory" {
		s := memory.New(memory.Options{Retention: o.retention, IdempotencyTTL: o.idempotencyTTL})
		return s, "memory (history is lost when herd stops)", nil
	}
	path := strings.TrimPrefix(spec, "bolt:")
	s, err := bolt.Open(path, bolt.Options{Retention: o.retention, IdempotencyTTL: o.idempotencyTTL})
	if err != nil {
		return nil, "", fmt.Errorf("store %s: %w", spec, err)
	}
	return s, "bolt file " + path, nil
}
