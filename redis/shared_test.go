//go:build integration

package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/redis"
)

// The integration run adds the shared Redis of the machine: the real
// server, which miniredis imitates.
func init() { servers = append(servers, server{"shared", services.RedisURL}) }

func TestOpenErrors(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:1/0", "redis://:wrongpass@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0?bogus=1", "http://x"} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		s, err := redis.Open(ctx, url, redis.Options{})
		cancel()
		if err == nil {
			s.Close()
			if strings.Contains(url, "wrongpass") {
				continue // the shared Redis has no password: AUTH is not required
			}
			t.Errorf("Open(%q) succeeded", url)
		}
	}
	if _, err := redis.Open(t.Context(), "redis://127.0.0.1:6379/0", redis.Options{Prefix: "a{b}"}); err == nil {
		t.Error("a prefix with braces accepted")
	}
}
