// Package services finds the brokers tests run against: the shared Redis
// and NATS servers of the machine, or servers a test starts itself.
package services

import (
	"net"
	"os"
	"testing"
	"time"
)

// RedisURL returns the shared Redis's URL ($HERD_TEST_REDIS, default
// redis://127.0.0.1:6379/0). If it does not answer, the test is skipped,
// or failed under CI=true: CI never passes by skipping.
func RedisURL(t testing.TB) string {
	return reachable(t, "HERD_TEST_REDIS", "redis://127.0.0.1:6379/0", "127.0.0.1:6379", "Redis")
}

// NATSURL returns the shared NATS's URL ($HERD_TEST_NATS, default
// nats://127.0.0.1:4222), which must have JetStream enabled.
func NATSURL(t testing.TB) string {
	return reachable(t, "HERD_TEST_NATS", "nats://127.0.0.1:4222", "127.0.0.1:4222", "NATS")
}

func reachable(t testing.TB, env, def, addr, name string) string {
	t.Helper()
	url := def
	if v := os.Getenv(env); v != "" {
		url = v
	} else if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
	} else {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not reachable at %s and CI=true: start it (see README) or set %s", name, addr, env)
		}
		t.Skipf("%s is not reachable at %s: start it or set %s", name, addr, env)
	}
	return url
}
