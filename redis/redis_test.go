//go:build integration

package redis_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/redis"
	"github.com/herd-sse/herd/storetest"
	goredis "github.com/redis/go-redis/v9"
)

func TestConformance(t *testing.T) {
	url := services.RedisURL(t)
	var prefixes sync.Map // store → its prefix and options, for its peers
	type setup struct {
		prefix string
		opts   herd.StoreOptions
	}
	open := func(t *testing.T, su setup) herd.Store {
		s, err := redis.Open(t.Context(), url, redis.Options{StoreOptions: su.opts, Prefix: su.prefix})
		if err != nil {
			t.Fatal(err)
		}
		prefixes.Store(s, su)
		return s
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, opts storetest.Options) herd.Store {
			return open(t, setup{services.RedisPrefix(t, url),
				herd.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL}})
		},
		Peer: func(t *testing.T, s herd.Store) herd.Store {
			su, _ := prefixes.Load(s)
			peer := open(t, su.(setup))
			t.Cleanup(func() { peer.Close() })
			return peer
		},
		Wipe: func(t *testing.T, s herd.Store) {
			su, _ := prefixes.Load(s)
			wipePrefix(t, url, su.(setup).prefix)
		},
	})
}

// TestSharedPrefix checks that two stores on one prefix are one log: what
// one appends, the other reads and follows, with the same ids.
func TestSharedPrefix(t *testing.T) {
	url := services.RedisURL(t)
	p := services.RedisPrefix(t, url)
	a, err := redis.Open(t.Context(), url+"?prefix="+p, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := redis.Open(t.Context(), url, redis.Options{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, _, err := a.Append(t.Context(), herd.Message{Topics: []string{"x"}, Data: "from a", Close: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := b.Read(t.Context(), 0, herd.Limit{Events: 10})
	if err != nil || len(got) != 1 || got[0].ID != e.ID || got[0].Data != "from a" {
		t.Fatalf("b read %+v, %v", got, err)
	}
	if p, err := b.ParseID(e.ID); err != nil || p != e.Pos {
		t.Errorf("b parses a's id: %d, %v", p, err)
	}
	if closed, _ := b.Closed(t.Context(), []string{"x"}); closed["x"] != e.Pos {
		t.Errorf("b does not see the close: %v", closed)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:1/0", "redis://:wrongpass@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0?bogus=1", "http://x"} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		s, err := redis.Open(ctx, url, redis.Options{})
		cancel()
		if err == nil {
			s.Close()
			if strings.Contains(url, "wrongpass") {
				continue // the shared Redis has no password: AUTH is not required
			}
			t.Errorf("Open(%q) succeeded", url)
		}
	}
	if _, err := redis.Open(t.Context(), "redis://127.0.0.1:6379/0", redis.Options{Prefix: "a{b}"}); err == nil {
		t.Error("a prefix with braces accepted")
	}
}

// wipePrefix deletes every key of prefix, as a FLUSHALL would (the shared
// Redis serves other tests: only the prefix's keys go).
func wipePrefix(t *testing.T, url, prefix string) {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	keys, err := c.Keys(t.Context(), "{"+prefix+"}:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys of prefix %q: %v %v", prefix, keys, err)
	}
	if err := c.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestForeignEntries: entries that someone else added to the stream, with
// fields missing, extra, garbled or out of range, are refused as damaged
// (storetest.Foreign): never served, reported, a gap in their place.
func TestForeignEntries(t *testing.T) {
	url := services.RedisURL(t)
	prefix := services.RedisPrefix(t, url)
	s, err := redis.Open(t.Context(), url, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opts)
	defer raw.Close()
	entries := [][]any{
		{"t", "a", "d", "no type, retry or flags"},
		{"t", "a", "e", "", "d", "flags not herd's", "r", "0", "f", "99"},
		{"t", "a", "e", "", "d", "private, as a word", "r", "0", "f", "private"},
		{"t", "a", "e", "", "d", "a sixth field", "r", "0", "f", "0", "x", "1"},
		{"t", "", "e", "", "d", "no topic", "r", "0", "f", "0"},
		{"t", "a  b", "e", "", "d", "an empty topic between two spaces", "r", "0", "f", "0"},
		{"t", "a", "e", "x\ny", "d", "a type with a line end", "r", "0", "f", "0"},
		{"t", "a", "e", "", "d", "retry negative", "r", "-1", "f", "0"},
		{"t", "a", "e", "", "d", "retry padded", "r", "007", "f", "0"},
		{"t", "a", "e", "", "d", "retry beyond the hub's", "r", "99999999999", "f", "0"},
		{"t", "a", "e", "", "d", "no data, yet data", "r", "0", "f", "2"},
		{"t", "a", "e", "\xff", "d", "a type that is not UTF-8", "r", "0", "f", "0"},
	}
	storetest.Foreign(t, s, len(entries), func(t *testing.T, i int) {
		if err := raw.XAdd(t.Context(), &goredis.XAddArgs{Stream: "{" + prefix + "}:log", Values: entries[i]}).Err(); err != nil {
			t.Fatal(err)
		}
	})
}
