package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// A Signer makes tokens, for herd token and for tests.
type Signer struct {
	alg  string
	hmac []byte
	priv crypto.Signer
}

// HMACSigner signs with an HS256 secret.
func HMACSigner(secret string) (*Signer, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("jwt: an HS256 secret must be at least %d bytes, got %d", MinSecret, len(secret))
	}
	return &Signer{alg: "HS256", hmac: []byte(secret)}, nil
}

// ParsePrivateKey reads a PEM private key ("PRIVATE KEY" PKCS #8, "EC
// PRIVATE KEY" or "RSA PRIVATE KEY") to sign with RS256, ES256 or EdDSA.
func ParsePrivateKey(data []byte) (*Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("jwt: no PEM block found")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("jwt: PEM block of type %q is not a private key", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return signerFor(k)
}

func signerFor(k any) (*Signer, error) {
	switch p := k.(type) {
	case *rsa.PrivateKey:
		return &Signer{alg: "RS256", priv: p}, nil
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, errors.New("jwt: only P-256 ECDSA keys (ES256) are supported")
		}
		return &Signer{alg: "ES256", priv: p}, nil
	case ed25519.PrivateKey:
		return &Signer{alg: "EdDSA", priv: p}, nil
	}
	return nil, fmt.Errorf("jwt: unsupported private key type %T", k)
}

// Alg returns the algorithm the signer uses.
func (s *Signer) Alg() string { return s.alg }

// PublicKeys returns the key set that verifies s's tokens.
func (s *Signer) PublicKeys() *KeySet {
	if s.hmac != nil {
		return &KeySet{keys: []key{{hmac: s.hmac}}}
	}
	k, _ := publicKey(s.priv.Public())
	return &KeySet{keys: []key{k}}
}

// Sign returns a token with c's claims, written as a "herd" claim. A zero
// Expires or NotBefore is left out.
func (s *Signer) Sign(c Claims) (string, error) {
	p := map[string]any{"herd": grants{Publish: c.Publish, Subscribe: c.Subscribe}}
	if !c.Expires.IsZero() {
		p["exp"] = c.Expires.Unix()
	}
	if !c.NotBefore.IsZero() {
		p["nbf"] = c.NotBefore.Unix()
	}
	return s.SignPayload(p)
}

// SignPayload signs any JSON payload, for tests of other claim shapes.
func (s *Signer) SignPayload(payload any) (string, error) {
	h, _ := json.Marshal(header{Alg: s.alg, Typ: "JWT"})
	p, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	return s.signRaw(base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p))
}

// signRaw appends the signature of signed (header.payload).
func (s *Signer) signRaw(signed string) (string, error) {
	var sig []byte
	var err error
	switch {
	case s.hmac != nil:
		mac := hmac.New(sha256.New, s.hmac)
		mac.Write([]byte(signed))
		sig = mac.Sum(nil)
	case s.alg == "EdDSA":
		sig = ed25519.Sign(s.priv.(ed25519.PrivateKey), []byte(signed))
	case s.alg == "ES256":
		digest := sha256.Sum256([]byte(signed))
		r, ss, err := ecdsa.Sign(rand.Reader, s.priv.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	default:
		digest := sha256.Sum256([]byte(signed))
		if sig, err = rsa.SignPKCS1v15(rand.Reader, s.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:]); err != nil {
			return "", err
		}
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
