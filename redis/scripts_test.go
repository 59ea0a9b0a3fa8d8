package redis

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/herd-sse/herd/internal/services/inproc"
	goredis "github.com/redis/go-redis/v9"
)

// The Lua scripts' contracts, each script run alone on miniredis (which
// runs Lua 5.1 with gopher-lua, as Redis runs Lua 5.1): what it returns,
// and what it leaves in the keys, case by case.

// scriptClient is a client of a fresh miniredis, and the keys of prefix p.
func scriptClient(t *testing.T) (*goredis.Client, keys) {
	t.Helper()
	opts, err := goredis.ParseURL(inproc.MiniRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	p := "{p}:"
	return c, keys{log: p + "log", closed: p + "closed", count: p + "count", last: p + "last", trimmed: p + "trimmed",
		epoch: p + "epoch", settings: p + "settings", idemPrefix: p + "idem:"}
}

// appendMsg runs append.lua: topics, flags (1 close, 2 no data), an
// idempotency key ("" for none) and the retention's max events (0: any).
func appendMsg(t *testing.T, c *goredis.Client, k keys, topics, data string, flags int, idem string, maxEvents int) (int64, string) {
	t.Helper()
	idemKey, use := k.epoch, "0"
	if idem != "" {
		idemKey, use = k.idemPrefix+idem, "1"
	}
	res, err := appendScript.Run(t.Context(), c, []string{k.log, k.closed, k.count, k.last, k.trimmed, idemKey},
		topics, "", data, 0, flags, use, 60_000, maxEvents, 0).Slice()
	if err != nil || len(res) != 2 {
		t.Fatalf("append %q: %v, %v", topics, res, err)
	}
	code, _ := res[0].(int64)
	s, _ := res[1].(string)
	return code, s
}

func hash(t *testing.T, c *goredis.Client, key string) map[string]string {
	t.Helper()
	h, err := c.HGetAll(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestAppendScript: an event is added with its counters; a close closes
// its topics, and a later event to one is refused with nothing stored; a
// repeated idempotency key returns the first id; retention by count
// removes the oldest entries with their counters (a topic with none left
// is forgotten) and records the newest removed; a close outlives it.
func TestAppendScript(t *testing.T) {
	c, k := scriptClient(t)
	code, id1 := appendMsg(t, c, k, "a b", "one", 0, "", 0)
	if code != 0 || id1 == "" {
		t.Fatalf("append = %d %q, want 0 and an id", code, id1)
	}
	entries, err := c.XRange(t.Context(), k.log, "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].ID != id1 ||
		!maps.Equal(entries[0].Values, map[string]any{"t": "a b", "e": "", "d": "one", "r": "0", "f": "0"}) {
		t.Fatalf("the log holds %+v, %v", entries, err)
	}
	if got := hash(t, c, k.count); !maps.Equal(got, map[string]string{"a": "1", "b": "1"}) {
		t.Errorf("count = %v", got)
	}
	_, id2 := appendMsg(t, c, k, "a", "", 1|2, "", 0) // closes a, no data
	if got := hash(t, c, k.closed); !maps.Equal(got, map[string]string{"a": id2}) {
		t.Errorf("closed = %v, want a closed at %s", got, id2)
	}
	if code, topic := appendMsg(t, c, k, "b a", "late", 0, "", 0); code != 2 || topic != "a" {
		t.Errorf("append to a closed topic = %d %q, want 2 \"a\"", code, topic)
	}
	if n, _ := c.XLen(t.Context(), k.log).Result(); n != 2 {
		t.Errorf("a refused event was stored: %d entries", n)
	}
	_, id3 := appendMsg(t, c, k, "b", "keyed", 0, "K", 0)
	if code, id := appendMsg(t, c, k, "b", "keyed again", 0, "K", 0); code != 1 || id != id3 {
		t.Errorf("a repeated key = %d %q, want 1 %q", code, id, id3)
	}
	if n, _ := c.XLen(t.Context(), k.log).Result(); n != 3 {
		t.Errorf("a repeated key stored its event: %d entries", n)
	}
	// Retention: two events at most. id1 (a b) and id2 (a) go: a has
	// none left, b one.
	_, id4 := appendMsg(t, c, k, "c", "four", 0, "", 2)
	entries, _ = c.XRange(t.Context(), k.log, "-", "+").Result()
	if len(entries) != 2 || entries[0].ID != id3 || entries[1].ID != id4 {
		t.Errorf("after retention the log holds %+v, want %s and %s", entries, id3, id4)
	}
	if got := hash(t, c, k.count); !maps.Equal(got, map[string]string{"b": "1", "c": "1"}) {
		t.Errorf("count after retention = %v", got)
	}
	if got := hash(t, c, k.last); !maps.Equal(got, map[string]string{"b": id3, "c": id4}) {
		t.Errorf("last after retention = %v", got)
	}
	if got, _ := c.Get(t.Context(), k.trimmed).Result(); got != id2 {
		t.Errorf("trimmed = %q, want the newest removed, %s", got, id2)
	}
	if got := hash(t, c, k.closed); !maps.Equal(got, map[string]string{"a": id2}) {
		t.Errorf("the close did not outlive retention: closed = %v", got)
	}
}

// readRange runs read.lua after start ("-" or "(" id).
func readRange(t *testing.T, c *goredis.Client, k keys, start string, max, maxBytes int) (trimmed any, ids []string) {
	t.Helper()
	res, err := readScript.Run(t.Context(), c, []string{k.log, k.trimmed}, start, max, maxBytes).Slice()
	if err != nil || len(res) != 2 {
		t.Fatalf("read: %v, %v", res, err)
	}
	entries, _ := res[1].([]any)
	for _, e := range entries {
		ids = append(ids, e.([]any)[0].(string))
	}
	return res[0], ids
}

// TestReadScript: entries after a position, at most max, and no more
// data bytes than the bound unless one entry alone exceeds it (then that
// one, so that a reader always moves on); the trimming marker with them.
func TestReadScript(t *testing.T) {
	c, k := scriptClient(t)
	var ids []string
	for _, d := range []string{"aaaa", "bbbb", "cccc", strings.Repeat("d", 100), "eeee"} {
		_, id := appendMsg(t, c, k, "x", d, 0, "", 0)
		ids = append(ids, id)
	}
	for _, tc := range []struct {
		start         string
		max, maxBytes int
		want          []string
	}{
		{"-", 10, 0, ids},
		{"-", 2, 0, ids[:2]},
		{"(" + ids[1], 10, 0, ids[2:]},
		{"-", 10, 8, ids[:2]},                          // 4+4 bytes fit, the third would not
		{"(" + ids[2], 10, 8, ids[3:4]},                // one entry over the bound: alone
		{"(" + ids[4], 10, 0, nil},                     // nothing after the last
		{"-", 100, 1 << 20, ids},                       // more than 64 (the script's chunk) asked
		{"(" + ids[0], 3, 9, []string{ids[1], ids[2]}}, // bytes bind before count
	} {
		trimmed, got := readRange(t, c, k, tc.start, tc.max, tc.maxBytes)
		if trimmed != nil || !slices.Equal(got, tc.want) {
			t.Errorf("read(%s, %d, %d) = %v, %v; want %v and no marker", tc.start, tc.max, tc.maxBytes, trimmed, got, tc.want)
		}
	}
	if err := c.Set(t.Context(), k.trimmed, ids[0], 0).Err(); err != nil {
		t.Fatal(err)
	}
	if trimmed, _ := readRange(t, c, k, "-", 1, 0); trimmed != ids[0] {
		t.Errorf("the marker read = %v, want %s", trimmed, ids[0])
	}
}

// TestReopenScript: each topic's close is removed and returned (nil for
// an open topic), in the order asked.
func TestReopenScript(t *testing.T) {
	c, k := scriptClient(t)
	if err := c.HSet(t.Context(), k.closed, "a", "1-0", "c", "3-0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := reopenScript.Run(t.Context(), c, []string{k.closed}, "a", "b", "c").Slice()
	if err != nil || len(res) != 3 || res[0] != "1-0" || res[1] != nil || res[2] != "3-0" {
		t.Fatalf("reopen = %#v, %v; want 1-0, nil, 3-0", res, err)
	}
	if got := hash(t, c, k.closed); len(got) != 0 {
		t.Errorf("closed after reopen = %v", got)
	}
}

// TestOpenScript: the first node records the generation and its history
// settings; a later one gets them as recorded, its own ignored unless it
// says to change them, and the generation stays.
func TestOpenScript(t *testing.T) {
	c, k := scriptClient(t)
	run := func(epoch string, maxEvents, maxAge, ttl int, change string) []any {
		t.Helper()
		res, err := openScript.Run(t.Context(), c, []string{k.epoch, k.settings}, epoch, maxEvents, maxAge, ttl, change).Slice()
		if err != nil || len(res) != 2 {
			t.Fatalf("open: %v, %v", res, err)
		}
		return []any{res[0], res[1].([]any)[0], res[1].([]any)[1], res[1].([]any)[2]}
	}
	check := func(got []any, want ...any) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("open = %v, want %v", got, want)
				return
			}
		}
	}
	check(run("E1", 100, 60_000, 1000, "0"), "E1", "100", "60000", "1000")
	check(run("E2", 5, 1, 2, "0"), "E1", "100", "60000", "1000")
	check(run("E3", 5, 1, 2, "1"), "E1", "5", "1", "2")
}
