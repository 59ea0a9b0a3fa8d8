package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

// TestHubFlags: hubFlags, the one table that names hub.Config's fields as
// herd serve's flags, names real fields and real flags, and names every
// field herd serve sets from a flag, so that every refusal of the hub
// speaks of the flag (a field added to hubConfig and not here fails).
func TestHubFlags(t *testing.T) {
	fs, f, _ := newServeFlagSet("serve", serveSynopsis, IO{})
	if err := fs.Parse([]string{"--jwt-key", strings.Repeat("k", 32), "--engine=false", "--publish-rate", "5"}); err != nil {
		t.Fatal(err)
	}
	ct := reflect.TypeFor[hub.Config]()
	for field, flag := range hubFlags {
		if _, ok := ct.FieldByName(field); !ok {
			t.Errorf("hubFlags names %s, which is no field of hub.Config", field)
		}
		if !strings.HasPrefix(flag, "--") || fs.Lookup(strings.TrimPrefix(flag, "--")) == nil {
			t.Errorf("hubFlags names %s %q, which is no flag of herd serve", field, flag)
		}
	}
	// Fields herd serve sets that the hub never names in a refusal.
	unnamed := map[string]bool{"Store": true, "SettingNames": true, "NoEngine": true, "PublishKey": true,
		"UnlistedTopics": true, "TokenQuery": true}
	auth := hub.AuthenticatorFunc(func(string) (hub.Grant, error) { return hub.Grant{}, nil })
	cfg := reflect.ValueOf(f.hubConfig(memory.New(memory.Options{}), auth))
	for i := range ct.NumField() {
		name := ct.Field(i).Name
		if !cfg.Field(i).IsZero() && !unnamed[name] && hubFlags[name] == "" {
			t.Errorf("herd serve sets hub.Config.%s, which hubFlags does not name: its refusals would say Config.%s", name, name)
		}
	}
}
