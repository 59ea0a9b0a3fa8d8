package mercure

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestIndexSelectors: a subscription of exact topics is indexed under
// their herd topics only, so updates to other topics never reach its
// filter; any pattern, template or * indexes it under every Mercure topic.
func TestIndexSelectors(t *testing.T) {
	h := &Handler{}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"match=https://example.com/a&match=urn:b", []string{"mercure/https:%2F%2Fexample.com%2Fa", "mercure/urn:b"}},
		{"match=https://example.com/a&match=*", []string{"mercure/**"}},
		{"match_urlpattern=https://example.com/books/:id", []string{"mercure/**"}},
		{"topic=https://example.com/books/{id}", []string{"mercure/**"}},
		{"topic=https://example.com/plain", []string{"mercure/https:%2F%2Fexample.com%2Fplain"}},
	} {
		q, _ := url.ParseQuery(tc.query)
		sub, _, err := h.parseQuery(q)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if got := sub.indexSelectors(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: indexed under %q, want %q", tc.query, got, tc.want)
		}
	}
}

// TestSubscribe_tokenExpires: a stream ends when its subscriber's token
// expires, without an event (Mercure has none for it).
func TestSubscribe_tokenExpires(t *testing.T) {
	f := newFixture(t, false)
	tok, err := f.signer.SignPayload(map[string]any{"exp": time.Now().Add(2 * time.Second).Unix(), "mercure": map[string]any{"subscribe": []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := f.stream("match=*", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rest, err := io.ReadAll(resp.Body) // returns once the hub ends the stream
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rest), "\n") {
		if strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
			t.Errorf("the stream sent %q before it ended: %q", line, rest)
		}
	}
}
