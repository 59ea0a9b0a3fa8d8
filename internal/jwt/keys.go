package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A KeySet is the keys tokens are checked with. A token is accepted if any
// key of its algorithm verifies it, so that a file holding the old and the
// new public key lets tokens of both pass while signers move over.
// A KeySet is immutable.
type KeySet struct {
	keys []key
}

// MinSecret is the shortest HS256 secret accepted, in bytes: RFC 7518
// asks for a key at least as long as the hash.
const MinSecret = 32

// HMACKey returns a key set of one HS256 secret.
func HMACKey(secret string) (*KeySet, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("jwt: an HS256 secret must be at least %d bytes, got %d", MinSecret, len(secret))
	}
	return &KeySet{keys: []key{{hmac: []byte(secret)}}}, nil
}

// ParsePublicKeys reads the PEM blocks of data: "PUBLIC KEY" (PKIX: RSA,
// ECDSA P-256 or Ed25519), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE".
// Blocks of other types are an error, so that a private key handed over
// by mistake is not silently used.
func ParsePublicKeys(data []byte) (*KeySet, error) {
	ks := &KeySet{}
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			if strings.Contains(b.Type, "PRIVATE") {
				return nil, fmt.Errorf("jwt: PEM block %d is a %s: give the public key only", n, b.Type)
			}
			return nil, fmt.Errorf("jwt: PEM block %d: unexpected type %q", n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("jwt: PEM block %d: %w", n, err)
		}
		k, err := publicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("jwt: PEM block %d: %w", n, err)
		}
		ks.keys = append(ks.keys, k)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("jwt: no PEM public key found")
	}
	return ks, nil
}

func publicKey(pub any) (key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return key{}, fmt.Errorf("RSA key of %d bits: at least 2048 needed", p.N.BitLen())
		}
		return key{rsa: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return key{}, fmt.Errorf("ECDSA key on %s: only P-256 (ES256) is accepted", p.Curve.Params().Name)
		}
		return key{ecdsa: p}, nil
	case ed25519.PublicKey:
		return key{ed25519: p}, nil
	}
	return key{}, fmt.Errorf("unsupported key type %T", pub)
}

// Merge returns a key set with the keys of both.
func (ks *KeySet) Merge(other *KeySet) *KeySet {
	if ks == nil {
		return other
	}
	if other == nil {
		return ks
	}
	return &KeySet{keys: slices.Concat(ks.keys, other.keys)}
}

// Len returns the number of keys.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

func (ks *KeySet) algs() string {
	var algs []string
	for _, k := range ks.keys {
		if !slices.Contains(algs, k.alg()) {
			algs = append(algs, k.alg())
		}
	}
	return strings.Join(algs, ", ")
}
