//go:build integration

package cli

import (
	"strings"
	"testing"

	"github.com/herd-sse/herd/internal/services"
)

// TestCheck_broker: herd check contacts Redis and NATS, changing nothing.
func TestCheck_broker(t *testing.T) {
	redisURL := services.RedisURL(t)
	code, out, errOut := runCLI(t, t.Context(), nil, "check", "--store", redisURL+"?prefix="+services.RedisPrefix(t, redisURL))
	if code != 0 || !strings.Contains(out, "# store: Redis 7") || !strings.Contains(out, "no events under prefix") {
		t.Errorf("check of Redis: exit %d, %.300q %q", code, out, errOut)
	}
	natsURL := services.NATSURL(t)
	code, out, errOut = runCLI(t, t.Context(), nil, "check", "--store", natsURL+"?prefix="+services.NATSPrefix(t, natsURL))
	if code != 0 || !strings.Contains(out, "with JetStream; no stream HERD_") {
		t.Errorf("check of NATS: exit %d, %.300q %q", code, out, errOut)
	}
}
