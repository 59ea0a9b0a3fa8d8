package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/internal/mercure"
)

// mercureFlags turn on the Mercure protocol endpoint, configured as a
// Mercure hub is: a publisher key, a subscriber key, anonymous or not.
type mercureFlags struct {
	publisherKey  string
	subscriberKey string
	anonymous     bool
	subscriptions bool
}

func (m *mercureFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.publisherKey, "mercure-publisher-jwt-key", "", "serve the Mercure protocol at /.well-known/mercure, checking publishers' tokens with this `KEY`: an HS256 secret or PEM public keys (Mercure's publisher_jwt; env HERD_MERCURE_PUBLISHER_JWT_KEY)")
	fs.StringVar(&m.subscriberKey, "mercure-subscriber-jwt-key", "", "check Mercure subscribers' tokens with this `KEY` (Mercure's subscriber_jwt; default: the publisher key)")
	fs.BoolVar(&m.anonymous, "mercure-anonymous", false, "let Mercure subscribers without a token in, for public updates (Mercure's anonymous)")
	fs.BoolVar(&m.subscriptions, "mercure-subscriptions", false, "publish Mercure subscription events and serve the subscriptions API (Mercure's subscriptions)")
}

func (m *mercureFlags) on() bool { return m.publisherKey != "" }

func (m *mercureFlags) check() error {
	const hint = "herd serve --mercure-publisher-jwt-key \"$(openssl rand -hex 32)\""
	if !m.on() && (m.subscriberKey != "" || m.anonymous || m.subscriptions) {
		return usagef(hint, "--mercure-subscriber-jwt-key, --mercure-anonymous and --mercure-subscriptions need --mercure-publisher-jwt-key, which turns the Mercure endpoint on")
	}
	if _, err := m.keys(); err != nil {
		return usagef(hint, "%v", err)
	}
	return nil
}

// mercureKey reads a key as Mercure takes it: PEM public keys, or an
// HS256 secret.
func mercureKey(flagName, key string) (*jwt.KeySet, error) {
	if strings.HasPrefix(strings.TrimSpace(key), "-----BEGIN") {
		ks, err := jwt.ParsePublicKeys([]byte(key))
		if err != nil {
			return nil, fmt.Errorf("--%s: %v", flagName, err)
		}
		return ks, nil
	}
	if len(key) < jwt.MinSecret {
		return nil, fmt.Errorf("--%s is %d bytes: an HS256 secret needs at least %d", flagName, len(key), jwt.MinSecret)
	}
	return jwt.HMACKey(key)
}

// keys returns the endpoint's keys; the zero Keys when it is off.
func (m *mercureFlags) keys() (mercure.Keys, error) {
	if !m.on() {
		return mercure.Keys{}, nil
	}
	pub, err := mercureKey("mercure-publisher-jwt-key", m.publisherKey)
	if err != nil {
		return mercure.Keys{}, err
	}
	k := mercure.Keys{Publisher: pub, Subscriber: pub}
	if m.subscriberKey != "" {
		if k.Subscriber, err = mercureKey("mercure-subscriber-jwt-key", m.subscriberKey); err != nil {
			return mercure.Keys{}, err
		}
	}
	return k, nil
}

// handler returns the Mercure endpoint for h, nil when it is off.
func (m *mercureFlags) handler(h *hub.Hub, store hub.Store, f *serveFlags, logger *slog.Logger) (*mercure.Handler, error) {
	if !m.on() {
		return nil, nil
	}
	k, err := m.keys()
	if err != nil {
		return nil, err
	}
	mh := &mercure.Handler{Hub: h, Store: store, Anonymous: m.anonymous, Subscriptions: m.subscriptions, MaxDataSize: int(f.maxEventSize),
		Heartbeat: f.heartbeat, Logger: logger}
	mh.SetKeys(k)
	return mh, nil
}
