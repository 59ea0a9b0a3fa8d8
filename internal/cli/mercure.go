package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/herd-sse/herd"
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
	cookie        string
	compatibility int
}

func (m *mercureFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.publisherKey, "mercure-publisher-jwt-key", "", "serve the Mercure protocol at /.well-known/mercure, checking publishers' tokens with this `KEY`: an HS256 secret or PEM public keys (Mercure's publisher_jwt; env HERD_MERCURE_PUBLISHER_JWT_KEY)")
	fs.StringVar(&m.subscriberKey, "mercure-subscriber-jwt-key", "", "check Mercure subscribers' tokens with this `KEY` (Mercure's subscriber_jwt; default: the publisher key)")
	fs.BoolVar(&m.anonymous, "mercure-anonymous", false, "let Mercure subscribers without a token in, for public updates (Mercure's anonymous)")
	fs.BoolVar(&m.subscriptions, "mercure-subscriptions", false, "publish Mercure subscription events and serve the subscriptions API (Mercure's subscriptions)")
	fs.StringVar(&m.cookie, "mercure-cookie", mercure.DefaultCookie, "the `NAME` of the cookie Mercure subscribers carry their token in (Mercure's cookie_name; with 0.x compatibility, mercureAuthorization is read too)")
	fs.IntVar(&m.compatibility, "mercure-protocol-version-compatibility", mercure.DefaultCompatibility, "`VERSION` of the Mercure protocol whose clients are served besides 1.0's: 8 (or 7) keeps Mercure 0.x clients working (the mercure claim, the topic parameter, lastEventID, the mercureAuthorization cookie, the authorization parameter); 0 serves the current specification only (Mercure's protocol_version_compatibility)")
}

func (m *mercureFlags) on() bool { return m.publisherKey != "" }

func (m *mercureFlags) check() error {
	const hint = "herd serve --mercure-publisher-jwt-key \"$(openssl rand -hex 32)\""
	if !m.on() && (m.subscriberKey != "" || m.anonymous || m.subscriptions) {
		return usagef(hint, "--mercure-subscriber-jwt-key, --mercure-anonymous and --mercure-subscriptions need --mercure-publisher-jwt-key, which turns the Mercure endpoint on")
	}
	switch m.compatibility {
	case 0, 7, 8:
	default:
		return usagef("--mercure-protocol-version-compatibility 8", "--mercure-protocol-version-compatibility is %d: want 8 (or 7) to serve Mercure 0.x clients too, or 0 for the current specification only", m.compatibility)
	}
	if m.cookie == "" || strings.ContainsAny(m.cookie, " \t;,=\"") {
		return usagef("--mercure-cookie "+mercure.DefaultCookie, "--mercure-cookie %q is not a cookie name", m.cookie)
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
func (m *mercureFlags) handler(h *hub.Hub, store herd.Store, f *serveFlags, logger *slog.Logger) (*mercure.Handler, error) {
	if !m.on() {
		return nil, nil
	}
	k, err := m.keys()
	if err != nil {
		return nil, err
	}
	compatibility := m.compatibility
	if compatibility == 0 {
		compatibility = -1 // the Handler's zero value is the default, 8
	}
	var origins []string // the cookie publishes from pages of these origins
	for _, o := range f.origins() {
		if o != "*" { // "*" lets any page subscribe, never publish
			origins = append(origins, o)
		}
	}
	mh := &mercure.Handler{Hub: h, Store: store, Anonymous: m.anonymous, Subscriptions: m.subscriptions, MaxDataSize: int(f.maxEventSize),
		Logger: logger, Cookie: m.cookie, Compatibility: compatibility, PublishOrigins: origins}
	mh.SetKeys(k)
	return mh, nil
}
