package cli

import (
	"context"
	"io"
	"log/slog"
	"net"

	"github.com/herd-sse/herd/hub"
)

const serveSynopsis = "[--addr HOST:PORT] [--store bolt:PATH|memory] [flags]"

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
	store, err := spec.open(f.storeOptions(logger))
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
	h, err := newHub(cfg)
	if err != nil {
		return err
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
