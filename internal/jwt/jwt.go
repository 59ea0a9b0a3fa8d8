// Package jwt verifies and signs the JSON Web Tokens herd accepts: compact
// JWS with HS256, RS256, ES256 or EdDSA, carrying herd's (or Mercure's)
// publish and subscribe claims. Standard library only.
//
// Only what herd needs is implemented, and nothing is negotiable by the
// token: the algorithm a token names must match the kind of key it is
// checked with (an HMAC secret never checks an RS256 token, a public key
// never checks an HS256 one), "none" is never accepted, and exp and nbf are
// enforced with a small allowance for clock skew.
package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Claims are the parts of a token's payload herd reads.
type Claims struct {
	Expires   time.Time // exp; zero if absent
	NotBefore time.Time // nbf; zero if absent
	// Publish and Subscribe are the topic selectors the token grants, from
	// its "herd" claim and its "mercure" claim together.
	Publish   []string
	Subscribe []string
	// Mercure holds the token's Mercure grants as Mercure reads them, for
	// the Mercure protocol endpoint; nil if the token has none.
	Mercure *MercureGrants
}

// Errors. Verify wraps them with detail; test with errors.Is.
var (
	ErrMalformed = errors.New("jwt: malformed token")
	ErrAlgorithm = errors.New("jwt: algorithm not accepted")
	ErrSignature = errors.New("jwt: signature does not match any key")
	ErrExpired   = errors.New("jwt: token expired")
	ErrNotYet    = errors.New("jwt: token not valid yet")
	// ErrClaims: a claim herd reads does not validate (Mercure's
	// authorization details, say); the token grants nothing.
	ErrClaims = errors.New("jwt: invalid claims")
)

// Leeway is the clock skew allowed on exp and nbf by Verify. VerifyExact
// allows none on exp, as Mercure requires.
const Leeway = 30 * time.Second

// MaxTokenSize bounds the tokens Verify reads.
const MaxTokenSize = 8 << 10

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
}

type grants struct {
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
}

type payload struct {
	Exp     *numericDate      `json:"exp"`
	Nbf     *numericDate      `json:"nbf"`
	Herd    *grants           `json:"herd"`
	Mercure *mercureClaim     `json:"mercure"`
	Details []json.RawMessage `json:"authorization_details"`
}

// numericDate is seconds since the epoch, integer or not.
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return fmt.Errorf("not a NumericDate: %s", b)
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// Verify checks token against keys at time now and returns its claims,
// allowing Leeway on exp and nbf.
func Verify(token string, keys *KeySet, now time.Time) (Claims, error) {
	return verify(token, keys, now, Leeway)
}

// VerifyExact is Verify with no allowance on exp: a token is refused from
// the second it expires (Mercure's rule). nbf keeps Leeway.
func VerifyExact(token string, keys *KeySet, now time.Time) (Claims, error) {
	return verify(token, keys, now, 0)
}

func verify(token string, keys *KeySet, now time.Time, expLeeway time.Duration) (Claims, error) {
	if len(token) > MaxTokenSize {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return Claims{}, fmt.Errorf("%w: want header.payload.signature", ErrMalformed)
	}
	var h header
	if err := decodeJSON(h64, &h); err != nil {
		return Claims{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	// Strict: one signature has one encoding, so a token cannot be
	// altered into another that still verifies.
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s64)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if err := keys.verify(h.Alg, []byte(token[:len(h64)+1+len(p64)]), sig); err != nil {
		return Claims{}, err
	}
	var p payload
	if err := decodeJSON(p64, &p); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var c Claims
	if p.Exp != nil {
		c.Expires = p.Exp.Time
		if !now.Before(c.Expires.Add(expLeeway)) {
			return c, fmt.Errorf("%w at %s", ErrExpired, c.Expires.UTC().Format(time.RFC3339))
		}
	}
	if p.Nbf != nil {
		c.NotBefore = p.Nbf.Time
		if now.Add(Leeway).Before(c.NotBefore) {
			return c, fmt.Errorf("%w: not before %s", ErrNotYet, c.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if g := p.Herd; g != nil {
		c.Publish = append(c.Publish, g.Publish...)
		c.Subscribe = append(c.Subscribe, g.Subscribe...)
	}
	if g := p.Mercure; g != nil {
		c.Publish = append(c.Publish, fromMercure(g.Publish)...)
		c.Subscribe = append(c.Subscribe, fromMercure(g.Subscribe)...)
	}
	m, err := mercureGrants(p.Mercure, p.Details)
	if err != nil {
		return c, err
	}
	c.Mercure = m
	return c, nil
}

// fromMercure maps Mercure's selectors onto herd's: "*", every topic to
// Mercure, is "**" to herd. Others are taken as they are.
func fromMercure(sels []string) []string {
	out := make([]string, len(sels))
	for i, s := range sels {
		if s == "*" {
			s = "**"
		}
		out[i] = s
	}
	return out
}

func decodeJSON(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// verify checks sig over signed with the keys that alg applies to.
func (ks *KeySet) verify(alg string, signed, sig []byte) error {
	if ks == nil {
		return fmt.Errorf("%w: no keys configured", ErrSignature)
	}
	digest := sha256.Sum256(signed)
	tried := false
	for _, k := range ks.keys {
		if k.alg() != alg {
			continue
		}
		tried = true
		if k.verify(signed, digest[:], sig) {
			return nil
		}
	}
	if !tried {
		return fmt.Errorf("%w: %q (the keys configured accept %s)", ErrAlgorithm, alg, ks.algs())
	}
	return ErrSignature
}

// A key is one verification key.
type key struct {
	hmac    []byte
	rsa     *rsa.PublicKey
	ecdsa   *ecdsa.PublicKey
	ed25519 ed25519.PublicKey
}

func (k key) alg() string {
	switch {
	case k.hmac != nil:
		return "HS256"
	case k.rsa != nil:
		return "RS256"
	case k.ecdsa != nil:
		return "ES256"
	case k.ed25519 != nil:
		return "EdDSA"
	}
	return ""
}

func (k key) verify(signed, digest, sig []byte) bool {
	switch {
	case k.hmac != nil:
		mac := hmac.New(sha256.New, k.hmac)
		mac.Write(signed)
		return hmac.Equal(mac.Sum(nil), sig)
	case k.rsa != nil:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case k.ecdsa != nil:
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ecdsa, digest, r, s)
	case k.ed25519 != nil:
		return ed25519.Verify(k.ed25519, signed, sig)
	}
	return false
}
