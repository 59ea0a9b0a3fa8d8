package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

// TestStoreKinds: each --store form parses to its kind, shows and
// describes itself without secrets, and says whether nodes can share it;
// the unknown-store error lists every kind's form.
func TestStoreKinds(t *testing.T) {
	for _, tc := range []struct {
		spec, kind, shown, described string
		shared                       bool
	}{
		{"memory", "memory", "memory", "memory (history is lost when herd stops)", false},
		{"bolt:/var/lib/herd.db", "bolt", "bolt:/var/lib/herd.db", "bolt file /var/lib/herd.db", false},
		{"redis://u:hunter2@127.0.0.1:6379/0", "redis", "redis://u:xxxxx@127.0.0.1:6379/0", "redis redis://u:xxxxx@127.0.0.1:6379/0", true},
		{"rediss+sentinel://127.0.0.1:26379/0?master_name=m", "redis", "rediss+sentinel://127.0.0.1:26379/0?master_name=m", "redis rediss+sentinel://127.0.0.1:26379/0?master_name=m", true},
		{"nats://127.0.0.1:4222", "nats", "nats://127.0.0.1:4222", "nats nats://127.0.0.1:4222", true},
	} {
		s, err := parseStore(tc.spec)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if s.kind.name != tc.kind || s.String() != tc.shown || s.describe() != tc.described || s.kind.shared != tc.shared {
			t.Errorf("%s: kind %s, shown %q, described %q, shared %v; want %s, %q, %q, %v",
				tc.spec, s.kind.name, s, s.describe(), s.kind.shared, tc.kind, tc.shown, tc.described, tc.shared)
		}
	}
	for _, spec := range []string{"memory:x", "herd.db", "postgres://x", ""} {
		_, err := parseStore(spec)
		if err == nil || !strings.Contains(err.Error(), "use bolt:PATH, memory, redis://HOST:PORT/DB or nats://HOST:PORT") {
			t.Errorf("%q: %v, want the unknown-store error", spec, err)
		}
	}
}

// sized is a store that holds events of at most max bytes.
type sized struct {
	herd.Store
	max int
}

func (s sized) MaxEventSize() int { return s.max }

// TestNewHub: the hub's refusal of its configuration reaches the operator
// in terms of flags, as a usage error; the store's bound on an event's
// size is checked there, once.
func TestNewHub(t *testing.T) {
	store := sized{memory.New(memory.Options{}), 1000}
	for _, tc := range []struct {
		cfg  hub.Config
		want string
	}{
		{hub.Config{Store: store, MaxEventSize: 2000, SettingNames: hubFlags}, "--max-event-size (2000 bytes) is more than the store can hold (1000 bytes)"},
		{hub.Config{Store: store, MaxEventSize: 500, QueueBytes: 10, SettingNames: hubFlags}, "--max-event-size (500) must not exceed --queue-bytes (10)"},
		{hub.Config{Store: store, SubscribeAuth: true, SettingNames: hubFlags}, "--subscribe-auth needs --jwt-key"},
		{hub.Config{Store: store, ReplayCacheBytes: -1, SettingNames: hubFlags}, "Config.ReplayCacheBytes must not be negative"},
	} {
		_, err := newHub(tc.cfg)
		var usage *usageError
		if !errors.As(err, &usage) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("newHub = %v, want a usage error %q", err, tc.want)
		}
	}
}
