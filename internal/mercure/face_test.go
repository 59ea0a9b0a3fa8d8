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
// filter, and is exact (the hub skips its filter for public updates) when
// each herd topic maps back to its own topic; any pattern, template or *
// indexes it under every Mercure topic.
func TestIndexSelectors(t *testing.T) {
	h := &Handler{}
	for _, tc := range []struct {
		query string
		want  []string
		exact bool
	}{
		{"match=https://example.com/a&match=urn:b", []string{"mercure/https:%2F%2Fexample.com%2Fa", "mercure/urn:b"}, true},
		{"match=https://example.com/a&match=*", []string{"mercure/**"}, false},
		{"match_urlpattern=https://example.com/books/:id", []string{"mercure/**"}, false},
		{"topic=https://example.com/books/{id}", []string{"mercure/**"}, false},
		{"topic=https://example.com/plain", []string{"mercure/https:%2F%2Fexample.com%2Fplain"}, true},
	} {
		q, _ := url.ParseQuery(tc.query)
		sub, _, err := h.parseQuery(q)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		got, exact := sub.indexSelectors()
		if !slices.Equal(got, tc.want) || exact != tc.exact {
			t.Errorf("%s: indexed under %q, exact %v; want %q, %v", tc.query, got, exact, tc.want, tc.exact)
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
