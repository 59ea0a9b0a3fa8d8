package mercure

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/herd-sse/herd"
)

// Mercure topics are IRIs ("https://example.com/books/1"): herd stores
// each as one segment under topicPrefix, with "/", "%", "*", spaces and
// control characters percent-encoded, so that a herd subscriber of
// "mercure/**" sees them all and /topics shows them readably. A
// publisher-chosen id is kept as a topic of the event under idPrefix,
// which makes it durable on every store and findable by its topic's
// last id.
const (
	topicPrefix = "mercure/"
	idPrefix    = "mercure-id/"
)

func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '/' || r == '%' || r == '*' || unicode.IsSpace(r) || unicode.IsControl(r):
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// herdTopic maps a Mercure topic to herd's.
func herdTopic(topic string) (string, error) {
	t := topicPrefix + escape(topic)
	if err := herd.ValidateTopic(t); err != nil {
		return "", fmt.Errorf("topic %.64q: %v", topic, err)
	}
	return t, nil
}

// idTopic maps a publisher-chosen id to its herd topic.
func idTopic(id string) (string, error) {
	t := idPrefix + escape(id)
	if err := herd.ValidateTopic(t); err != nil {
		return "", fmt.Errorf("id %.64q: %v", id, err)
	}
	return t, nil
}

// fromHerd returns an event's Mercure topics, in order, and its
// publisher-chosen id if it has one.
func fromHerd(topics []string) (mercureTopics []string, id string) {
	for _, t := range topics {
		if rest, ok := strings.CutPrefix(t, topicPrefix); ok {
			if s, err := url.PathUnescape(rest); err == nil {
				mercureTopics = append(mercureTopics, s)
			}
		} else if rest, ok := strings.CutPrefix(t, idPrefix); ok {
			if s, err := url.PathUnescape(rest); err == nil {
				id = s
			}
		}
	}
	return mercureTopics, id
}
