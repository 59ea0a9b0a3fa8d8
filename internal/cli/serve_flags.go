package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// serveFlags are herd serve's settings; each flag also reads HERD_<NAME>.
type serveFlags struct {
	addr           string
	store          string
	maxEvents      int
	maxAge         time.Duration
	idempotencyTTL time.Duration
	changeHistory  bool // record this node's history settings in a shared store that has others
	heartbeat      time.Duration
	retry          time.Duration
	writeTimeout   time.Duration
	shutdownWindow time.Duration
	closeEvent     string
	maxEventSize   byteSize
	queueLength    int
	queueBytes     byteSize
	maxTopics      int
	publishKey     string
	corsOrigins    string
	allowedHosts   string
	maxSubs        int
	maxSubsPerIP   int
	publishRate    float64
	publishBurst   int
	demo           bool
	ui             bool
	peers          string
	engine         bool
	logLevel       string
	logFormat      string
	debugAddr      string
	transport      transportFlags
	auth           authFlags
	mercure        mercureFlags
	storeDescribed string            // the store, for the log (set once opened)
	source         map[string]string // where each setting came from (see loadServe)
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "localhost:8080", "`HOST:PORT` to listen on; the default accepts local connections only")
	fs.StringVar(&f.store, "store", "bolt:herd.db", "history `STORE`: bolt:PATH (a durable file), memory, or redis://HOST:PORT/DB or nats://HOST:PORT to run several nodes as one hub")
	// The hub's settings default to the hub's defaults.
	fs.IntVar(&f.maxEvents, "history-max-events", herd.DefaultMaxEvents, "keep at most this many events (all topics together); -1: no limit")
	fs.DurationVar(&f.maxAge, "history-max-age", herd.DefaultMaxAge, "drop events older than this; -1s: no limit")
	fs.DurationVar(&f.idempotencyTTL, "idempotency-ttl", herd.DefaultIdempotencyTTL, "how long an Idempotency-Key is remembered")
	fs.BoolVar(&f.changeHistory, "change-history-settings", false, "change the history settings recorded in a shared (redis, nats) store to this node's, instead of refusing to start with others; once, on the command line, with every other node stopped")
	fs.DurationVar(&f.heartbeat, "heartbeat", hub.DefaultHeartbeat, "keep-alive comment interval on idle streams")
	fs.DurationVar(&f.retry, "retry", hub.DefaultRetry, "reconnection delay sent to subscribers (jittered ±25%)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", hub.DefaultWriteTimeout, "drop a subscriber that does not take a write within this")
	fs.DurationVar(&f.shutdownWindow, "shutdown-window", hub.DefaultShutdownWindow, "on shutdown, end streams spread over this window")
	fs.StringVar(&f.closeEvent, "close-event", hub.DefaultCloseEvent, "event `TYPE` that ends a stream when its topics are closed")
	f.maxEventSize = hub.DefaultMaxEventSize
	fs.Var(&f.maxEventSize, "max-event-size", "largest event data accepted, a `SIZE` like 64KiB or 1MiB (default: 1MiB, less if the store holds less: on NATS, its max_payload less 16 KiB for headers)")
	fs.IntVar(&f.queueLength, "queue-length", hub.DefaultQueueLength, "events a subscriber may have waiting before it is dropped as slow")
	f.queueBytes = hub.DefaultQueueBytes
	fs.Var(&f.queueBytes, "queue-bytes", "bytes (a `SIZE`) a subscriber may have waiting before it is dropped as slow")
	fs.IntVar(&f.maxTopics, "max-topics", hub.DefaultMaxTopics, "topics per publish and per subscription")
	fs.StringVar(&f.publishKey, "publish-key", "", "require Authorization: Bearer `KEY` to publish (without it, only this machine may publish)")
	fs.IntVar(&f.maxSubs, "max-subscribers", 0, "refuse new subscriptions (429) past this many open; 0: no limit but the process's file limit")
	fs.IntVar(&f.maxSubsPerIP, "max-subscribers-per-ip", 256, "refuse new subscriptions (429) past this many open from one client address (loopback exempt); 0: no limit")
	fs.Float64Var(&f.publishRate, "publish-rate", 0, "publishes per second per sender (key, token or address), 429 past it; 0: no limit")
	fs.IntVar(&f.publishBurst, "publish-burst", 0, "publishes a sender may make at once within --publish-rate (default: the rate, rounded up)")
	fs.StringVar(&f.allowedHosts, "allowed-hosts", "", "comma-separated `HOSTS`: names of this machine besides localhost and IP addresses (like hub.test): a request from this machine naming another host is refused (DNS rebinding)")
	fs.StringVar(&f.corsOrigins, "cors-origins", "", "comma-separated `ORIGINS` whose pages may use the hub with cookies (https://app.example.com), or * for any page to subscribe without credentials")
	fs.BoolVar(&f.engine, "engine", true, "hold HTTP/1.x subscribers, plain or over TLS 1.3, without a goroutine or buffers each (Linux); false: net/http's goroutine per stream")
	fs.StringVar(&f.peers, "peers", "", "comma-separated base `URLS` of this hub's other nodes (http://10.0.0.2:8080), whose counters the dashboard shows beside this node's")
	fs.BoolVar(&f.ui, "ui", true, "serve the dashboard at / (counters, topics, a live inspector, a publish playground); false: no page")
	fs.BoolVar(&f.demo, "demo", false, "publish the cowsay quotes, one run after another, each to a new topic demo/cowsay/<UTC time> (shown at /demo/cowsay?client=hub)")
	fs.StringVar(&f.logLevel, "log-level", "info", "`LEVEL`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "`FORMAT`: text or json")
	fs.StringVar(&f.transport.tlsCert, "tls-cert", "", "serve HTTPS (and HTTP/2) with this PEM certificate chain `FILE`; reread on SIGHUP")
	fs.StringVar(&f.transport.tlsKey, "tls-key", "", "the PEM private key `FILE` of --tls-cert")
	fs.StringVar(&f.transport.tlsMode, "tls", "", "`MODE`: self-signed serves HTTPS with a certificate made at start, for local development")
	fs.BoolVar(&f.transport.h2c, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge), e.g. behind a proxy that speaks it")
	fs.BoolVar(&f.transport.http3, "http3", false, "also serve HTTP/3 (QUIC) on the same port over UDP, advertised with Alt-Svc; needs TLS")
	fs.BoolVar(&f.transport.h2Engine, "h2-engine", true, "serve HTTP/2 (over TLS, and h2c with --h2c) with herd's own HTTP/2 server, which holds event streams without a goroutine each (with --engine); false: net/http's")
	fs.IntVar(&f.transport.h2MaxStreams, "h2-max-streams", 250, "concurrent HTTP/2 and HTTP/3 streams per connection (a browser queues the ones past it)")
	f.auth.register(fs)
	f.mercure.register(fs)
	fs.StringVar(&f.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) on `HOST:PORT`, like localhost:6060; off when empty")
}

// origins splits --cors-origins.
func (f *serveFlags) origins() []string {
	var out []string
	for _, o := range splitList(f.corsOrigins) {
		out = append(out, strings.TrimSuffix(o, "/"))
	}
	return out
}

// hosts splits --allowed-hosts.
func (f *serveFlags) hosts() []string { return splitList(f.allowedHosts) }

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

// byteSize is a flag for sizes like 512, 64KiB, 1MiB or 1MB.
type byteSize int

func (b *byteSize) String() string { return strconv.Itoa(int(*b)) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}}
	mult := 1
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > (1<<40)/mult {
		return fmt.Errorf("want a size like 65536, 64KiB or 1MiB")
	}
	*b = byteSize(n * mult)
	return nil
}
