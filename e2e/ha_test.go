//go:build linux && integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
)

// The highly available broker setups of docs/clustering.md, each started
// by the test on loopback free ports with its own directories, so that it
// may kill, pause and restart their servers. ha.leader names the server a
// failure hurts most: the JetStream stream's leader, the Redis primary.

// An haSetup is one running setup: its servers, herd's store URL for it,
// and how to find the server that matters now.
type haSetup struct {
	name    string
	servers []*broker
	store   string
	leader  func(ctx context.Context) (*broker, error)
}

// haServer makes (without starting) a server of a setup.
func haServer(t *testing.T, kind string, port int, ready string, argv ...string) *broker {
	b := &broker{t: t, kind: kind, port: port, dir: t.TempDir(), argv: argv, ready: ready}
	t.Cleanup(func() {
		if b.cmd != nil {
			b.kill()
		}
	})
	return b
}

// natsServerModule is the nats-server the JetStream clusters run: the
// version go.mod requires (for the embedded server of the unit tests),
// built from the module cache, so that it needs no network and every
// machine runs the same one. Not the machine's own: Debian's nats-server 2.9.10 let an R3
// stream's replicas diverge under kill -9 and SIGSTOP (CI saw two herd
// nodes given the same messages four positions apart), a fault of that
// server, which herd cannot mend (docs/clustering.md).
const natsServerModule = "github.com/nats-io/nats-server/v2"

// clusterNATSServer builds natsServerModule once per test binary, next
// to herdBin (TestMain removes both), and returns its path. The shared
// server on 127.0.0.1:4222 and the private single ones (startBroker) stay
// the machine's: they are not clustered, and 2.9 serves them well.
var clusterNATSServer = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(herdBin), "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, natsServerModule).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", natsServerModule, err, out)
	}
	return bin, nil
})

// natsCluster starts three nats-servers (clusterNATSServer's) as one
// JetStream cluster; herd's stream (prefix) is kept on all three
// (replicas=3).
func natsCluster(t *testing.T, prefix string) *haSetup {
	bin, err := clusterNATSServer()
	if err != nil {
		lacking(t, "nats-server could not be built from go.mod's module", err.Error())
	}
	var client, route [3]int
	for i := range 3 {
		client[i], route[i] = freePort(t), freePort(t)
	}
	setup := &haSetup{name: "nats"}
	var urls []string
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[j]))
			}
		}
		b := haServer(t, "nats", client[i], "Server is ready")
		b.argv = []string{bin, "-n", fmt.Sprintf("n%d", i), "-a", "127.0.0.1", "-p", strconv.Itoa(client[i]),
			"-js", "-sd", filepath.Join(b.dir, "js"), "--cluster_name", "herd",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", route[i]), "--routes", strings.Join(routes, ",")}
		setup.servers = append(setup.servers, b)
		urls = append(urls, fmt.Sprintf("127.0.0.1:%d", client[i]))
	}
	for _, b := range setup.servers {
		b.start()
	}
	setup.store = "nats://" + strings.Join(urls, ",") + "?replicas=3&prefix=" + prefix
	nc, err := natsgo.Connect("nats://"+strings.Join(urls, ","), natsgo.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	// JetStream answers once the servers have elected their meta leader,
	// but places a stream on three replicas only once all three servers
	// have joined it: before that, creating herd's stream fails with "no
	// suitable peer" and herd exits (seen once in four starts of 2.15.3).
	// A probe stream of three replicas says when herd's can be.
	probe := jetstream.StreamConfig{Name: "PROBE_" + prefix, Subjects: []string{"probe." + prefix}, Replicas: 3}
	waitFor(t, 30*time.Second, "the JetStream cluster to place a stream on 3 replicas", func() error {
		if _, err := js.CreateStream(t.Context(), probe); err != nil {
			return err
		}
		return js.DeleteStream(t.Context(), probe.Name)
	})
	setup.leader = func(ctx context.Context) (*broker, error) {
		s, err := js.Stream(ctx, "HERD_"+prefix)
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return nil, fmt.Errorf("stream HERD_%s has no leader", prefix)
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(info.Cluster.Leader, "n"))
		return setup.servers[n], nil
	}
	return setup
}

// redisPersistence makes every acknowledged write reach the disk first,
// so that a restarted server loses nothing it acknowledged by itself.
var redisPersistence = []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}

// redisSentinel starts a Redis primary, two replicas and three sentinels
// (quorum 2) monitoring it as "herd"; herd waits for one replica with
// every publish and every read. Two replicas, so that publishing goes on
// once a failover has promoted one of them: with a single replica,
// wait_replicas=1 refuses every publish until the lost server is back.
func redisSentinel(t *testing.T, prefix string) *haSetup {
	need(t, "redis-server")
	setup := &haSetup{name: "redis-sentinel"}
	primary, replica, replica2 := freePort(t), freePort(t), freePort(t)
	for i, port := range []int{primary, replica, replica2} {
		argv := append([]string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--daemonize", "no"}, redisPersistence...)
		if i > 0 {
			argv = append(argv, "--replicaof", "127.0.0.1", strconv.Itoa(primary))
		}
		b := haServer(t, "redis", port, "Ready to accept connections", argv...)
		b.argv = append(b.argv, "--dir", b.dir)
		b.start()
		setup.servers = append(setup.servers, b)
	}
	var sentinels []string
	for range 3 {
		port := freePort(t)
		b := haServer(t, "sentinel", port, "+monitor master")
		conf := filepath.Join(b.dir, "sentinel.conf") // sentinels rewrite their configuration
		os.WriteFile(conf, fmt.Appendf(nil, "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor herd 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds herd 1000\nsentinel failover-timeout herd 4000\nsentinel parallel-syncs herd 1\n",
			port, b.dir, primary), 0o600)
		b.argv = []string{"redis-server", conf, "--sentinel"}
		b.start()
		sentinels = append(sentinels, fmt.Sprintf("127.0.0.1:%d", port))
	}
	setup.store = "redis+sentinel://" + sentinels[0] + "/0?master_name=herd&addr=" + sentinels[1] + "&addr=" + sentinels[2] +
		"&wait_replicas=1&wait_timeout=500ms&prefix=" + prefix
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinels[0]})
	t.Cleanup(func() { sc.Close() })
	for _, port := range []int{replica, replica2} {
		rc := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		defer rc.Close()
		// The replicas are in sync before anything is published.
		waitFor(t, 30*time.Second, "the replicas' first sync", func() error {
			info, err := rc.Info(t.Context(), "replication").Result()
			if err != nil || !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("replica not in sync: %v", err)
			}
			return nil
		})
	}
	setup.leader = func(ctx context.Context) (*broker, error) {
		addr, err := sc.GetMasterAddrByName(ctx, "herd").Result()
		if err != nil {
			return nil, err
		}
		for _, b := range setup.servers {
			if addr[1] == strconv.Itoa(b.port) {
				return b, nil
			}
		}
		return nil, fmt.Errorf("sentinels name %v, none of this test's servers", addr)
	}
	return setup
}

// redisCluster starts a Redis Cluster of three masters, each with one
// replica, and waits until it serves every slot.
func redisCluster(t *testing.T, prefix string) *haSetup {
	need(t, "redis-server")
	need(t, "redis-cli")
	setup := &haSetup{name: "redis-cluster"}
	var addrs []string
	for range 6 {
		port := freePort(t)
		b := haServer(t, "redis", port, "Ready to accept connections")
		b.argv = append([]string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--daemonize", "no",
			"--dir", b.dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(b.dir, "nodes.conf"),
			"--cluster-node-timeout", "1000",
			// A replica takes over however long ago it last heard from its
			// master: wait_replicas=1 puts what herd acknowledged on it.
			"--cluster-replica-validity-factor", "0"}, redisPersistence...)
		b.start()
		setup.servers = append(setup.servers, b)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	setup.store = "redis+cluster://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2] + "&wait_replicas=1&wait_timeout=500ms&prefix=" + prefix
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cc.Close() })
	waitFor(t, 30*time.Second, "the cluster to serve every slot", func() error {
		info, err := cc.ClusterInfo(t.Context()).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("cluster not ok: %v", err)
		}
		if err := cc.ForEachShard(t.Context(), func(ctx context.Context, c *goredis.Client) error {
			return c.Ping(ctx).Err()
		}); err != nil {
			return err
		}
		// Every replica is in sync before anything is published: asked of
		// each server, not of the client's (perhaps empty) map of them.
		replicas := 0
		for _, addr := range addrs {
			c := goredis.NewClient(&goredis.Options{Addr: addr})
			info, err := c.Info(t.Context(), "replication").Result()
			c.Close()
			if err != nil {
				return err
			}
			if strings.Contains(info, "role:slave") {
				if !strings.Contains(info, "master_link_status:up") || !strings.Contains(info, "master_sync_in_progress:0") {
					return fmt.Errorf("replica %s not in sync", addr)
				}
				replicas++
			}
		}
		if replicas != 3 {
			return fmt.Errorf("%d replicas, want 3", replicas)
		}
		return nil
	})
	setup.leader = func(ctx context.Context) (*broker, error) {
		// Asked each time, not the client's cached map of the slots.
		slot := int64(crc16Slot("{" + prefix + "}:log"))
		shards, err := cc.ClusterShards(ctx).Result()
		if err != nil {
			return nil, err
		}
		port := int64(0)
		for _, sh := range shards {
			for _, r := range sh.Slots {
				if r.Start <= slot && slot <= r.End {
					for _, n := range sh.Nodes {
						if n.Role == "master" && n.Health == "online" {
							port = n.Port
						}
					}
				}
			}
		}
		for _, b := range setup.servers {
			if int64(b.port) == port {
				return b, nil
			}
		}
		return nil, fmt.Errorf("the cluster names port %d for slot %d, none of this test's servers", port, slot)
	}
	return setup
}

// need stops the test if this machine lacks a program (and fails it under
// CI=true).
func need(t *testing.T, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		lacking(t, program+" is not installed", "install it (apt-get install redis-server, or nats-server from its releases)")
	}
}

// waitFor calls f until it succeeds, failing the test with what after
// within.
func waitFor(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// crc16Slot is Redis Cluster's slot of key (one with a hash tag: the
// tag's).
func crc16Slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
