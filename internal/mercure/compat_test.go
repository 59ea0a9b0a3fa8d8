package mercure

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/internal/jwt"
)

// With 0.x compatibility off, only the current specification is served:
// the mercure claim grants nothing, the topic parameter is refused, and
// the token is read from the Authorization header and the configured
// cookie only.
func TestCompatibility_off(t *testing.T) {
	f := newFixture(t, false, func(h *Handler) { h.Compatibility = -1; h.Cookie = "hub_token" })
	legacy := f.token(map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}})
	detail := func(action string) map[string]any {
		return map[string]any{"type": jwt.MercureDetailType, "actions": []string{action}, "topics": []any{map[string]string{"match": "*"}}}
	}
	current := f.signerToken(map[string]any{"authorization_details": []any{detail("publish"), detail("subscribe")}})
	if status, _, _ := f.post(legacy, url.Values{"topic": {"t"}}); status != 403 {
		t.Errorf("a 0.x token publishing: %d, want 403", status)
	}
	if status, _, body := f.post(current, url.Values{"topic": {"t"}}); status != 200 {
		t.Errorf("a 1.0 token publishing: %d %s", status, body)
	}
	for _, tc := range []struct {
		name   string
		query  string
		setup  func(*http.Request)
		status int
	}{
		{"the topic parameter", "topic=t", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+current) }, 400},
		{"the authorization parameter", "match=t&authorization=" + current, nil, 401},
		{"the 0.x cookie", "match=t", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: LegacyCookie, Value: current}) }, 401},
		{"the default cookie, renamed", "match=t", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: DefaultCookie, Value: current}) }, 401},
		{"the configured cookie", "match=t", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "hub_token", Value: current}) }, 200},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+"?"+tc.query, nil)
		if tc.setup != nil {
			tc.setup(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

// Refusals carry RFC 6750's Bearer challenge: bare without a token, with
// invalid_token for a refused one (an expired one from its exp on, with
// no grace), insufficient_scope for a missing grant.
func TestAuthenticate_challenges(t *testing.T) {
	f := newFixture(t, false)
	now := time.Now()
	f.handler.now = func() time.Time { return now }
	expired, _ := f.signer.SignPayload(map[string]any{"exp": now.Unix(), "mercure": publisher})
	badType := f.signerToken(map[string]any{"authorization_details": []any{map[string]any{"type": jwt.MercureDetailType,
		"actions": []string{"publish"}, "topics": []any{map[string]string{"match": "*", "match_type": "regexp"}}}}})
	badPattern := f.token(map[string]any{"publish": []string{"https://x/{id"}})
	for _, tc := range []struct {
		name, token string
		status      int
		challenge   string
	}{
		{"no token", "", 401, "Bearer"},
		{"expired at exp", expired, 401, `Bearer error="invalid_token"`},
		{"unsupported match_type", badType, 401, `Bearer error="invalid_token"`},
		{"a grant that does not compile", badPattern, 401, `Bearer error="invalid_token"`},
		{"not granted", f.token(map[string]any{"publish": []string{"other"}}), 403, `Bearer error="insufficient_scope"`},
	} {
		req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader("topic=t"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
		}
	}
}
