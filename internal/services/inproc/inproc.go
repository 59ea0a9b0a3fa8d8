// Package inproc starts brokers inside the test process: nats-server's
// own code, and miniredis. It is apart from package services so that only
// the tests that use them link them.
package inproc

import (
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	miniserver "github.com/alicebob/miniredis/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// NATS starts a NATS server with JetStream in this process, on a
// free loopback port, its storage in a temporary directory, and returns
// its URL. It stops when the test ends. It is the real server's code (the
// nats-server module), so what the stores do on it they do on a deployed
// one; what it cannot show (a cluster, a broker that stops or fills) the
// integration tests show on real processes.
func NATS(t testing.TB) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS: not ready after 10s")
	}
	return ns.ClientURL()
}

// MiniRedis starts miniredis, an in-memory Redis in this process, and
// returns its URL. It stops when the test ends. miniredis is not Redis:
// it runs the stores' Lua scripts (with gopher-lua, Lua 5.1 as Redis's)
// and streams, but answers some commands in part. Where the stores need
// more, it is completed here, and said so:
//
//   - INFO has no server section: the store reads redis_version in it, so
//     INFO server answers as Redis 7.2 (the commands miniredis emulates
//     are Redis 7's).
//   - Keys expire only when a test moves miniredis's clock: a goroutine
//     moves it with real time (every 10ms), so that a key's PX ends as
//     on Redis, give or take a tick.
//
// What miniredis does otherwise differently is left to the integration
// tests against a real Redis; the tests running on miniredis say which.
func MiniRedis(t testing.TB) string {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatalf("miniredis: %v", err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
		m.Close()
	})
	m.Server().SetPreHook(func(c *miniserver.Peer, cmd string, args ...string) bool {
		if strings.EqualFold(cmd, "INFO") && len(args) == 1 && strings.EqualFold(args[0], "server") {
			c.WriteBulk("# Server\r\nredis_version:7.2.0\r\n")
			return true
		}
		return false
	})
	return "redis://" + m.Addr() + "/0"
}
