package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/internal/mercure"
	"github.com/herd-sse/herd/internal/metrics"
	"github.com/herd-sse/herd/internal/web"
	"github.com/herd-sse/herd/sse"
)

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
	if f.transport.h2Engine && f.engine && (f.transport.tls() || f.transport.h2c) {
		h.ConfigureHTTP2(srv)
	}
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

// serveUntilDone serves on ln until ctx is done, then shuts down: no new
// connections, open streams end spread over the drain window (each stream
// ends itself when the server shuts down), and the server stops within a
// bound even if a connection never goes idle.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, window time.Duration, alongside func()) error {
	errc := make(chan error, 1)
	go func() {
		errc <- srv.Serve(ln) // with TLS, ln is a TLS listener (transportFlags.listener)
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
