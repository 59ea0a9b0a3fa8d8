package hub

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/herd-sse/herd/sse"
)

// Config configures a Hub. Only Store is required; every other zero field
// takes the default written in its doc.
type Config struct {
	// Store keeps the log. Required. The Hub does not close it.
	Store Store

	// Logger receives structured logs. Nil means none.
	Logger *slog.Logger

	// Heartbeat is the interval of keep-alive comments on idle streams.
	// Zero means 15s: under every common proxy's idle timeout (30–100s).
	Heartbeat time.Duration

	// WriteTimeout bounds each write to a subscriber; one that does not
	// take an event within it is dropped. Zero means 10s.
	WriteTimeout time.Duration

	// Retry is the reconnection delay sent to subscribers ("retry:"),
	// jittered by ±25% per connection so that reconnections spread out.
	// Zero means 3s.
	Retry time.Duration

	// CloseEvent is the type of the event that ends a stream whose topics
	// are all closed. Zero means "close". Publishing an event of this
	// type, or of type "gap", is refused.
	CloseEvent string

	// MaxEventSize caps a published event's data, in bytes. Zero means
	// 1 MiB.
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
	// on Linux), plain HTTP/1.x subscribers are taken over from net/http
	// once subscribed and held with no goroutine or buffer of their own;
	// TLS and HTTP/2 subscribers keep net/http's goroutine per stream.
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
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Store == nil {
		return out, errors.New("hub: Config.Store is required")
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	setDefault(&out.Heartbeat, 15*time.Second)
	setDefault(&out.WriteTimeout, 10*time.Second)
	setDefault(&out.Retry, 3*time.Second)
	setDefault(&out.ShutdownWindow, 5*time.Second)
	setDefault(&out.CloseEvent, "close")
	setDefault(&out.TokenCookie, DefaultTokenCookie)
	if out.PublishRate < 0 || math.IsNaN(out.PublishRate) || math.IsInf(out.PublishRate, 0) {
		return out, errors.New("hub: Config.PublishRate must be a non-negative number")
	}
	if _, err := checkOrigins(out.AllowedOrigins); err != nil {
		return out, err
	}
	if out.SubscribeAuth && out.Auth == nil {
		return out, errors.New("hub: Config.SubscribeAuth needs Config.Auth")
	}
	setDefault(&out.MaxEventSize, 1<<20)
	setDefault(&out.MaxPublishTopics, 32)
	setDefault(&out.MaxSubscribeTopics, 32)
	setDefault(&out.QueueLength, 1024)
	setDefault(&out.QueueBytes, 1<<20)
	setDefault(&out.ReplayCache, 4096)
	setDefault(&out.ReplayCacheBytes, 16<<20)
	if err := (sse.Event{Type: out.CloseEvent}).Validate(); err != nil {
		return out, fmt.Errorf("hub: CloseEvent %q: %w", out.CloseEvent, err)
	}
	if out.CloseEvent == GapEvent || out.CloseEvent == ExpiredEvent || out.CloseEvent == "message" {
		return out, fmt.Errorf("hub: CloseEvent %q is taken", out.CloseEvent)
	}
	for name, v := range map[string]int{"MaxEventSize": out.MaxEventSize, "MaxPublishTopics": out.MaxPublishTopics,
		"MaxSubscribeTopics": out.MaxSubscribeTopics, "QueueLength": out.QueueLength, "QueueBytes": out.QueueBytes,
		"ReplayCacheBytes": out.ReplayCacheBytes, "MaxSubscribers": out.MaxSubscribers,
		"MaxSubscribersPerAddr": out.MaxSubscribersPerAddr, "PublishBurst": out.PublishBurst} {
		if v < 0 {
			return out, fmt.Errorf("hub: Config.%s must not be negative", name)
		}
	}
	for name, v := range map[string]time.Duration{"Heartbeat": out.Heartbeat, "WriteTimeout": out.WriteTimeout,
		"Retry": out.Retry, "ShutdownWindow": out.ShutdownWindow} {
		if v < 0 {
			return out, fmt.Errorf("hub: Config.%s must not be negative", name)
		}
	}
	return out, nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
