package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const secret = "0123456789abcdef0123456789abcdef"

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func signers(t *testing.T) map[string]*Signer {
	t.Helper()
	hs, err := HMACSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	out := map[string]*Signer{"HS256": hs}
	for _, k := range []any{rk, ek, edk} {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		s, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		out[s.Alg()] = s
	}
	return out
}

func publicPEM(t *testing.T, s *Signer) []byte {
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestRoundTrip(t *testing.T) {
	for alg, s := range signers(t) {
		c := Claims{Expires: now.Add(time.Hour), Publish: []string{"orders/*"}, Subscribe: []string{"orders/42", "news"}}
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		keys := s.PublicKeys()
		if alg != "HS256" { // from the PEM a deployment would configure
			if keys, err = ParsePublicKeys(publicPEM(t, s)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := Verify(tok, keys, now)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if !got.Expires.Equal(c.Expires) || !slices.Equal(got.Publish, c.Publish) || !slices.Equal(got.Subscribe, c.Subscribe) {
			t.Errorf("%s: claims %+v, want %+v", alg, got, c)
		}
	}
}

func TestVerify_rejects(t *testing.T) {
	ss := signers(t)
	hs, rs := ss["HS256"], ss["RS256"]
	good, _ := hs.Sign(Claims{Expires: now.Add(time.Hour)})
	rsaKeys, _ := ParsePublicKeys(publicPEM(t, rs))
	other, _ := HMACKey(strings.Repeat("x", 32))
	// Algorithm confusion: an HS256 token whose secret is the RSA public
	// key's PEM, checked against that public key.
	confused, _ := (&Signer{alg: "HS256", hmac: publicPEM(t, rs)}).Sign(Claims{})
	h := base64.RawURLEncoding.EncodeToString
	none := h([]byte(`{"alg":"none"}`)) + "." + h([]byte(`{}`)) + "."
	expired, _ := hs.Sign(Claims{Expires: now.Add(-time.Minute)})
	early, _ := hs.Sign(Claims{NotBefore: now.Add(time.Minute)})
	badExp, _ := hs.SignPayload(map[string]any{"exp": "tomorrow"})
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name  string
		token string
		keys  *KeySet
		want  error
	}{
		{"another secret", good, other, ErrSignature},
		{"algorithm confusion", confused, rsaKeys, ErrAlgorithm},
		{"alg none", none, hs.PublicKeys(), ErrAlgorithm},
		{"no keys", good, nil, ErrSignature},
		{"expired", expired, hs.PublicKeys(), ErrExpired},
		{"not yet valid", early, hs.PublicKeys(), ErrNotYet},
		{"two parts", parts[0] + "." + parts[1], hs.PublicKeys(), ErrMalformed},
		{"four parts", good + ".x", hs.PublicKeys(), ErrMalformed},
		{"header not base64", "!!." + parts[1] + "." + parts[2], hs.PublicKeys(), ErrMalformed},
		{"signature not base64", parts[0] + "." + parts[1] + ".!!", hs.PublicKeys(), ErrMalformed},
		{"payload changed", parts[0] + "." + h([]byte(`{"herd":{"publish":["**"]}}`)) + "." + parts[2], hs.PublicKeys(), ErrSignature},
		{"bad exp", badExp, hs.PublicKeys(), ErrMalformed},
		{"huge", strings.Repeat("a", MaxTokenSize+1), hs.PublicKeys(), ErrMalformed},
		{"empty", "", hs.PublicKeys(), ErrMalformed},
	} {
		if _, err := Verify(tc.token, tc.keys, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestVerify_leeway(t *testing.T) {
	hs := signers(t)["HS256"]
	for _, tc := range []struct {
		c  Claims
		ok bool
	}{
		{Claims{Expires: now.Add(-Leeway / 2)}, true},
		{Claims{Expires: now.Add(-Leeway)}, false},
		{Claims{NotBefore: now.Add(Leeway / 2)}, true},
		{Claims{NotBefore: now.Add(2 * Leeway)}, false},
		{Claims{}, true}, // no exp: valid until the key changes
	} {
		tok, _ := hs.Sign(tc.c)
		if _, err := Verify(tok, hs.PublicKeys(), now); (err == nil) != tc.ok {
			t.Errorf("%+v: %v, want ok %v", tc.c, err, tc.ok)
		}
	}
	// VerifyExact (Mercure's) allows no grace on exp: a token is refused
	// from its exp on; nbf keeps the allowance.
	for _, tc := range []struct {
		c  Claims
		ok bool
	}{
		{Claims{Expires: now.Add(time.Second)}, true},
		{Claims{Expires: now}, false},
		{Claims{Expires: now.Add(-time.Second)}, false},
		{Claims{NotBefore: now.Add(Leeway / 2)}, true},
		{Claims{NotBefore: now.Add(2 * Leeway)}, false},
	} {
		tok, _ := hs.Sign(tc.c)
		if _, err := VerifyExact(tok, hs.PublicKeys(), now); (err == nil) != tc.ok {
			t.Errorf("exact %+v: %v, want ok %v", tc.c, err, tc.ok)
		}
	}
}

// TestVerify_mercure accepts tokens minted for a Mercure hub, with
// fractional dates.
func TestVerify_mercure(t *testing.T) {
	hs := signers(t)["HS256"]
	tok, _ := hs.SignPayload(map[string]any{
		"exp":     float64(now.Add(time.Hour).Unix()) + 0.5,
		"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"https://example.com/books/1"}},
		"herd":    map[string]any{"subscribe": []string{"books/1"}},
	})
	c, err := Verify(tok, hs.PublicKeys(), now)
	if err != nil {
		t.Fatal(err)
	}
	// Mercure's "*" is every topic: herd's "**".
	if !slices.Equal(c.Publish, []string{"**"}) || !slices.Equal(c.Subscribe, []string{"books/1", "https://example.com/books/1"}) {
		t.Errorf("claims %+v", c)
	}
}

// TestVerify_mercureDetails reads Mercure 1.0's authorization details:
// match with its match_type (exact by default), payloads per detail, other
// detail types and unknown actions ignored; a detail that does not
// validate refuses the whole token, for herd's own API too.
func TestVerify_mercureDetails(t *testing.T) {
	hs := signers(t)["HS256"]
	detail := func(actions []any, topics ...any) map[string]any {
		return map[string]any{"type": MercureDetailType, "actions": actions, "topics": topics}
	}
	good := map[string]any{"exp": now.Add(time.Hour).Unix(), "authorization_details": []any{
		map[string]any{"type": "https://other.example/detail", "topics": "not Mercure's shape"},
		detail([]any{"publish", "future-action"}, map[string]any{"match": "*"}),
		map[string]any{"type": MercureDetailType, "actions": []any{"subscribe"}, "payload": map[string]any{"user": "ann"},
			"topics": []any{map[string]any{"match": "https://example.com/books/:id", "match_type": "urlpattern"}, map[string]any{"match": "a"}}},
	}, "mercure": map[string]any{"publish": []string{"ignored when details are present"}}}
	tok, _ := hs.SignPayload(good)
	c, err := Verify(tok, hs.PublicKeys(), now)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Mercure
	if m == nil || m.Legacy || len(m.Publish) != 1 || m.Publish[0].Kind != MatchExact || m.Publish[0].Value != "*" ||
		len(m.Subscribe) != 2 || m.Subscribe[0].Kind != MatchURLPattern || m.Subscribe[1].Kind != MatchExact ||
		string(m.Subscribe[1].Payload) != `{"user":"ann"}` {
		t.Errorf("grants %+v", m)
	}
	many := make([]any, MaxMercureTopics+1)
	for i := range many {
		many[i] = map[string]any{"match": "t"}
	}
	for name, details := range map[string][]any{
		"unsupported match_type": {detail([]any{"subscribe"}, map[string]any{"match": "a", "match_type": "regexp"})},
		"no match":               {detail([]any{"subscribe"}, map[string]any{"match_type": "exact"})},
		"a string topic":         {detail([]any{"subscribe"}, "a")},
		"no actions":             {detail([]any{}, map[string]any{"match": "a"})},
		"a number as action":     {detail([]any{1}, map[string]any{"match": "a"})},
		"no topics":              {detail([]any{"subscribe"})},
		"too many topics":        {detail([]any{"subscribe"}, many...)},
		"a payload not an object": {map[string]any{"type": MercureDetailType, "actions": []any{"subscribe"},
			"topics": []any{map[string]any{"match": "a"}}, "payload": "x"}},
	} {
		tok, _ := hs.SignPayload(map[string]any{"exp": now.Add(time.Hour).Unix(), "authorization_details": details})
		if _, err := Verify(tok, hs.PublicKeys(), now); !errors.Is(err, ErrClaims) {
			t.Errorf("%s: %v, want ErrClaims", name, err)
		}
		a := NewAuthenticator(hs.PublicKeys())
		a.now = func() time.Time { return now }
		if _, err := a.Authenticate(tok); err == nil || !strings.Contains(err.Error(), "invalid claims") {
			t.Errorf("%s: herd's own API: %v, want the claims refused", name, err)
		}
	}
}

// TestAuthenticator: grants carry valid selectors only and expire when
// the token stops being accepted; replaced keys apply at once.
func TestAuthenticator(t *testing.T) {
	hs := signers(t)["HS256"]
	a := NewAuthenticator(hs.PublicKeys())
	a.now = func() time.Time { return now }
	tok, _ := hs.Sign(Claims{Expires: now.Add(time.Minute), Publish: []string{"a/*", "https://x/{id}"}, Subscribe: []string{"**"}})
	g, err := a.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Publish, []string{"a/*"}) || !slices.Equal(g.Subscribe, []string{"**"}) ||
		!g.Expires.Equal(now.Add(time.Minute+Leeway).Truncate(time.Second)) {
		t.Errorf("grant %+v", g)
	}
	other, _ := HMACSigner(strings.Repeat("k", 40))
	a.SetKeys(other.PublicKeys())
	if _, err := a.Authenticate(tok); err == nil || strings.HasPrefix(err.Error(), "jwt:") {
		t.Errorf("old key after rotation: %v", err)
	}
}

// TestKeyRotation: a PEM file with the old and the new key accepts tokens
// of both.
func TestKeyRotation(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s1, _ := signerFor(k1)
	s2, _ := signerFor(ek)
	keys, err := ParsePublicKeys(append(publicPEM(t, s1), publicPEM(t, s2)...))
	if err != nil || keys.Len() != 2 {
		t.Fatalf("%v, %d keys", err, keys.Len())
	}
	for _, s := range []*Signer{s1, s2} {
		tok, _ := s.Sign(Claims{})
		if _, err := Verify(tok, keys, now); err != nil {
			t.Errorf("%s: %v", s.Alg(), err)
		}
	}
	if keys.Merge(nil) != keys || (*KeySet)(nil).Merge(keys) != keys {
		t.Error("Merge with nil")
	}
}

func TestKeyErrors(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkix := func(k any) []byte {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	der, _ := x509.MarshalPKCS8PrivateKey(p384)
	for _, tc := range []struct {
		pem  []byte
		want string
	}{
		{nil, "no PEM public key"},
		{[]byte("not pem"), "no PEM public key"},
		{pkix(&small.PublicKey), "at least 2048"},
		{pkix(&p384.PublicKey), "only P-256"},
		{pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "give the public key only"},
		{pem.EncodeToMemory(&pem.Block{Type: "THING", Bytes: []byte{1}}), `unexpected type "THING"`},
		{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "PEM block 1"},
	} {
		if _, err := ParsePublicKeys(tc.pem); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: %v, want %q", tc.pem, err, tc.want)
		}
	}
	if _, err := HMACKey("short"); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("short secret: %v", err)
	}
	if _, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Errorf("P-384 private key: %v", err)
	}
	if _, err := ParsePrivateKey([]byte("nope")); err == nil {
		t.Error("no PEM: no error")
	}
}

// FuzzVerify: no input panics, and a token that verifies is one the
// signer made (its claims round-trip).
func FuzzVerify(f *testing.F) {
	hs, _ := HMACSigner(secret)
	good, _ := hs.Sign(Claims{Expires: now.Add(time.Hour), Publish: []string{"a"}})
	f.Add(good)
	f.Add("a.b.c")
	f.Add("")
	f.Add(strings.Repeat(".", 10))
	keys := hs.PublicKeys()
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(tok, keys, now)
		if err != nil {
			return
		}
		// Accepted: re-signing its signed part must give its signature.
		i := strings.LastIndex(tok, ".")
		again, _ := (&Signer{alg: "HS256", hmac: []byte(secret)}).signRaw(tok[:i])
		if again != tok {
			t.Fatalf("accepted %q (claims %+v), which the signer would sign as %q", tok, c, again)
		}
	})
}
