package redis

import (
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestParseSetup(t *testing.T) {
	good := []struct {
		url    string
		client string // the client's type
		waitN  int
		waitT  time.Duration
	}{
		{"redis://127.0.0.1:6379/2?prefix=p", "*redis.Client", 0, time.Second},
		{"redis+sentinel://127.0.0.1:26379/0?master_name=m&addr=127.0.0.1:26380&wait_replicas=1", "*redis.Client", 1, time.Second},
		{"redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001&wait_replicas=1&wait_timeout=250ms", "*redis.ClusterClient", 1, 250 * time.Millisecond},
		{"rediss+cluster://127.0.0.1:7000/0", "*redis.ClusterClient", 0, time.Second},
	}
	for _, g := range good {
		st, err := parseSetup(g.url)
		if err != nil {
			t.Errorf("%s: %v", g.url, err)
			continue
		}
		got := ""
		switch st.client.(type) {
		case *goredis.Client:
			got = "*redis.Client"
		case *goredis.ClusterClient:
			got = "*redis.ClusterClient"
		}
		if got != g.client || st.waitN != g.waitN || st.waitTimeout != g.waitT {
			t.Errorf("%s: %s, wait %d %s; want %s, wait %d %s", g.url, got, st.waitN, st.waitTimeout, g.client, g.waitN, g.waitT)
		}
		st.client.Close()
	}
	bad := map[string]string{
		"redis+sentinel://:secret@127.0.0.1:26379":                  "needs master_name=NAME",
		"redis+cluster://127.0.0.1:7000/3":                          "database 0 only",
		"redis+shard://127.0.0.1:7000":                              `scheme "redis+shard"`,
		"redis://127.0.0.1:6379?wait_replicas=-1":                   "wait_replicas=-1",
		"redis://127.0.0.1:6379?wait_replicas=x":                    "wait_replicas=x",
		"redis://127.0.0.1:6379?wait_timeout=1s":                    "wait_timeout without wait_replicas",
		"redis://127.0.0.1:6379?wait_replicas=1&wait_timeout=0s":    "wait_timeout=0s",
		"redis+sentinel://127.0.0.1:26379?master_name=m&nonsense=1": "nonsense",
	}
	for url, want := range bad {
		st, err := parseSetup(url)
		if err == nil {
			st.client.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v; want an error saying %q, without the password", url, err, want)
		}
	}
}
