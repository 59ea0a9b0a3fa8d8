package nats

import (
	"slices"

	"strings"
	"testing"

	"github.com/herd-sse/herd"
)

func TestParseLocation(t *testing.T) {
	good := []struct {
		url      string
		servers  []string
		replicas int
		prefix   string
	}{
		{"nats://127.0.0.1:4222", []string{"nats://127.0.0.1:4222"}, 0, ""},
		{"nats://a:1,b:2,c:3?replicas=3&prefix=p", []string{"nats://a:1", "nats://b:2", "nats://c:3"}, 3, "p"},
		{"nats://u:pw@a:1,nats://b:2,tls://c:3/?replicas=5", []string{"nats://u:pw@a:1", "nats://u:pw@b:2", "tls://u:pw@c:3"}, 5, ""},
		{"nats://a:1,nats://v:x@b:2?replicas=1", []string{"nats://a:1", "nats://v:x@b:2"}, 1, ""},
	}
	for _, g := range good {
		loc, err := parseLocation(g.url)
		if err != nil || !slices.Equal(loc.servers, g.servers) || loc.replicas != g.replicas || loc.prefix != g.prefix {
			t.Errorf("%s: %+v, %v; want %v replicas %d prefix %q", g.url, loc, err, g.servers, g.replicas, g.prefix)
		}
	}
	bad := map[string]string{
		"nats://a:1?replicas=2":         "replicas=2: use 1, 3 or 5",
		"nats://a:1?replicas=0":         "replicas=0: use 1, 3 or 5",
		"nats://a:1?replicas=three":     "replicas=three: use 1, 3 or 5",
		"nats://a:1?replica=3":          `unknown URL parameter "replica"`,
		"nats://a:1,,b:2":               "server 2 of the URL is empty",
		"nats://u:secret@a:1,b":         "server 2 of the URL: want nats://HOST:PORT",
		"nats://a:1/x":                  "server 1 of the URL: want nats://HOST:PORT",
		"nats://a:1,http://b:2":         `scheme "http"`,
		"a:1":                           "want nats://HOST:PORT",
		"nats://u:secret@a:1,b:2 c?x=%": "bad query",
	}
	for url, want := range bad {
		_, err := parseLocation(url)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v; want an error saying %q, without the password", url, err, want)
		}
	}
}

func TestOpenRefusesBadReplicas(t *testing.T) {
	_, err := Open(t.Context(), "nats://127.0.0.1:1", Options{Replicas: 2})
	if err == nil || !strings.Contains(err.Error(), "2 replicas: use 1, 3 or 5") {
		t.Fatalf("Open with 2 replicas: %v", err)
	}
}

func TestLocate(t *testing.T) {
	c := newClosedTopics(nil)
	c.keys.add(1, "a")
	c.keys.add(2, "b")
	c.keys.add(3, "")
	for _, tc := range []struct {
		key  string
		ack  herd.Pos
		want herd.Pos
		err  string
	}{
		{"a", 1, 1, ""},
		{"b", 1, 2, ""}, // the acknowledgement named a's position: b is at 2
		{"a", 2, 1, ""},
		{"c", 2, 0, `idempotency key "c" named message 2, which is another's`},
		{"c", 3, 0, "which is another's"},
		{"c", 99, 99, ""}, // not read yet: as acknowledged
	} {
		got, err := c.locate(tc.key, tc.ack)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("locate(%q, %d): %v, want an error saying %q", tc.key, tc.ack, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("locate(%q, %d) = %d, %v; want %d", tc.key, tc.ack, got, err, tc.want)
		}
	}
	// A key's position is forgotten once the ring has moved past it.
	for p := herd.Pos(4); p < 4+keyRingSize; p++ {
		c.keys.add(p, "")
	}
	if len(c.keys.where) != 0 {
		t.Errorf("%d keys remembered after the ring moved past them", len(c.keys.where))
	}
}
