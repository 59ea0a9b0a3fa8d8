// Package services finds the brokers tests run against: the shared Redis
// and NATS servers of the machine, or servers a test starts itself.
package services

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
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

var fresh atomic.Int64

// RedisPrefix returns a key prefix no other test uses; its keys are
// deleted when the test ends.
func RedisPrefix(t testing.TB, url string) string {
	p := fmt.Sprintf("herdtest-%d-%d", time.Now().UnixNano(), fresh.Add(1))
	t.Cleanup(func() {
		opts, err := goredis.ParseURL(url)
		if err != nil {
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, "{"+p+"}:*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}

// NATSPrefix returns a stream prefix no other test uses; its stream and
// bucket are deleted when the test ends.
func NATSPrefix(t testing.TB, url string) string {
	p := fmt.Sprintf("t%d_%d", time.Now().UnixNano(), fresh.Add(1))
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx := context.Background()
		js.DeleteStream(ctx, "HERD_"+p)
		js.DeleteKeyValue(ctx, "HERD_"+p+"_closed")
	})
	return p
}
