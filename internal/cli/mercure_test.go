package cli

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/jwt"
)

func TestServe_mercureFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mercure-anonymous"}, "need --mercure-publisher-jwt-key"},
		{[]string{"--mercure-subscriptions"}, "need --mercure-publisher-jwt-key"},
		{[]string{"--mercure-subscriber-jwt-key", strings.Repeat("k", 32)}, "need --mercure-publisher-jwt-key"},
		{[]string{"--mercure-publisher-jwt-key", strings.Repeat("k", 32), "--mercure-protocol-version-compatibility", "9"}, "want 8 (or 7)"},
		{[]string{"--mercure-publisher-jwt-key", strings.Repeat("k", 32), "--mercure-cookie", "a;b"}, "is not a cookie name"},
		{[]string{"--mercure-publisher-jwt-key", "short"}, "--mercure-publisher-jwt-key is 5 bytes: an HS256 secret needs at least 32"},
		{[]string{"--mercure-publisher-jwt-key", strings.Repeat("k", 32), "--mercure-subscriber-jwt-key", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----"}, "--mercure-subscriber-jwt-key"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, append([]string{"serve", "--store", "memory", "--addr", "127.0.0.1:0"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 with %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, strings.Repeat("k", 32)) {
			t.Errorf("%q: the key is in the error: %q", tc.args, errOut)
		}
	}
}

// TestServe_mercure: herd serve with a Mercure key serves the Mercure
// protocol; herd token --mercure mints the tokens it takes.
func TestServe_mercure(t *testing.T) {
	key := "!ChangeThisMercureHubJWTSecretKey!"
	base, stop := startServe(t, "--mercure-publisher-jwt-key", key)
	defer stop()
	code, tok, errOut := runCLI(t, t.Context(), nil, "token", "--mercure", "--key", key, "--publish", "*", "--subscribe", "https://example.com/books/{id}")
	if code != 0 {
		t.Fatalf("herd token --mercure: exit %d %s", code, errOut)
	}
	tok = strings.TrimSpace(tok)
	keys, _ := jwt.HMACKey(key)
	c, err := jwt.Verify(tok, keys, time.Now())
	if err != nil || c.Mercure == nil || len(c.Mercure.Publish) != 1 || c.Mercure.Subscribe[0].Value != "https://example.com/books/{id}" || c.Expires.IsZero() {
		t.Fatalf("token %+v %+v, %v", c, c.Mercure, err)
	}
	req, _ := http.NewRequest("POST", base+"/.well-known/mercure", strings.NewReader(url.Values{"topic": {"https://example.com/books/1"}, "data": {"x"}, "id": {"urn:1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "urn:1" {
		t.Errorf("Mercure publish: %d %q", resp.StatusCode, b)
	}
	// Without --mercure-anonymous, a subscriber needs a token.
	resp, err = http.Get(base + "/.well-known/mercure?match=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("anonymous Mercure subscriber: %d, want 401", resp.StatusCode)
	}
}
