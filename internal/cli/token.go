package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/internal/jwt"
)

const tokenSynopsis = "[--key SECRET | --private-key FILE] [--mercure] [--publish SELECTOR]... [--subscribe SELECTOR]... [--ttl 1h]"

// runToken is herd token: mint a token for development and scripts.
func runToken(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("token", tokenSynopsis, io)
	key := fs.String("key", "", "HS256 `SECRET`, as given to herd serve --jwt-key (env HERD_JWT_KEY)")
	privateKey := fs.String("private-key", "", "PEM private key `FILE` (RSA, ECDSA P-256 or Ed25519) whose public key herd serve --jwt-public-key reads")
	var publish, subscribe stringList
	fs.Var(&publish, "publish", "topic `SELECTOR` the token may publish to (repeatable)")
	fs.Var(&subscribe, "subscribe", "topic `SELECTOR` the token may subscribe to and receive private events of (repeatable)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid; 0: forever")
	mercure := fs.Bool("mercure", false, "grant as Mercure does: a mercure claim with Mercure's selectors (* for every topic, URI templates), for the Mercure endpoint")
	rest, err := parseFlags(fs, args, io, nil)
	if err != nil {
		return err
	}
	if *key == "" && *privateKey == "" {
		// HERD_JWT_KEY only when no key is given: --private-key wins.
		*key = io.getenv("HERD_JWT_KEY")
	}
	const hint = `herd token --key "$HERD_JWT_KEY" --publish 'orders/**' --subscribe 'orders/*' --ttl 1h`
	switch {
	case len(rest) > 0:
		return usagef(hint, "token takes no arguments, got %q", rest[0])
	case *key == "" && *privateKey == "":
		return usagef(hint, "token needs the key to sign with: --key SECRET (or HERD_JWT_KEY), or --private-key FILE")
	case *key != "" && *privateKey != "":
		return usagef(hint, "give one of --key and --private-key")
	case len(publish) == 0 && len(subscribe) == 0:
		return usagef(hint, "grant something: --publish or --subscribe")
	case *ttl < 0:
		return usagef(hint, "--ttl must not be negative")
	}
	if !*mercure { // Mercure's selectors are any strings
		for _, sel := range append(publish, subscribe...) {
			if err := herd.ValidateSelector(sel); err != nil {
				return usagef(hint, "%v", err)
			}
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
	var tok string
	if *mercure {
		payload := map[string]any{"mercure": map[string][]string{"publish": publish, "subscribe": subscribe}}
		if *ttl > 0 {
			payload["exp"] = time.Now().Add(*ttl).Unix()
		}
		tok, err = signer.SignPayload(payload)
	} else {
		c := jwt.Claims{Publish: publish, Subscribe: subscribe}
		if *ttl > 0 {
			c.Expires = time.Now().Add(*ttl)
		}
		tok, err = signer.Sign(c)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(io.Stdout, tok)
	return err
}
