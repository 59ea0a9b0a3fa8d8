package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/internal/mercure"
	"github.com/herd-sse/herd/internal/metrics"
	"github.com/herd-sse/herd/internal/web"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

const serveSynopsis = "[--addr HOST:PORT] [--store bolt:PATH|memory] [flags]"

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
	fs.Var(&f.maxEventSize, "max-event-size", "largest event data accepted, a `SIZE` like 64KiB or 1MiB (default: 1MiB, less if the store holds less)")
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
	fs.BoolVar(&f.engine, "engine", true, "hold plain HTTP/1.x subscribers without a goroutine or buffers each (Linux); false: net/http's goroutine per stream")
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
	fs.IntVar(&f.transport.h2MaxStreams, "h2-max-streams", 250, "concurrent HTTP/2 and HTTP/3 streams per connection (a browser queues the ones past it)")
	f.auth.register(fs)
	f.mercure.register(fs)
	fs.StringVar(&f.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) on `HOST:PORT`, like localhost:6060; off when empty")
}

// check validates the values flags cannot check by type. The hub's own
// settings are the hub's to check (hub.New, see checkHub); what is left
// here is what the flags mean beyond it: a zero that would silently mean
// the hub's default, -1 for no limit, and the settings that are not the
// hub's.
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
	case f.logFormat != "text" && f.logFormat != "json":
		return usagef(hint, "--log-format must be text or json")
	}
	if _, err := parseLevel(f.logLevel); err != nil {
		return usagef(hint, "%v", err)
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usagef("herd serve --addr localhost:8080", "--addr %q: %v", f.addr, err)
	}
	for _, p := range splitList(f.peers) {
		if u, err := url.Parse(p); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return usagef("herd serve --peers http://10.0.0.2:8080,http://10.0.0.3:8080", "--peers: %q is not a node's base URL (http://HOST:PORT)", p)
		}
	}
	if err := f.transport.check(); err != nil {
		return err
	}
	if err := f.auth.check(); err != nil {
		return err
	}
	if err := f.mercure.check(); err != nil {
		return err
	}
	if f.debugAddr != "" {
		if _, _, err := net.SplitHostPort(f.debugAddr); err != nil {
			return usagef("herd serve --debug-addr localhost:6060", "--debug-addr %q: %v", f.debugAddr, err)
		}
	}
	if _, err := parseStore(f.store); err != nil {
		return err
	}
	return f.checkHub()
}

// hubFlags name the flag of each hub.Config field herd serve sets, so
// that the hub's verdict on its configuration speaks of flags.
var hubFlags = map[string]string{
	"Heartbeat": "--heartbeat", "WriteTimeout": "--write-timeout", "Retry": "--retry", "ShutdownWindow": "--shutdown-window",
	"CloseEvent": "--close-event", "MaxEventSize": "--max-event-size", "MaxPublishTopics": "--max-topics",
	"MaxSubscribeTopics": "--max-topics", "QueueLength": "--queue-length", "QueueBytes": "--queue-bytes",
	"AllowedOrigins": "--cors-origins", "AllowedHosts": "--allowed-hosts", "MaxSubscribers": "--max-subscribers",
	"MaxSubscribersPerAddr": "--max-subscribers-per-ip", "PublishRate": "--publish-rate", "PublishBurst": "--publish-burst",
	"SubscribeAuth": "--subscribe-auth", "Auth": "--jwt-key", "TokenCookie": "--token-cookie",
}

// checkHub has the hub check its configuration (as it will when serve
// starts), on a stand-in store and authenticator, and reports what it
// refuses in terms of flags.
func (f *serveFlags) checkHub() error {
	var auth hub.Authenticator
	if f.auth.on() {
		auth = hub.AuthenticatorFunc(func(string) (hub.Grant, error) { return hub.Grant{}, nil })
	}
	cfg := f.hubConfig(memory.New(memory.Options{}), auth)
	_, err := hub.New(cfg)
	var ce *hub.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	msg := ce.Problem
	for field, flag := range hubFlags {
		msg = strings.ReplaceAll(msg, field+" ", flag+" ")
	}
	name := hubFlags[ce.Field]
	if name == "" {
		name = "Config." + ce.Field
	}
	return usagef("herd serve -h", "%s %s", name, msg)
}

// hubConfig is the hub's configuration for these settings.
func (f *serveFlags) hubConfig(store herd.Store, auth hub.Authenticator) hub.Config {
	cfg := hub.Config{
		Store:     store,
		Heartbeat: f.heartbeat, Retry: f.retry, WriteTimeout: f.writeTimeout, ShutdownWindow: f.shutdownWindow,
		CloseEvent: f.closeEvent, MaxEventSize: int(f.maxEventSize),
		MaxPublishTopics: f.maxTopics, MaxSubscribeTopics: f.maxTopics,
		QueueLength: f.queueLength, QueueBytes: int(f.queueBytes),
		PublishKey: f.publishKey, NoEngine: !f.engine, AllowedOrigins: f.origins(), AllowedHosts: f.hosts(),
		MaxSubscribers: f.maxSubs, MaxSubscribersPerAddr: f.maxSubsPerIP,
		PublishRate: f.publishRate, PublishBurst: f.publishBurst,
		SettingNames: hubFlags,
	}
	if f.mercure.on() {
		cfg.UnlistedTopics = mercure.Unlisted
	}
	if f.source["max-event-size"] == "default" {
		cfg.MaxEventSize = 0 // the hub's default, which fits the store
	}
	f.auth.hubConfig(&cfg, auth)
	return cfg
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

	// Listen first: a start that cannot listen must leave nothing behind
	// (no new store file), and say so before any slow store connection.
	ln, err := listen(f.addr)
	if err != nil {
		return err
	}
	defer ln.Close() // in case of an early return; serving closes it too

	retention := herd.Retention{MaxEvents: max(f.maxEvents, -1), MaxAge: f.maxAge}
	if f.maxAge < 0 {
		retention.MaxAge = -1
	}
	spec, err := parseStore(f.store)
	if err != nil {
		return err
	}
	if f.changeHistory && f.source["change-history-settings"] != "flag" {
		return usagef("herd serve --change-history-settings --store URL ...",
			"--change-history-settings is a one-time act: give it on the command line, not from %s (docs/clustering.md)", f.source["change-history-settings"])
	}
	if f.changeHistory {
		logger.Warn("recording this node's history settings in the store (--change-history-settings): other nodes must use them too",
			"history-max-events", f.maxEvents, "history-max-age", f.maxAge, "idempotency-ttl", f.idempotencyTTL)
	}
	store, err := spec.open(storeOptions{retention, f.idempotencyTTL, f.changeHistory, logger})
	if err != nil {
		return err
	}
	f.storeDescribed = spec.describe()
	defer store.Close()
	var tokens hub.Authenticator // nil without token auth (not a nil *jwt.Authenticator)
	if auth != nil {
		tokens = auth
	}
	cfg := f.hubConfig(store, tokens)
	cfg.Logger = logger
	if sized, ok := store.(herd.EventSizer); ok && cfg.MaxEventSize > sized.MaxEventSize() {
		return usagef("herd serve --max-event-size 64KiB", "--max-event-size %d is more than the store holds: %d bytes (for NATS, its max_payload less 16 KiB for headers)",
			cfg.MaxEventSize, sized.MaxEventSize())
	}
	h, err := hub.New(cfg)
	if err != nil {
		return usagef("herd serve -h", "%v", err)
	}
	if err := h.Open(ctx); err != nil {
		return err
	}
	mh, err := f.mercure.handler(h, store, f, logger)
	if err != nil {
		return err
	}
	n := &node{flags: f, hub: h, mercure: mh, cert: cert, auth: auth, logger: logger, io: io, systemd: newNotifier(io, logger)}
	err = n.run(ctx, ln)
	logger.Info("herd stopped")
	return err
}

// A node is a running herd serve: the hub behind its listeners.
type node struct {
	flags   *serveFlags
	hub     *hub.Hub
	cert    *certificate
	auth    *jwt.Authenticator // nil without token auth
	mercure *mercure.Handler   // nil without the Mercure endpoint
	logger  *slog.Logger
	io      IO
	systemd notifier
}

// listen listens on addr, saying what to do when it cannot.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, errAddrInUse):
		return nil, withHint(fmt.Errorf("cannot listen on %s: the port is in use (another herd?)", addr),
			"stop the other program (a herd you just stopped may still be ending its streams, for up to --shutdown-window: wait for it to exit), or choose another port: herd --addr localhost:8081")
	case err != nil:
		return nil, withHint(fmt.Errorf("cannot listen on %s: %w", addr, err), "herd --addr localhost:8080")
	}
	return ln, nil
}

// run serves on ln until ctx is done, then drains and closes the hub. It
// closes the hub and ln whatever happens.
func (n *node) run(ctx context.Context, ln net.Listener) error {
	f, h, logger := n.flags, n.hub, n.logger
	closeHub := func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), f.shutdownWindow+time.Second)
		defer cancel()
		h.Close(closeCtx)
	}
	if f.debugAddr != "" {
		dbg, err := startDebug(f.debugAddr, f.hosts(), logger)
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
	var drain sse.Drain // the demo's own streams; the hub ends its streams itself
	var ui *dashboard
	if f.ui {
		ui = &dashboard{page: web.Index(web.UI{Auth: f.auth.on(),
			Store: f.storeDescribed, Demo: f.demo}), stats: web.Stats(h, web.Peers{URLs: splitList(f.peers), Key: f.publishKey})}
	}
	handler, err := h.Mount(routeTable(h, faces{
		demo:    &demo.Handler{Publisher: pub, CloseEvent: f.closeEvent, Drain: &drain},
		metrics: metrics.Handler(h, func() int { return int(conns.Load()) }),
		mercure: n.mercure,
		ui:      ui,
	})...)
	if err != nil {
		ln.Close()
		closeHub()
		return err
	}
	var h3 *h3Server
	if f.transport.http3 {
		var err error
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
	srv.RegisterOnShutdown(drain.Start)
	f.transport.configure(srv)
	ln = f.transport.listener(ln, h, n.cert)
	scheme := "http"
	if f.transport.tls() {
		scheme = "https"
	}
	base := scheme + "://" + displayAddr(ln.Addr(), f.addr)
	fmt.Fprintf(n.io.Stdout, "herd listening on %s\n", base)
	if f.transport.tlsMode == "self-signed" {
		if path, err := writeCertificate(n.cert.cur.Load()); err != nil {
			logger.Warn("the self-signed certificate could not be written for herd's clients", "err", err)
		} else {
			defer os.Remove(path)
			fmt.Fprintf(n.io.Stdout, "self-signed certificate: %s (herd pub --ca %[1]s, herd sub --ca %[1]s)\n", path)
		}
	}
	if f.ui {
		fmt.Fprintf(n.io.Stdout, "dashboard: %s/\n", base)
	}
	fmt.Fprintf(n.io.Stdout, "cowsay demo: %s/demo/cowsay\n", base)
	if f.demo {
		fmt.Fprintf(n.io.Stdout, "cowsay through the hub (--demo): %s/demo/cowsay?client=hub\n", base)
	}
	logger.Info("herd started", "addr", ln.Addr().String(), "protocols", f.transport.describe(),
		"store", f.storeDescribed, "publish", publishPolicy(f), "subscribe", subscribePolicy(f))
	n.systemd.send("READY=1\nSTATUS=serving on " + base)

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
		// Said at once: the drain takes up to the window, and a silent
		// terminal looks hung.
		fmt.Fprintf(n.io.Stderr, "herd: stopping: ending %d open streams over %s so that clients resume elsewhere (Ctrl-C again to stop at once)\n",
			h.Stats().Subscribers, f.shutdownWindow)
		n.systemd.send("STOPPING=1")
		stopDemo()
		closeHub()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h3.shutdown(shutdownCtx)
	})
}

// reloadOnSignal rereads the certificate and key files each time
// n.io.Reload fires (SIGHUP), until ctx is done. Open streams are not
// touched.
func (n *node) reloadOnSignal(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.io.Reload:
			n.systemd.send("RELOADING=1")
			n.cert.reload(n.logger)
			n.flags.auth.reload(n.auth, n.logger)
			n.systemd.send("READY=1")
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

// serveUntilDone serves on ln until ctx is done, then shuts down: no new
// connections, open streams end spread over the drain window (each stream
// ends itself when the server shuts down), and the server stops within a
// bound even if a connection never goes idle.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, window time.Duration, alongside func()) error {
	errc := make(chan error, 1)
	go func() {
		errc <- srv.Serve(ln) // with TLS, ln is a TLS listener
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
