package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/internal/metrics"
	"github.com/herd-sse/herd/internal/web"
)

const serveSynopsis = "[--addr HOST:PORT] [--store bolt:PATH|memory] [flags]"

// serveFlags are herd serve's settings; each flag also reads HERD_<NAME>.
type serveFlags struct {
	addr           string
	store          string
	maxEvents      int
	maxAge         time.Duration
	idempotencyTTL time.Duration
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
	maxSubs        int
	maxSubsPerIP   int
	publishRate    float64
	publishBurst   int
	demo           bool
	engine         bool
	logLevel       string
	logFormat      string
	debugAddr      string
	transport      transportFlags
	auth           authFlags
	storeDescribed string // the store, for the log (set once opened)
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "localhost:8080", "address to listen on; the default accepts local connections only")
	fs.StringVar(&f.store, "store", "bolt:herd.db", "where history is kept: bolt:PATH (a durable file), memory, or redis://HOST:PORT/DB or nats://HOST:PORT to run several nodes as one hub")
	fs.IntVar(&f.maxEvents, "history-max-events", 100_000, "keep at most this many events (all topics together); -1: no limit")
	fs.DurationVar(&f.maxAge, "history-max-age", 24*time.Hour, "drop events older than this; -1s: no limit")
	fs.DurationVar(&f.idempotencyTTL, "idempotency-ttl", 24*time.Hour, "how long an Idempotency-Key is remembered")
	fs.DurationVar(&f.heartbeat, "heartbeat", 15*time.Second, "keep-alive comment interval on idle streams")
	fs.DurationVar(&f.retry, "retry", 3*time.Second, "reconnection delay sent to subscribers (jittered ±25%)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", 10*time.Second, "drop a subscriber that does not take a write within this")
	fs.DurationVar(&f.shutdownWindow, "shutdown-window", 5*time.Second, "on shutdown, end streams spread over this window")
	fs.StringVar(&f.closeEvent, "close-event", "close", "event type that ends a stream when its topics are closed")
	f.maxEventSize = 1 << 20
	fs.Var(&f.maxEventSize, "max-event-size", "largest event data accepted, like 64KiB or 1MiB")
	fs.IntVar(&f.queueLength, "queue-length", 1024, "events a subscriber may have waiting before it is dropped as slow")
	f.queueBytes = 1 << 20
	fs.Var(&f.queueBytes, "queue-bytes", "bytes a subscriber may have waiting before it is dropped as slow")
	fs.IntVar(&f.maxTopics, "max-topics", 32, "topics per publish and per subscription")
	fs.StringVar(&f.publishKey, "publish-key", "", "require Authorization: Bearer KEY to publish (without it, only this machine may publish)")
	fs.IntVar(&f.maxSubs, "max-subscribers", 0, "refuse new subscriptions (429) past this many open; 0: no limit but the process's file limit")
	fs.IntVar(&f.maxSubsPerIP, "max-subscribers-per-ip", 256, "refuse new subscriptions (429) past this many open from one client address (loopback exempt); 0: no limit")
	fs.Float64Var(&f.publishRate, "publish-rate", 0, "publishes per second per sender (key, token or address), 429 past it; 0: no limit")
	fs.IntVar(&f.publishBurst, "publish-burst", 0, "publishes a sender may make at once within --publish-rate (default: the rate, rounded up)")
	fs.StringVar(&f.corsOrigins, "cors-origins", "", "comma-separated origins whose pages may use the hub with cookies (https://app.example.com), or * for any page to subscribe without credentials")
	fs.BoolVar(&f.engine, "engine", true, "hold plain HTTP/1.x subscribers without a goroutine or buffers each (Linux); false: net/http's goroutine per stream")
	fs.BoolVar(&f.demo, "demo", false, "publish the cowsay quotes to topic demo/cowsay/N, one run after another")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&f.transport.tlsCert, "tls-cert", "", "serve HTTPS (and HTTP/2) with this PEM certificate chain; reread on SIGHUP")
	fs.StringVar(&f.transport.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	fs.StringVar(&f.transport.tlsMode, "tls", "", "self-signed: serve HTTPS with a certificate made at start, for local development")
	fs.BoolVar(&f.transport.h2c, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge), e.g. behind a proxy that speaks it")
	fs.BoolVar(&f.transport.http3, "http3", false, "also serve HTTP/3 (QUIC) on the same port over UDP, advertised with Alt-Svc; needs TLS")
	fs.IntVar(&f.transport.h2MaxStreams, "h2-max-streams", 250, "concurrent HTTP/2 and HTTP/3 streams per connection (a browser queues the ones past it)")
	f.auth.register(fs)
	fs.StringVar(&f.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) on this address, like localhost:6060; off when empty")
}

// check validates the values flags cannot check by type.
func (f *serveFlags) check() error {
	const hint = "herd serve -h"
	switch {
	case f.maxEvents < -1 || f.maxEvents == 0:
		return usagef(hint, "--history-max-events must be positive, or -1 for no limit")
	case f.maxAge < -time.Second || f.maxAge == 0:
		return usagef(hint, "--history-max-age must be positive, or -1s for no limit")
	case f.idempotencyTTL <= 0:
		return usagef(hint, "--idempotency-ttl must be positive")
	case f.heartbeat <= 0, f.retry <= 0, f.writeTimeout <= 0, f.shutdownWindow <= 0:
		return usagef(hint, "--heartbeat, --retry, --write-timeout and --shutdown-window must be positive")
	case f.queueLength <= 0 || f.queueBytes <= 0 || f.maxEventSize <= 0 || f.maxTopics <= 0:
		return usagef(hint, "--queue-length, --queue-bytes, --max-event-size and --max-topics must be positive")
	case f.maxSubs < 0 || f.maxSubsPerIP < 0 || f.publishBurst < 0:
		return usagef(hint, "--max-subscribers, --max-subscribers-per-ip and --publish-burst must not be negative (0: no limit)")
	case f.publishRate < 0 || math.IsNaN(f.publishRate) || math.IsInf(f.publishRate, 0):
		return usagef("herd serve --publish-rate 100", "--publish-rate must be a non-negative number of publishes per second (0: no limit)")
	case f.maxEventSize > f.queueBytes:
		return usagef(hint, "--max-event-size (%d) must not exceed --queue-bytes (%d): such an event could never be queued", f.maxEventSize, f.queueBytes)
	case f.logFormat != "text" && f.logFormat != "json":
		return usagef(hint, "--log-format must be text or json")
	}
	if _, err := parseLevel(f.logLevel); err != nil {
		return usagef(hint, "%v", err)
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usagef("herd serve --addr localhost:8080", "--addr %q: %v", f.addr, err)
	}
	if err := f.transport.check(); err != nil {
		return err
	}
	if err := f.auth.check(); err != nil {
		return err
	}
	if f.debugAddr != "" {
		if _, _, err := net.SplitHostPort(f.debugAddr); err != nil {
			return usagef("herd serve --debug-addr localhost:6060", "--debug-addr %q: %v", f.debugAddr, err)
		}
	}
	return checkStoreSpec(f.store)
}

// hubConfig is the hub's configuration for these settings.
func (f *serveFlags) hubConfig(store hub.Store, auth *jwt.Authenticator) hub.Config {
	cfg := hub.Config{
		Store:     store,
		Heartbeat: f.heartbeat, Retry: f.retry, WriteTimeout: f.writeTimeout, ShutdownWindow: f.shutdownWindow,
		CloseEvent: f.closeEvent, MaxEventSize: int(f.maxEventSize),
		MaxPublishTopics: f.maxTopics, MaxSubscribeTopics: f.maxTopics,
		QueueLength: f.queueLength, QueueBytes: int(f.queueBytes),
		PublishKey: f.publishKey, NoEngine: !f.engine, AllowedOrigins: f.origins(),
		MaxSubscribers: f.maxSubs, MaxSubscribersPerAddr: f.maxSubsPerIP,
		PublishRate: f.publishRate, PublishBurst: f.publishBurst,
	}
	f.auth.hubConfig(&cfg, auth)
	return cfg
}

// origins splits --cors-origins.
func (f *serveFlags) origins() []string {
	var out []string
	for _, o := range strings.Split(f.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
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

// runServe is herd serve.
func runServe(ctx context.Context, args []string, io IO) error {
	f, _, _, err := loadServe("serve", serveSynopsis, args, io)
	if err != nil {
		return err
	}
	logger := newLogger(io.Stderr, f.logLevel, f.logFormat)
	cert := &certificate{flags: &f.transport}
	if f.transport.tls() {
		host, _, _ := net.SplitHostPort(f.addr)
		if err := cert.load(host); err != nil {
			return err
		}
	}

	auth, err := f.auth.authenticator()
	if err != nil {
		return err
	}

	retention := hub.Retention{MaxEvents: max(f.maxEvents, -1), MaxAge: f.maxAge}
	if f.maxAge < 0 {
		retention.MaxAge = -1
	}
	store, described, err := openStore(f.store, storeOptions{retention, f.idempotencyTTL, logger})
	if err != nil {
		return err
	}
	f.storeDescribed = described
	defer store.Close()
	cfg := f.hubConfig(store, auth)
	cfg.Logger = logger
	h, err := hub.New(cfg)
	if err != nil {
		return usagef("herd serve -h", "%v", err)
	}
	if err := h.Open(ctx); err != nil {
		return err
	}
	n := &node{flags: f, hub: h, cert: cert, auth: auth, logger: logger, io: io}
	err = n.run(ctx)
	logger.Info("herd stopped")
	return err
}

// A node is a running herd serve: the hub behind its listeners.
type node struct {
	flags  *serveFlags
	hub    *hub.Hub
	cert   *certificate
	auth   *jwt.Authenticator // nil without token auth
	logger *slog.Logger
	io     IO
}

// run listens and serves until ctx is done, then drains and closes the
// hub. It closes the hub whatever happens.
func (n *node) run(ctx context.Context) error {
	f, h, logger := n.flags, n.hub, n.logger
	closeHub := func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), f.shutdownWindow+time.Second)
		defer cancel()
		h.Close(closeCtx)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		closeHub()
		return fmt.Errorf("cannot listen on %s: %w", f.addr, err)
	}
	if f.debugAddr != "" {
		dbg, err := startDebug(f.debugAddr, logger)
		if err != nil {
			ln.Close()
			closeHub()
			return err
		}
		defer dbg.Close()
	}
	var pub *demo.Publisher
	if f.demo {
		pub = &demo.Publisher{Hub: h, Interval: time.Second, Logger: logger}
	}
	var conns atomic.Int64
	handler := routes(h, &demo.Handler{Publisher: pub, CloseEvent: f.closeEvent},
		onlyLocal(metrics.Handler(h, func() int { return int(conns.Load()) }), f.publishKey))
	var h3 *h3Server
	if f.transport.http3 {
		if h3, err = startHTTP3(ln.Addr().String(), handler, n.cert, f.transport.h2MaxStreams, logger); err != nil {
			ln.Close()
			closeHub()
			return err
		}
		handler = h3.advertise(handler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10, // 431 past it: ample for cookies and tokens
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				conns.Add(1)
			case http.StateHijacked, http.StateClosed: // the engine counts its own
				conns.Add(-1)
			}
		},
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	f.transport.configure(srv, n.cert)
	scheme := "http"
	if f.transport.tls() {
		scheme = "https"
	}
	base := scheme + "://" + displayAddr(ln.Addr(), f.addr)
	fmt.Fprintf(n.io.Stdout, "herd listening on %s\n", base)
	fmt.Fprintf(n.io.Stdout, "cowsay demo: %s/demo/cowsay\n", base)
	logger.Info("herd started", "addr", ln.Addr().String(), "protocols", f.transport.describe(),
		"store", f.storeDescribed, "publish", publishPolicy(f), "subscribe", subscribePolicy(f))

	// Background work, each piece stopped and waited for on the way out.
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()
	wg.Go(func() { returnMemory(bg, h, 2*time.Second, logger) })
	wg.Go(func() { n.reloadOnSignal(bg) })
	demoCtx, stopDemo := context.WithCancel(context.Background())
	demoDone := make(chan struct{})
	go func() {
		defer close(demoDone)
		if pub != nil {
			pub.Run(demoCtx)
		}
	}()
	defer func() { <-demoDone }()
	// On shutdown the hub drains its own streams (those the engine holds
	// are invisible to http.Server, and HTTP/3's to both) while the
	// servers drain the others: all spread over the same window.
	return serveUntilDone(ctx, srv, ln, f.shutdownWindow, func() {
		stopDemo()
		closeHub()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h3.shutdown(shutdownCtx)
	})
}

// reloadOnSignal rereads the certificate and key files each time
// n.io.Reload fires (SIGHUP), until ctx is done.
func (n *node) reloadOnSignal(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.io.Reload:
			n.cert.reload(n.logger)
			n.flags.auth.reload(n.auth, n.logger)
		}
	}
}

func publishPolicy(f *serveFlags) string {
	switch {
	case f.auth.on() && f.publishKey != "":
		return "with a token granting the topics, or the publish key"
	case f.auth.on():
		return "with a token granting the topics"
	case f.publishKey != "":
		return "with the publish key"
	}
	return "from this machine only (no --publish-key or --jwt-key)"
}

func subscribePolicy(f *serveFlags) string {
	switch {
	case f.auth.subscribeAuth:
		return "with a token granting the topics"
	case f.auth.on():
		return "open; private events with a token granting them"
	}
	return "open"
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// routes is the HTTP API of herd serve.
func routes(h *hub.Hub, d *demo.Handler, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	for _, path := range []string{"/events", "/topics", "/healthz", "/readyz"} {
		mux.Handle(path, h)
	}
	mux.HandleFunc("GET /demo/cowsay", d.Page)
	mux.HandleFunc("GET /demo/cowsay/events", demo.Events)
	mux.Handle("GET /static/", web.Static())
	mux.Handle("GET /{$}", web.Index())
	return mux
}

// onlyLocal serves next to clients on this machine, or sending the
// publish key: metrics tell a stranger too much about a hub.
func onlyLocal(next http.Handler, key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		keyed := key != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(key)) == 1
		if !keyed && !hub.IsLocalRequest(r) {
			http.Error(w, "metrics are served to this machine only, or with Authorization: Bearer <publish key>", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveUntilDone serves on ln until ctx is done, then shuts down: no new
// connections, open streams end spread over the drain window (each stream
// ends itself when the server shuts down), and the server stops within a
// bound even if a connection never goes idle.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, window time.Duration, alongside func()) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if alongside != nil {
			alongside()
		}
	}()
	defer func() { <-done }()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), window+10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A connection that never goes idle: Go's HTTP/2 server misses
		// connections whose handshake ends during Shutdown.
		err = srv.Close()
	}
	<-errc
	return err
}

// displayAddr is the address to print: the one asked for, with the port
// the listener got (for ":0").
func displayAddr(got net.Addr, asked string) string {
	host, _, err := net.SplitHostPort(asked)
	_, port, err2 := net.SplitHostPort(got.String())
	if err != nil || err2 != nil {
		return got.String()
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
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
