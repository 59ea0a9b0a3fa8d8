package mercure

import (
	"strings"
	"testing"
	"testing/quick"

	"github.com/herd-sse/herd"
)

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		kind, sel, topic string
		want             bool
	}{
		{"exact", "foo", "foo", true},
		{"exact", "foo", "foobar", false},
		{"exact", "*", "anything at all", true},
		{"exact", "https://example.com/books/{id}", "https://example.com/books/1", false}, // match is exact
		{"topic", "https://example.com/books/{id}", "https://example.com/books/1", true},
		{"topic", "https://example.com/books/{id}", "https://example.com/books/1/reviews", false},
		{"topic", "https://example.com/{+path}", "https://example.com/a/b/c", true},
		{"topic", "https://example.com/books{/id}", "https://example.com/books", true},
		{"topic", "https://example.com/books{?page}", "https://example.com/books?page=2", true},
		{"topic", "https://example.com/books/1", "https://example.com/books/1", true},
		{"topic", "*", "x", true},
		{"urlpattern", "https://example.net/foo/:random", "https://example.net/foo/abc", true},
		{"urlpattern", "https://example.net/foo/:random", "https://example.net/foo/abc/def", false},
		{"urlpattern", "https://example.net/foo/:random", "https://example.net/bar/abc", false},
		{"urlpattern", "https://example.net/foo/*", "https://example.net/foo/a/b", true},
		{"urlpattern", "https://example.net:8080/:id(\\d+)", "https://example.net:8080/42", true},
		{"urlpattern", "https://example.net:8080/:id(\\d+)", "https://example.net:8080/x", false},
		{"urlpattern", "https://example.net/books/:id?", "https://example.net/books", true},
		{"urlpattern", "https://example.net/books/:id?", "https://example.net/books/7", true},
		{"urlpattern", "https://example.net/a.b", "https://example.net/aXb", false}, // . is literal
	} {
		s, err := parseSelector(tc.kind, tc.sel, nil)
		if err != nil {
			t.Errorf("%s %q: %v", tc.kind, tc.sel, err)
			continue
		}
		if got := s.matches(tc.topic); got != tc.want {
			t.Errorf("%s %q matches %q = %v, want %v", tc.kind, tc.sel, tc.topic, got, tc.want)
		}
	}
	for _, tc := range [][2]string{
		{"topic", ""}, {"exact", ""}, {"topic", "https://x/{id"}, {"topic", "a{}"},
		{"urlpattern", "https://x/:id(["}, {"urlpattern", "https://x/(a"}, {"kind", "x"},
	} {
		if _, err := parseSelector(tc[0], tc[1], nil); err == nil {
			t.Errorf("%s %q: accepted", tc[0], tc[1])
		}
	}
}

// Every Mercure topic maps to a valid herd topic (or is refused), and
// back to itself.
func TestTopicMapping(t *testing.T) {
	for _, topic := range []string{"foo", "https://example.com/books/1?x=1#y", "a b\tc", "100%", "a/*/**", "%2F", "ünï/cødé", "/", "x//y"} {
		ht, err := herdTopic(topic)
		if err != nil {
			t.Errorf("%q: %v", topic, err)
			continue
		}
		it, _ := idTopic("id-" + topic)
		got, id := fromHerd([]string{ht, "other/topic", it})
		if len(got) != 1 || got[0] != topic || id != "id-"+topic {
			t.Errorf("%q → %q → %q, id %q", topic, ht, got, id)
		}
	}
	roundTrip := func(topic string) bool {
		ht, err := herdTopic(topic)
		if err != nil {
			return true // refused (too long, invalid UTF-8): fine
		}
		got, _ := fromHerd([]string{ht})
		return len(got) == 1 && got[0] == topic
	}
	if err := quick.Check(roundTrip, nil); err != nil {
		t.Error(err)
	}
}

// Generated ids read back as the position and store tag they hold, in
// any case; nothing else reads as one, and no topic makes the reserved
// namespace check panic.
func TestGeneratedIDs(t *testing.T) {
	roundTrip := func(p uint64, storeID string) bool {
		id := generatedID(herd.Pos(p), storeID)
		for _, s := range []string{id, strings.ToUpper(id)} {
			got, tag, ok := parseGenerated(s)
			if !ok || got != herd.Pos(p) || tag != idTag(storeID) {
				return false
			}
		}
		return checkPublisherID(id) != nil
	}
	if err := quick.Check(roundTrip, nil); err != nil {
		t.Error(err)
	}
	others := func(s string) bool {
		_, _, ok := parseGenerated(s)
		addressesReserved(s)
		return !ok
	}
	if err := quick.Check(others, nil); err != nil {
		t.Error(err)
	}
	for _, id := range []string{"urn:uuid:0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", "urn:uuid:00000000-0000-8000-8000-000000000000"} {
		if _, _, ok := parseGenerated(id); ok {
			t.Errorf("%q (a UUID of another shape) read as herd's", id)
		}
	}
}
