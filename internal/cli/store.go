package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/herd-sse/herd/bolt"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/nats"
	"github.com/herd-sse/herd/redis"
)

// redact hides a password in a store URL, for logs and errors.
func redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil || u.User == nil {
		return spec
	}
	return u.Redacted()
}

// storeOptions are the settings every store takes.
type storeOptions struct {
	retention      hub.Retention
	idempotencyTTL time.Duration
	logger         *slog.Logger
}

const storeHint = "herd serve --store bolt:herd.db   (or memory, redis://HOST:PORT/DB, nats://HOST:PORT)"

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
	case scheme == "redis", scheme == "rediss", scheme == "nats":
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" {
			return usagef(storeHint, "--store %s: want %s://HOST:PORT", spec, scheme)
		}
		return nil
	}
	return usagef(storeHint, "unknown store %q: use bolt:PATH, memory, redis://HOST:PORT/DB or nats://HOST:PORT", spec)
}

// openStore opens the store --store names. A store that cannot be opened
// is a runtime error, reported at once.
func openStore(spec string, o storeOptions) (hub.Store, string, error) {
	if err := checkStoreSpec(spec); err != nil {
		return nil, "", err
	}
	so := hub.StoreOptions{Retention: o.retention, IdempotencyTTL: o.idempotencyTTL}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	switch scheme, _, _ := strings.Cut(spec, ":"); scheme {
	case "memory":
		return memory.New(so), "memory (history is lost when herd stops)", nil
	case "redis", "rediss":
		s, err := redis.Open(ctx, spec, redis.Options{StoreOptions: so, Logger: o.logger})
		if err != nil {
			return nil, "", fmt.Errorf("store %s: %w", redact(spec), err)
		}
		return s, "redis " + redact(spec), nil
	case "nats":
		s, err := nats.Open(ctx, spec, nats.Options{StoreOptions: so})
		if err != nil {
			return nil, "", fmt.Errorf("store %s: %w", redact(spec), err)
		}
		return s, "nats " + redact(spec), nil
	}
	path := strings.TrimPrefix(spec, "bolt:")
	s, err := bolt.Open(path, so)
	if err != nil {
		return nil, "", fmt.Errorf("store %s: %w", spec, err)
	}
	return s, "bolt file " + path, nil
}
