package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

func TestToken_usage(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not-a-key.pem")
	os.WriteFile(notKey, []byte("hello"), 0o600)
	secret := strings.Repeat("s", 32)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--publish", "a"}, "token needs the key to sign with: --key SECRET (or HERD_JWT_KEY), or --private-key FILE"},
		{[]string{"token", "--key", secret, "--private-key", notKey, "--publish", "a"}, "give one of --key and --private-key"},
		{[]string{"token", "--key", secret}, "grant something"},
		{[]string{"token", "--key", secret, "--publish", "a**"}, "whole segments"},
		{[]string{"token", "--key", secret, "--publish", "a", "--ttl", "-1s"}, "--ttl must not be negative"},
		{[]string{"token", "--key", "short", "--publish", "a"}, "at least 32 bytes"},
		{[]string{"token", "--private-key", notKey, "--publish", "a"}, "no PEM block"},
		{[]string{"token", "--private-key", filepath.Join(dir, "missing.pem"), "--publish", "a"}, "no such file"},
		{[]string{"token", "--key", secret, "--publish", "a", "extra"}, "no arguments"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
	// The secret may come from the environment.
	code, out, errOut := runCLI(t, t.Context(), map[string]string{"HERD_JWT_KEY": secret}, "token", "--subscribe", "a/*")
	if code != 0 || strings.Count(out, ".") != 2 {
		t.Errorf("token from env key: exit %d %q %q", code, out, errOut)
	}
	// --private-key wins over a secret in the environment.
	code, _, errOut = runCLI(t, t.Context(), map[string]string{"HERD_JWT_KEY": secret}, "token", "--private-key", notKey, "--subscribe", "a/*")
	if code != 2 || !strings.Contains(errOut, "no PEM block") {
		t.Errorf("--private-key with HERD_JWT_KEY set: exit %d %q, want the private key used", code, errOut)
	}
}

func TestServe_authFlagErrors(t *testing.T) {
	key := strings.Repeat("k", 32)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--jwt-key", "short"}, 2, "at least 32"},
		{[]string{"--subscribe-auth"}, 2, "--subscribe-auth needs token auth"},
		{[]string{"--token-query"}, 2, "--token-query needs token auth"},
		{[]string{"--jwt-key", key, "--token-cookie", "a b"}, 2, "not a valid cookie name"},
		{[]string{"--jwt-public-key", "/nonexistent/keys.pem"}, 1, "no such file"},
	} {
		code, _, errOut := runCLI(t, t.Context(), nil, append([]string{"serve", "--store", "memory", "--addr", "127.0.0.1:0"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// writeEd25519 writes a new key pair and returns the private key's file,
// writing the public key to pubFile.
func writeEd25519(t *testing.T, dir, name, pubFile string) string {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	privFile := filepath.Join(dir, name+".key")
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600)
	tmp := filepath.Join(dir, name+".pub")
	os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	if err := os.Rename(tmp, pubFile); err != nil {
		t.Fatal(err)
	}
	return privFile
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe_jwt runs herd serve with a public key file: tokens minted by
// herd token publish private events and subscribe to them, the keys are
// rotated on SIGHUP, and a token in the query string never reaches the log.
func TestServe_jwt(t *testing.T) {
	dir := t.TempDir()
	pubFile := filepath.Join(dir, "keys.pem")
	oldKey := writeEd25519(t, dir, "old", pubFile)
	reload := make(chan struct{})
	logs := &syncBuffer{}
	base, stop := startServeWith(t, reload, logs, "--jwt-public-key", pubFile, "--subscribe-auth", "--token-query", "--log-level", "debug")
	defer stop()

	mint := func(key string, grants ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, t.Context(), nil, append([]string{"token", "--private-key", key}, grants...)...)
		if code != 0 {
			t.Fatalf("herd token: %d %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	publisher := mint(oldKey, "--publish", "news/**")
	reader := mint(oldKey, "--subscribe", "news/*")

	resp, err := http.Get(base + "/events?topic=news/1&authorization=" + reader)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe with a query token: %v %v", err, resp)
	}
	defer resp.Body.Close()
	code, _, errOut := runCLI(t, t.Context(), nil, "pub", "--hub", base, "--key", publisher, "--private", "news/1", "for readers only")
	if code != 0 {
		t.Fatalf("herd pub --private: %d %s", code, errOut)
	}
	for e, err := range sse.NewReader(resp.Body).Events() {
		if err != nil {
			t.Fatal(err)
		}
		if e.Data != "for readers only" {
			t.Errorf("got %+v", e)
		}
		break
	}
	if code, _, errOut := runCLI(t, t.Context(), nil, "pub", "--hub", base, "--key", publisher, "other/1", "x"); code != 1 || !strings.Contains(errOut, `not grant publishing to topic "other/1"`) {
		t.Errorf("publish outside the grant: %d %q", code, errOut)
	}

	// Rotate: the file now holds only a new key.
	newKey := writeEd25519(t, dir, "new", pubFile)
	reload <- struct{}{}
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "token keys reloaded") })
	if code, msg := subscribeStatus(t, base, reader); code != 401 || !strings.Contains(msg, "signature") {
		t.Errorf("old token after rotation: %d %q", code, msg)
	}
	if code, msg := subscribeStatus(t, base, mint(newKey, "--subscribe", "news/*")); code != 200 {
		t.Errorf("new token after rotation: %d %q", code, msg)
	}
	// A broken file keeps the keys in use.
	os.WriteFile(pubFile, []byte("garbage"), 0o644)
	reload <- struct{}{}
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "token keys not reloaded") })
	if code, msg := subscribeStatus(t, base, mint(newKey, "--subscribe", "news/*")); code != 200 {
		t.Errorf("after a bad reload: %d %q", code, msg)
	}
	if !strings.Contains(logs.String(), `msg="request refused" method=GET path=/events status=401 err="token refused: signature does not match any key"`) {
		t.Errorf("no debug line for the refused subscription:\n%s", logs)
	}
	if strings.Contains(logs.String(), reader) || strings.Contains(logs.String(), publisher) {
		t.Errorf("a token reached the log:\n%s", logs)
	}
}

func subscribeStatus(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/events?topic=news/2", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body["error"]
}

// waitUntil polls cond until it holds, failing the test after a generous
// bound (not a timing assertion: only a hang is an error).
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServe_limits: the limit flags reach the hub, and an oversize header
// is refused by the server.
func TestServe_limits(t *testing.T) {
	base, stop := startServe(t, "--publish-rate", "0.01", "--publish-burst", "1")
	defer stop()
	post := func() *http.Response {
		resp, err := http.Post(base+"/events", "application/x-www-form-urlencoded", strings.NewReader("topic=a&data=x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(); resp.StatusCode != 200 {
		t.Fatalf("first publish: %d", resp.StatusCode)
	}
	if resp := post(); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second publish: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("Cookie", "big="+strings.Repeat("x", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: %d", resp.StatusCode)
	}
}

// TestServe_metrics: /metrics answers this machine, and others only with
// the publish key.
func TestServe_metrics(t *testing.T) {
	base, stop := startServe(t)
	defer stop()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "herd_subscribers 0") || !strings.Contains(string(body), "herd_http_connections 1") {
		t.Errorf("local scrape: %d\n%s", resp.StatusCode, body)
	}
	// Who else may read them: hub's TestLocalCaller.
	resp, err = http.Get(strings.Replace(base, "127.0.0.1", "localhost", 1) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("scrape naming localhost: %d", resp.StatusCode)
	}
}
