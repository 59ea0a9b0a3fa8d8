package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
)

const tokenSynopsis = "[--key SECRET | --private-key FILE] [--publish SELECTOR]... [--subscribe SELECTOR]... [--ttl 1h]"

// runToken is herd token: mint a token for development and scripts.
func runToken(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("token", tokenSynopsis, io)
	key := fs.String("key", "", "HS256 secret, as given to herd serve --jwt-key (env HERD_JWT_KEY)")
	privateKey := fs.String("private-key", "", "PEM private key (RSA, ECDSA P-256 or Ed25519) whose public key herd serve --jwt-public-key reads")
	var publish, subscribe stringList
	fs.Var(&publish, "publish", "topic selector the token may publish to (repeatable)")
	fs.Var(&subscribe, "subscribe", "topic selector the token may subscribe to and receive private events of (repeatable)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid; 0: forever")
	rest, err := parseFlags(fs, args, io, map[string]string{"key": "HERD_JWT_KEY"})
	if err != nil {
		return err
	}
	const hint = `herd token --key "$HERD_JWT_KEY" --publish 'orders/**' --subscribe 'orders/*' --ttl 1h`
	switch {
	case len(rest) > 0:
		return usagef(hint, "token takes no arguments, got %q", rest[0])
	case (*key == "") == (*privateKey == ""):
		return usagef(hint, "give one of --key and --private-key")
	case len(publish) == 0 && len(subscribe) == 0:
		return usagef(hint, "grant something: --publish or --subscribe")
	case *ttl < 0:
		return usagef(hint, "--ttl must not be negative")
	}
	for _, sel := range append(publish, subscribe...) {
		if err := hub.ValidateSelector(sel); err != nil {
			return usagef(hint, "%v", err)
		}
	}
	var signer *jwt.Signer
	if *key != "" {
		signer, err = jwt.HMACSigner(*key)
	} else {
		var data []byte
		if data, err = os.ReadFile(*privateKey); err == nil {
			signer, err = jwt.ParsePrivateKey(data)
		}
	}
	if err != nil {
		return usagef(hint, "%v", err)
	}
	c := jwt.Claims{Publish: publish, Subscribe: subscribe}
	if *ttl > 0 {
		c.Expires = time.Now().Add(*ttl)
	}
	tok, err := signer.Sign(c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(io.Stdout, tok)
	return err
}
