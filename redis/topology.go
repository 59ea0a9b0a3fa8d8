package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A store URL names one of three Redis setups, by its scheme:
//
//	redis://HOST:PORT/DB                  one server (rediss:// for TLS)
//	redis+sentinel://S1:PORT/DB?master_name=NAME&addr=S2:PORT&addr=S3:PORT
//	                                      a primary found through Sentinel:
//	                                      the sentinels' addresses, as
//	                                      go-redis's failover client takes them
//	redis+cluster://N1:PORT?addr=N2:PORT&addr=N3:PORT
//	                                      a Redis Cluster: any of its nodes
//
// (rediss+sentinel:// and rediss+cluster:// for TLS.) Besides go-redis's
// own query parameters, herd takes prefix=NAME, wait_replicas=N and
// wait_timeout=DURATION (see Options.WaitReplicas).

// setup is what a store URL says, parsed.
type setup struct {
	client      goredis.UniversalClient
	prefix      string
	waitN       int
	waitTimeout time.Duration
}

// herdParams are the query parameters herd reads itself and takes out of
// the URL before go-redis parses the rest.
var herdParams = []string{"prefix", "wait_replicas", "wait_timeout"}

// ParseURL checks a store URL without connecting. Errors never show a
// password.
func ParseURL(rawURL string) error {
	st, err := parseSetup(rawURL)
	if err == nil {
		st.client.Close()
	}
	return err
}

func parseSetup(rawURL string) (setup, error) {
	var st setup
	u, err := url.Parse(rawURL)
	if err != nil {
		return st, fmt.Errorf("redis: bad URL: %w", errors.Unwrap(err)) // not the URL itself: it may hold a password
	}
	q := u.Query()
	st.prefix = q.Get("prefix")
	if v := q.Get("wait_replicas"); v != "" {
		if st.waitN, err = strconv.Atoi(v); err != nil || st.waitN < 0 {
			return st, fmt.Errorf("redis: wait_replicas=%s: want a number of replicas, 0 or more", v)
		}
	}
	st.waitTimeout = time.Second
	if v := q.Get("wait_timeout"); v != "" {
		if st.waitTimeout, err = time.ParseDuration(v); err != nil || st.waitTimeout <= 0 {
			return st, fmt.Errorf("redis: wait_timeout=%s: want a duration such as 500ms", v)
		}
	}
	if q.Has("wait_timeout") && st.waitN == 0 {
		return st, errors.New("redis: wait_timeout without wait_replicas: say how many replicas to wait for")
	}
	for _, p := range herdParams {
		q.Del(p)
	}
	u.RawQuery = q.Encode()
	scheme := u.Scheme
	base, topology, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return st, fmt.Errorf("redis: scheme %q: use redis://, redis+sentinel:// or redis+cluster:// (rediss for TLS)", u.Scheme)
	}
	u.Scheme = base
	switch topology {
	case "":
		o, err := goredis.ParseURL(u.String())
		if err != nil {
			return st, fmt.Errorf("redis: %w", err)
		}
		st.client = goredis.NewClient(o)
	case "sentinel":
		o, err := goredis.ParseFailoverURL(u.String())
		if err != nil {
			return st, fmt.Errorf("redis: sentinel: %w", err)
		}
		if o.MasterName == "" {
			return st, errors.New("redis: sentinel: the URL needs master_name=NAME, the name the sentinels monitor")
		}
		st.client = goredis.NewFailoverClient(o)
	case "cluster":
		if u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return st, errors.New("redis: cluster: a Redis Cluster has database 0 only; drop the /DB from the URL")
		}
		u.Path = ""
		o, err := goredis.ParseClusterURL(u.String())
		if err != nil {
			return st, fmt.Errorf("redis: cluster: %w", err)
		}
		st.client = goredis.NewClusterClient(o)
	default:
		return st, fmt.Errorf("redis: scheme %q: use redis://, redis+sentinel:// or redis+cluster:// (rediss for TLS)", scheme)
	}
	return st, nil
}

// primary returns a client of the server that holds the prefix's keys: the
// one server, the primary Sentinel names, or the Cluster's master of the
// keys' slot.
func (s *Store) primary(ctx context.Context) (*goredis.Client, error) {
	switch c := s.client.(type) {
	case *goredis.ClusterClient:
		return c.MasterForKey(ctx, s.keys.log)
	case *goredis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("redis: unexpected client %T", s.client)
}

// replicated runs an append on one connection of the primary and waits
// (WAIT) until Options.WaitReplicas replicas have every write that
// connection made, including, for a duplicate, a write made after the
// original (so that the original, which another connection may have
// written, is covered too). Fewer replicas in time is an error: the event
// is stored but not acknowledged, and a retry with the same idempotency
// key returns it once enough replicas have it.
func (s *Store) replicated(ctx context.Context, keys []string, args []any) ([]any, error) {
	primary, err := s.primary(ctx)
	if err != nil {
		return nil, err
	}
	conn := primary.Conn()
	defer conn.Close()
	res, err := appendScript.Run(ctx, conn, keys, args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 2 && res[0] != int64(0) { // a duplicate or a refusal: nothing written
		if err := conn.Set(ctx, s.keys.writeCheck, "1", time.Second).Err(); err != nil {
			return nil, err
		}
	}
	n, err := conn.Wait(ctx, s.opts.WaitReplicas, s.opts.WaitTimeout).Result()
	if err != nil {
		return nil, err
	}
	if n < int64(s.opts.WaitReplicas) {
		return nil, fmt.Errorf("%w: %d of the %d replicas wait_replicas asks for had the write after %s",
			ErrNotReplicated, n, s.opts.WaitReplicas, s.opts.WaitTimeout)
	}
	return res, nil
}

// ErrNotReplicated is an append stored on the primary that too few
// replicas confirmed in time: not acknowledged, and so retried.
var ErrNotReplicated = errors.New("redis: not replicated")
