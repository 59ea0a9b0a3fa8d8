package hub

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/sse"
)

// Config configures a Hub. Only Store is required; every other zero field
// takes the default written in its doc.
type Config struct {
	// Store keeps the log. Required. The Hub does not close it.
	Store herd.Store

	// Logger receives structured logs. Nil means none.
	Logger *slog.Logger

	// Heartbeat is how long a stream may stay silent before a keep-alive
	// comment goes out. Zero means 15s: under every common proxy's idle
	// timeout (30–100s). On net/http's path the comment goes out when it
	// is due; the connection engine, and the hub's HTTP/2 server for each
	// connection with parked streams, check their streams every quarter
	// of the shorter of Heartbeat and WriteTimeout, at most a second
	// apart, so their comments go out up to that much late (at most 2.5ms
	// for the shortest heartbeat, MinHeartbeat; at most 1s by default).
	Heartbeat time.Duration

	// WriteTimeout bounds each write to a subscriber; one that does not
	// take an event within it is dropped. Zero means 10s. On net/http's
	// path it is each write's deadline; on the connection engine, and for
	// a parked stream of the hub's HTTP/2 server that the client gives no
	// window, a stream stuck for longer is dropped at the next check (see
	// Heartbeat), up to a quarter of it late.
	WriteTimeout time.Duration

	// BodyTimeout bounds the time a request body (a publish) may take to
	// arrive, from the end of its headers: a client trickling a body is
	// cut off rather than holding its connection, and a file descriptor,
	// for ever. Zero means 1m.
	BodyTimeout time.Duration

	// Retry is the reconnection delay sent to subscribers ("retry:"),
	// jittered by ±25% per connection so that reconnections spread out.
	// Zero means 3s.
	Retry time.Duration

	// CloseEvent is the type of the event that ends a stream whose topics
	// are all closed. Zero means "close". Publishing an event of this
	// type, or of type "gap", is refused.
	CloseEvent string

	// MaxEventSize caps a published event's data, in bytes. Zero means
	// 1 MiB, or less if the store (an EventSizer) or QueueBytes holds
	// less. It must not exceed QueueBytes: such an event could never be
	// queued.
	MaxEventSize int

	// MaxPublishTopics caps the topics of one publish; MaxSubscribeTopics
	// those of one subscription. Zero means 32 for each.
	MaxPublishTopics   int
	MaxSubscribeTopics int

	// QueueLength and QueueBytes bound each subscriber's queue of events
	// not yet written. A subscriber whose queue would exceed either is
	// disconnected as slow; it can resume with Last-Event-ID. Zero means
	// 1024 events and 1 MiB.
	QueueLength int
	QueueBytes  int

	// ReplayCache and ReplayCacheBytes bound the cache of recent events
	// (already encoded) from which resuming subscribers are served without
	// reading the store. Zero means 4096 events and 16 MiB; a negative
	// ReplayCache disables it.
	ReplayCache      int
	ReplayCacheBytes int

	// NoEngine turns the connection engine off. With it on (the default,
	// on Linux), HTTP/1.x subscribers are taken over from net/http once
	// subscribed and held with no goroutine or buffer of their own: plain
	// ones, and TLS 1.3 ones on connections Hub.TLSListener accepted
	// (TLSListener is tls.NewListener when NoEngine is set). Other TLS
	// and HTTP/2 subscribers keep net/http's goroutine per stream (HTTP/2
	// ones are parked too when the server is configured with
	// ConfigureHTTP2, whatever NoEngine says).
	NoEngine bool

	// PublishKey, if set, is accepted as "Authorization: Bearer <key>" to
	// publish to any topic. With neither PublishKey nor Auth, only
	// loopback clients may publish.
	PublishKey string

	// Auth, if set, checks bearer tokens (see Grant). Publishing then needs
	// a token granting every topic of the publish, or PublishKey.
	// Subscriptions may carry a token: its grant decides which private
	// events reach the stream, and the stream ends when it expires.
	Auth Authenticator

	// SubscribeAuth, with Auth, requires every subscription to carry a
	// token whose subscribe grant covers each of its selectors.
	SubscribeAuth bool

	// TokenCookie names the cookie a token is read from when a request
	// has no Authorization header (EventSource cannot set headers). Zero
	// means DefaultTokenCookie.
	TokenCookie string

	// AllowedOrigins lists the origins (scheme://host[:port]) whose pages
	// may use the hub from another origin, with credentials (cookies,
	// Authorization): subscribe, and publish with a token or key. "*" lets
	// pages of any origin subscribe, without credentials. When set, other
	// origins' requests are refused with 403; when empty, browsers keep
	// pages of other origins out by themselves.
	AllowedOrigins []string

	// AllowedHosts are further names of this machine, besides IP
	// addresses, localhost and names under .localhost: a request from
	// this machine (loopback, not forwarded) must name one of them in its
	// Host header, or it is refused as a DNS rebinding attempt (see
	// GuardHost). Names are matched without port and case.
	AllowedHosts []string

	// UnlistedTopics are selectors of topics that GET /topics names only
	// to this machine, the publish key or a token granting them, even
	// without token auth: the namespace of a protocol served beside the
	// hub (herd serve's Mercure), whose private topics and ids are not
	// for strangers to read.
	UnlistedTopics []string

	// TokenQuery also accepts the token as an "authorization" query
	// parameter. Off by default: URLs end up in logs and histories.
	TokenQuery bool

	// MaxSubscribers caps the subscriptions open at once; past it new ones
	// are refused with 429 and Retry-After, and open ones are unaffected.
	// Zero means no limit.
	MaxSubscribers int

	// MaxSubscribersPerAddr caps the streams open from one client address
	// (429 past it). Loopback clients are exempt: this machine is trusted,
	// as for publishing; behind a reverse proxy on the same machine, limit
	// there. Zero means no limit.
	MaxSubscribersPerAddr int

	// PublishRate caps publishes per second per sender: its key or token
	// if it sends one, else its address. PublishBurst publishes may come
	// at once (zero means PublishRate, rounded up). Past it: 429 with
	// Retry-After. Zero means no limit.
	PublishRate  float64
	PublishBurst int

	// ShutdownWindow spreads the end of open streams when the hub closes,
	// so that clients reconnect elsewhere spread out. Zero means 5s.
	ShutdownWindow time.Duration

	// SettingNames names Config fields the way the operator sets them
	// (herd serve maps "MaxEventSize" to "--max-event-size"), so that a
	// request refused by a limit is told which setting bounds it, and a
	// ConfigError speaks of settings. Fields it does not name are called
	// Config.Field.
	SettingNames map[string]string
}

// Defaults for Config's zero fields. herd serve's flags default to them
// too.
const (
	DefaultHeartbeat        = 15 * time.Second // under every common proxy's idle timeout (30–100s)
	DefaultWriteTimeout     = 10 * time.Second
	DefaultBodyTimeout      = time.Minute
	DefaultRetry            = 3 * time.Second
	DefaultShutdownWindow   = 5 * time.Second
	DefaultCloseEvent       = "close"
	DefaultTokenCookie      = "herdAuthorization"
	DefaultMaxEventSize     = 1 << 20
	DefaultMaxTopics        = 32
	DefaultQueueLength      = 1024
	DefaultQueueBytes       = 1 << 20
	DefaultReplayCache      = 4096
	DefaultReplayCacheBytes = 16 << 20

	// MinHeartbeat bounds Heartbeat and WriteTimeout from below: shorter
	// ones only burn CPU, and drop healthy clients.
	MinHeartbeat = 10 * time.Millisecond
)

// A ConfigError reports a Config that New refuses: which field, and why.
// Setting and Problem name fields as Config.SettingNames does.
type ConfigError struct {
	Field   string // the Config field, like "Retry"
	Setting string // the field as the operator knows it, like "--retry" or "Config.Retry"
	Problem string // like "must not be negative"
}

func (e *ConfigError) Error() string {
	setting := e.Setting
	if setting == "" {
		setting = "Config." + e.Field
	}
	return "hub: " + setting + " " + e.Problem
}

func configErrorf(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// withDefaults validates c and returns it with its zero fields set to
// their defaults. Errors are *ConfigError values, naming settings as
// c.SettingNames does.
func (c *Config) withDefaults() (out Config, err error) {
	defer func() {
		if ce, ok := err.(*ConfigError); ok {
			ce.Setting = c.setting(ce.Field)
		}
	}()
	out = *c
	if out.Store == nil {
		return out, configErrorf("Store", "is required")
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for name, v := range map[string]int{"MaxEventSize": out.MaxEventSize, "MaxPublishTopics": out.MaxPublishTopics,
		"MaxSubscribeTopics": out.MaxSubscribeTopics, "QueueLength": out.QueueLength, "QueueBytes": out.QueueBytes,
		"ReplayCacheBytes": out.ReplayCacheBytes, "MaxSubscribers": out.MaxSubscribers,
		"MaxSubscribersPerAddr": out.MaxSubscribersPerAddr, "PublishBurst": out.PublishBurst} {
		if v < 0 {
			return out, configErrorf(name, "must not be negative")
		}
	}
	for name, v := range map[string]time.Duration{"Heartbeat": out.Heartbeat, "WriteTimeout": out.WriteTimeout,
		"Retry": out.Retry, "ShutdownWindow": out.ShutdownWindow, "BodyTimeout": out.BodyTimeout} {
		if v < 0 {
			return out, configErrorf(name, "must not be negative")
		}
	}
	setDefault(&out.Heartbeat, DefaultHeartbeat)
	setDefault(&out.WriteTimeout, DefaultWriteTimeout)
	setDefault(&out.BodyTimeout, DefaultBodyTimeout)
	setDefault(&out.Retry, DefaultRetry)
	setDefault(&out.ShutdownWindow, DefaultShutdownWindow)
	setDefault(&out.CloseEvent, DefaultCloseEvent)
	setDefault(&out.TokenCookie, DefaultTokenCookie)
	setDefault(&out.MaxPublishTopics, DefaultMaxTopics)
	setDefault(&out.MaxSubscribeTopics, DefaultMaxTopics)
	setDefault(&out.QueueLength, DefaultQueueLength)
	setDefault(&out.QueueBytes, DefaultQueueBytes)
	setDefault(&out.ReplayCache, DefaultReplayCache)
	setDefault(&out.ReplayCacheBytes, DefaultReplayCacheBytes)
	maxEvent := DefaultMaxEventSize
	if sized, ok := out.Store.(herd.EventSizer); ok {
		if limit := sized.MaxEventSize(); out.MaxEventSize > limit {
			return out, configErrorf("MaxEventSize", "(%d bytes) is more than the store can hold (%d bytes)", out.MaxEventSize, limit)
		} else {
			maxEvent = min(maxEvent, limit)
		}
	}
	setDefault(&out.MaxEventSize, min(maxEvent, out.QueueBytes))
	switch {
	case out.Heartbeat < MinHeartbeat:
		return out, configErrorf("Heartbeat", "must be at least %v: shorter ones only burn CPU", MinHeartbeat)
	case out.WriteTimeout < MinHeartbeat:
		return out, configErrorf("WriteTimeout", "must be at least %v: shorter ones drop healthy clients", MinHeartbeat)
	case out.Retry > herd.MaxRetry:
		return out, configErrorf("Retry", "must be at most %v (2147483647ms): browsers overflow past it and reconnect at once", herd.MaxRetry)
	case out.MaxEventSize > out.QueueBytes:
		return out, configErrorf("MaxEventSize", "(%d) must not exceed %s (%d): such an event could never be queued", out.MaxEventSize, c.setting("QueueBytes"), out.QueueBytes)
	case out.PublishRate < 0 || math.IsNaN(out.PublishRate) || math.IsInf(out.PublishRate, 0):
		return out, configErrorf("PublishRate", "must be a non-negative number of publishes per second (0: no limit)")
	case out.SubscribeAuth && out.Auth == nil:
		return out, configErrorf("SubscribeAuth", "needs %s", c.setting("Auth"))
	}
	if err := (sse.Event{Type: out.CloseEvent}).Validate(); err != nil {
		return out, configErrorf("CloseEvent", "%q: %v", out.CloseEvent, err)
	}
	if out.CloseEvent == GapEvent || out.CloseEvent == ExpiredEvent || out.CloseEvent == "message" {
		return out, configErrorf("CloseEvent", "%q is taken", out.CloseEvent)
	}
	if _, err := checkOrigins(out.AllowedOrigins); err != nil {
		return out, configErrorf("AllowedOrigins", "%v", err)
	}
	out.UnlistedTopics = slices.Clone(out.UnlistedTopics)
	for _, sel := range out.UnlistedTopics {
		if err := herd.ValidateSelector(sel); err != nil {
			return out, configErrorf("UnlistedTopics", "%q: %v", sel, err)
		}
	}
	out.SettingNames = maps.Clone(out.SettingNames)
	out.AllowedHosts = slices.Clone(out.AllowedHosts)
	for i, host := range out.AllowedHosts {
		out.AllowedHosts[i] = strings.ToLower(strings.TrimSuffix(host, "."))
		if host == "" || strings.ContainsAny(host, ":/ *") {
			return out, configErrorf("AllowedHosts", "%q: want a host name, like hub.test (no scheme, port or wildcard)", host)
		}
	}
	return out, nil
}

// setting is how the operator knows a Config field: its SettingNames
// entry, else Config.Field.
func (c *Config) setting(field string) string {
	if name := c.SettingNames[field]; name != "" {
		return name
	}
	return "Config." + field
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
