package mercure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/herd-sse/herd/internal/jwt"
)

// Mercure 1.0's subscriptions: events of type "mercure" to
// /subscriptions/{match_type}/{match}/{subscriber}, with the payload of
// the first authorization detail matching the matcher, to subscribers
// whose token grants them only; the API's 1.0 paths.
func TestSubscriptions_current(t *testing.T) {
	f := newFixture(t, true, func(h *Handler) { h.Subscriptions = true })
	watched := subscriptionsPath + "/:type/:match/:subscriber"
	detail := func(action string, payload any, topics ...map[string]string) map[string]any {
		d := map[string]any{"type": jwt.MercureDetailType, "actions": []string{action}, "topics": topics}
		if payload != nil {
			d["payload"] = payload
		}
		return d
	}
	watcher := f.signerToken(map[string]any{"authorization_details": []any{
		detail("subscribe", nil, map[string]string{"match": subscriptionsPath + "/*", "match_type": "urlpattern"}, map[string]string{"match": subscriptionsPath}),
	}})
	_, next := f.stream("match_urlpattern="+url.QueryEscape(watched), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+watcher) })
	next() // its own subscription
	// An anonymous watcher is not granted the private events.
	_, anon := f.stream("match_urlpattern="+url.QueryEscape(watched)+"&match=public", nil)
	for range 2 { // its two subscriptions, which the watcher sees
		if e := next(); !strings.Contains(e.Data, `"active":true`) {
			t.Fatalf("the anonymous watcher's subscription: %+v", e)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	user := f.signerToken(map[string]any{"authorization_details": []any{
		detail("subscribe", map[string]string{"for": "books"}, map[string]string{"match": "https://example.com/books/:id", "match_type": "urlpattern"}),
		detail("subscribe", map[string]string{"for": "everything"}, map[string]string{"match": "*"}),
	}})
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"?match_urlpattern="+url.QueryEscape("https://example.com/books/:id"), nil)
	req.Header.Set("Authorization", "Bearer "+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e := next()
	var started subscription
	if err := json.Unmarshal([]byte(e.Data), &started); err != nil {
		t.Fatal(err)
	}
	wantID := subscriptionsPath + "/urlpattern/" + escapeSegment("https://example.com/books/:id") + "/" + escapeSegment(started.Subscriber)
	if e.Type != "mercure" || e.ID != "" || started.ID != wantID || started.Type != "subscription" || started.MatchType != "urlpattern" ||
		started.Match != "https://example.com/books/:id" || !started.Active || string(started.Payload) != `{"for":"books"}` || started.Topic != "" {
		t.Errorf("subscription event %+v: %s", e, e.Data)
	}
	if !strings.Contains(started.ID, "https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/urn%3Auuid%3A") {
		t.Errorf("id %q: the matcher and subscriber are not encoded once, whole", started.ID)
	}

	get := func(path string) (int, http.Header, map[string]any) {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+watcher)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, resp.Header, body
	}
	status, header, one := get(started.ID)
	if status != 200 || one["match_type"] != "urlpattern" || header.Get("Content-Type") != "application/json" ||
		!strings.Contains(header.Get("Link"), `rel="mercure"; last-event-id="`) {
		t.Errorf("one subscription: %d %v %v", status, header, one)
	}
	status, _, list := get(subscriptionsPath + "/urlpattern/" + escapeSegment("https://example.com/books/:id"))
	if status != 200 || list["type"] != "subscriptions" || len(list["subscriptions"].([]any)) != 1 {
		t.Errorf("the subscriptions of a matcher: %d %v", status, list)
	}
	if status, _, _ := get(subscriptionsPath + "/regexp/a/b"); status != 400 {
		t.Errorf("an unsupported matcher type: %d, want 400", status)
	}

	cancel()
	resp.Body.Close()
	if e := next(); !strings.Contains(e.Data, `"active":false`) || e.Type != "mercure" {
		t.Errorf("subscription ended: %+v", e)
	}
	f.mustPost(url.Values{"topic": {"public"}, "data": {"public"}})
	if e := anon(); e.Data != "public" {
		t.Errorf("the anonymous watcher got %q first, want only the public update", e.Data)
	}
}
