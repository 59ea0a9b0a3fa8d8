package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
)

// authFlags configure token auth: the keys tokens are checked with, and
// where tokens are read from.
type authFlags struct {
	jwtKey        string // HS256 secret
	jwtPublicKey  string // PEM file of public keys
	subscribeAuth bool
	tokenCookie   string
	tokenQuery    bool
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.jwtKey, "jwt-key", "", "check tokens signed with this HS256 `SECRET` (at least 32 bytes; prefer env HERD_JWT_KEY: flags show in ps)")
	fs.StringVar(&a.jwtPublicKey, "jwt-public-key", "", "check RS256, ES256 and EdDSA tokens with the public keys of this PEM `FILE`; reread on SIGHUP")
	fs.BoolVar(&a.subscribeAuth, "subscribe-auth", false, "every subscription needs a token granting its topics")
	fs.StringVar(&a.tokenCookie, "token-cookie", hub.DefaultTokenCookie, "cookie `NAME` a browser's token is read from")
	fs.BoolVar(&a.tokenQuery, "token-query", false, "also accept the token as ?authorization=… (URLs end up in logs: prefer the cookie)")
}

func (a *authFlags) on() bool { return a.jwtKey != "" || a.jwtPublicKey != "" }

func (a *authFlags) check() error {
	const hint = "herd serve --jwt-key \"$(openssl rand -hex 32)\"   (or --jwt-public-key keys.pem)"
	switch {
	case a.jwtKey != "" && len(a.jwtKey) < jwt.MinSecret:
		return usagef(hint, "--jwt-key is %d bytes: an HS256 secret needs at least %d", len(a.jwtKey), jwt.MinSecret)
	case a.subscribeAuth && !a.on():
		return usagef(hint+" --subscribe-auth", "--subscribe-auth needs token auth: give --jwt-key or --jwt-public-key")
	case a.tokenQuery && !a.on():
		return usagef(hint+" --token-query", "--token-query needs token auth: give --jwt-key or --jwt-public-key")
	case a.tokenCookie == "" || !validCookieName(a.tokenCookie):
		return usagef("herd serve --token-cookie herdAuthorization", "--token-cookie %q is not a valid cookie name", a.tokenCookie)
	}
	return nil
}

func validCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '=' || c == ';' || c == ',' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// keys reads the key set the flags name.
func (a *authFlags) keys() (*jwt.KeySet, error) {
	var ks *jwt.KeySet
	if a.jwtKey != "" {
		var err error
		if ks, err = jwt.HMACKey(a.jwtKey); err != nil {
			return nil, err
		}
	}
	if a.jwtPublicKey != "" {
		data, err := os.ReadFile(a.jwtPublicKey)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key: %w", err)
		}
		pub, err := jwt.ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key %s: %w", a.jwtPublicKey, err)
		}
		ks = ks.Merge(pub)
	}
	return ks, nil
}

// authenticator returns the hub's Authenticator, nil when auth is off.
func (a *authFlags) authenticator() (*jwt.Authenticator, error) {
	if !a.on() {
		return nil, nil
	}
	ks, err := a.keys()
	if err != nil {
		return nil, err
	}
	return jwt.NewAuthenticator(ks), nil
}

// reload rereads the public key file into auth; on failure the keys in
// use stay.
func (a *authFlags) reload(auth *jwt.Authenticator, logger *slog.Logger) {
	if auth == nil || a.jwtPublicKey == "" {
		return
	}
	ks, err := a.keys()
	if err != nil {
		logger.Error("token keys not reloaded; the current ones stay in use", "err", err)
		return
	}
	auth.SetKeys(ks)
	logger.Info("token keys reloaded", "file", a.jwtPublicKey, "keys", ks.Len())
}

// hubConfig sets the auth fields of cfg.
func (a *authFlags) hubConfig(cfg *hub.Config, auth hub.Authenticator) {
	cfg.Auth = auth
	cfg.SubscribeAuth, cfg.TokenCookie, cfg.TokenQuery = a.subscribeAuth, a.tokenCookie, a.tokenQuery
}
