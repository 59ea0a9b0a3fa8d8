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

// session runs f with the store's client or, with Options.WaitReplicas,
// on one connection of the primary, and then confirms that enough
// replicas have everything f read or wrote: the connection writes a
// small key and waits (WAIT) until that many replicas have that write,
// and so (Redis replicates one ordered stream) everything before it. So
// an acknowledged publish is on the replicas, and no subscriber is ever
// given an event, fresh or replayed, that a failover could take back.
// Fewer replicas in time is ErrNotReplicated: a publish is then stored
// but not acknowledged (a retry with its idempotency key returns it once
// enough replicas have it), a read is retried.
func (s *Store) session(ctx context.Context, f func(goredis.Scripter) error) error {
	if s.opts.WaitReplicas == 0 {
		return f(s.client)
	}
	primary, err := s.primary(ctx)
	if err != nil {
		return err
	}
	conn := primary.Conn()
	defer conn.Close()
	if err := f(conn); err != nil {
		s.lost()
		return err
	}
	var n *goredis.Cmd
	if _, err := conn.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, s.keys.writeCheck, "1", time.Second)
		n = p.Do(ctx, "WAIT", s.opts.WaitReplicas, s.opts.WaitTimeout.Milliseconds())
		return nil
	}); err != nil {
		s.lost()
		return err
	}
	if got, err := n.Int64(); err != nil || got < int64(s.opts.WaitReplicas) {
		return fmt.Errorf("%w: %d of the %d replicas wait_replicas asks for had it after %s",
			ErrNotReplicated, got, s.opts.WaitReplicas, s.opts.WaitTimeout)
	}
	return nil
}

// lost has a Cluster client read the map of slots again: session's
// connection to a master bypasses the client's own handling of errors
// (a dead master, a MOVED after a failover), which would.
func (s *Store) lost() {
	if c, ok := s.client.(*goredis.ClusterClient); ok {
		c.ReloadState(context.Background())
	}
}

// ErrNotReplicated is a publish or read that too few replicas confirmed
// in time: not acknowledged, or not delivered, and so retried.
var ErrNotReplicated = errors.New("redis: not replicated")
