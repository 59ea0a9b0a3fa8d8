package cli

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/mercure"
	"github.com/herd-sse/herd/memory"
)

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

// hubFlags name the flag of each hub.Config field herd serve sets: the
// hub's SettingNames, so that its refusals (a request past a limit, a
// ConfigError) speak of flags.
var hubFlags = map[string]string{
	"Heartbeat": "--heartbeat", "WriteTimeout": "--write-timeout", "Retry": "--retry", "ShutdownWindow": "--shutdown-window",
	"CloseEvent": "--close-event", "MaxEventSize": "--max-event-size", "MaxPublishTopics": "--max-topics",
	"MaxSubscribeTopics": "--max-topics", "QueueLength": "--queue-length", "QueueBytes": "--queue-bytes",
	"AllowedOrigins": "--cors-origins", "AllowedHosts": "--allowed-hosts", "MaxSubscribers": "--max-subscribers",
	"MaxSubscribersPerAddr": "--max-subscribers-per-ip", "PublishRate": "--publish-rate", "PublishBurst": "--publish-burst",
	"SubscribeAuth": "--subscribe-auth", "Auth": "--jwt-key", "TokenCookie": "--token-cookie",
}

// checkHub has the hub check its configuration (as it will when serve
// starts), on a stand-in store and authenticator. What the store bounds
// (the largest event) is checked by newHub, on the real store.
func (f *serveFlags) checkHub() error {
	var auth hub.Authenticator
	if f.auth.on() {
		auth = hub.AuthenticatorFunc(func(string) (hub.Grant, error) { return hub.Grant{}, nil })
	}
	_, err := newHub(f.hubConfig(memory.New(memory.Options{}), auth))
	return err
}

// newHub is hub.New, its refusal of a configuration (a *hub.ConfigError,
// in terms of flags through hubFlags) a usage error.
func newHub(cfg hub.Config) (*hub.Hub, error) {
	h, err := hub.New(cfg)
	var ce *hub.ConfigError
	if errors.As(err, &ce) {
		return nil, usagef("herd serve -h", "%s %s", ce.Setting, ce.Problem)
	}
	return h, err
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

// storeOptions are the store's settings.
func (f *serveFlags) storeOptions(logger *slog.Logger) storeOptions {
	retention := herd.Retention{MaxEvents: max(f.maxEvents, -1), MaxAge: f.maxAge}
	if f.maxAge < 0 {
		retention.MaxAge = -1
	}
	return storeOptions{retention, f.idempotencyTTL, f.changeHistory, logger}
}
