// Package redis is a hub.Store on Redis Streams (github.com/redis/go-redis/v9),
// for running several hub nodes as one: they share one stream, so event
// order, ids, resume points, closed topics and idempotency keys are the
// same on every node.
//
// Keys, all under one hash tag so that Redis Cluster keeps them together:
//
//	{P}:log      the stream of events (one entry per publish)
//	{P}:closed   hash: topic → id of the event that closed it
//	{P}:count    hash: topic → events retained
//	{P}:last     hash: topic → id of its newest event
//	{P}:trimmed  id of the newest event retention removed
//	{P}:idem:K   idempotency key K → id, expiring after the TTL
//	{P}:epoch    a random string, part of every id: the prefix's generation
//	{P}:settings hash: the history settings every node must share
//	{P}:writecheck  written by /readyz after a failed publish, expiring at once
//
// Publishing is one Lua script, so an event, its closed topics, its
// counters and its idempotency key are stored together or not at all.
// Retention trims the stream exactly (MAXLEN and MINID), keeping the
// counters right. Event times and age retention use Redis's clock.
//
// Durability is Redis's: herd acknowledges a publish once Redis has
// executed it. Run Redis with appendonly yes (and appendfsync always for
// no loss even on a power cut) if acknowledged events must survive a Redis
// restart.
package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herd-sse/herd"
)

// Options configure a Store.
type Options struct {
	// Retention and IdempotencyTTL as documented on hub.StoreOptions.
	// StoreOptions.Now is ignored: Redis's clock is used.
	herd.StoreOptions
	// Prefix names the keys; nodes sharing a prefix form one hub. Empty
	// means the URL's prefix query parameter, or "herd".
	Prefix string
	// WaitReplicas, if above zero, makes every publish wait (Redis's WAIT)
	// until that many replicas have it before it is acknowledged; zero
	// means the URL's wait_replicas, or no waiting. Redis replicates
	// asynchronously: without it, a publish acknowledged just before the
	// primary fails can be missing from the replica promoted in its place
	// (docs/clustering.md says exactly what each setting can lose).
	WaitReplicas int
	// WaitTimeout bounds that wait; past it the publish fails (503) and
	// is retried. Zero means the URL's wait_timeout, or one second.
	WaitTimeout time.Duration
}

// SetClientLogger sends the messages the Redis client logs by itself
// (connection failures and the like) to l at warning level, instead of
// standard error. The client's logger is process-wide: a program calls
// this, once, before opening stores; the stores themselves never change
// it.
func SetClientLogger(l *slog.Logger) {
	goredis.SetLogger(clientLogger{l})
}

// clientLogger adapts slog to the Redis client's logging interface.
type clientLogger struct{ l *slog.Logger }

func (c clientLogger) Printf(ctx context.Context, format string, v ...any) {
	c.l.Warn("redis client: " + fmt.Sprintf(format, v...))
}

// A Store is a hub.Store on Redis. Create it with Open.
type Store struct {
	epoch    atomic.Pointer[herd.EpochIDs] // the generation (see generation.go)
	client   goredis.UniversalClient       // one server, Sentinel's primary, or a Cluster (topology.go)
	opts     Options
	keys     keys
	stop     chan struct{}
	sweeping chan struct{} // closed when the retention sweeper has exited
}

type keys struct{ log, closed, count, last, trimmed, epoch, settings, writeCheck, idemPrefix string }

var _ herd.Store = (*Store)(nil)

var (
	//go:embed retention.lua
	retentionLua string
	//go:embed append.lua
	appendLua string
	//go:embed read.lua
	readLua string

	appendScript = goredis.NewScript(retentionLua + appendLua)
	readScript   = goredis.NewScript(readLua)
	// trimScript applies retention alone. KEYS: log, count, last, trimmed.
	// ARGV: max events, max age in ms.
	trimScript = goredis.NewScript(retentionLua + "trim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]), tonumber(ARGV[2]))\nreturn 0\n")
)

// Check connects to the Redis at rawURL as Open would, without changing
// anything, and describes what it finds: the server's version and the
// hub's log, if there is one yet.
func Check(ctx context.Context, rawURL string, opts Options) (string, error) {
	s, err := connect(rawURL, opts)
	if err != nil {
		return "", err
	}
	defer s.client.Close()
	version, err := s.version(ctx)
	if err != nil {
		return "", err
	}
	n, err := s.client.XLen(ctx, s.keys.log).Result()
	if err != nil {
		return "", wrap("check", err)
	}
	closed, err := s.client.HLen(ctx, s.keys.closed).Result()
	if err != nil {
		return "", wrap("check", err)
	}
	settings, err := s.recorded(ctx)
	if err != nil {
		return "", err
	}
	if n == 0 && closed == 0 {
		return fmt.Sprintf("Redis %s; no events under prefix %q yet%s", version, s.opts.Prefix, settings), nil
	}
	return fmt.Sprintf("Redis %s; prefix %q holds %d events and %d closed topics%s", version, s.opts.Prefix, n, closed, settings), nil
}

// Open connects to the Redis at rawURL (redis://[user:password@]host:port/db
// or rediss:// for TLS, redis+sentinel:// or redis+cluster:// as
// topology.go describes; a "prefix" query parameter names the keys) and
// checks that it can serve as a store (Redis 7 or newer).
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s, err := connect(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := s.init(ctx); err != nil {
		s.client.Close()
		return nil, err
	}
	go s.sweep()
	return s, nil
}

// connect makes a Store for rawURL and opts, connected to nothing yet.
func connect(rawURL string, opts Options) (*Store, error) {
	st, err := parseSetup(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = st.prefix
	}
	if opts.Prefix == "" {
		opts.Prefix = "herd"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		st.client.Close()
		return nil, fmt.Errorf("redis: prefix %q must not contain { or }", opts.Prefix)
	}
	if opts.WaitReplicas == 0 {
		opts.WaitReplicas = st.waitN
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = st.waitTimeout
	}
	opts.StoreOptions = opts.StoreOptions.WithDefaults()
	p := "{" + opts.Prefix + "}:"
	return &Store{
		client: st.client,
		opts:   opts,
		keys: keys{log: p + "log", closed: p + "closed", count: p + "count", last: p + "last", trimmed: p + "trimmed",
			epoch: p + "epoch", settings: p + "settings", writeCheck: p + "writecheck", idemPrefix: p + "idem:"},
		stop: make(chan struct{}), sweeping: make(chan struct{}),
	}, nil
}

// version returns the server's version, if it is one herd can use.
func (s *Store) version(ctx context.Context) (string, error) {
	info, err := s.client.Info(ctx, "server").Result()
	if err != nil {
		return "", fmt.Errorf("redis: %w", err)
	}
	if v := infoField(info, "redis_version"); v == "" || versionBelow(v, 7) {
		return "", fmt.Errorf("redis: server %s is too old: herd needs Redis 7.0 or newer (stream trimming metadata)", v)
	}
	return infoField(info, "redis_version"), nil
}

func (s *Store) init(ctx context.Context) error {
	if _, err := s.version(ctx); err != nil {
		return err
	}
	return s.open(ctx)
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

func versionBelow(v string, major int) bool {
	n, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return err != nil || n < major
}

// Positions pack a stream entry id "ms-seq": milliseconds since 2020 in
// the high 40 bits (enough until 2054), the sequence in the low 24.
const (
	epochMS = 1577836800000 // 2020-01-01T00:00:00Z
	seqBits = 24
)

func posOf(id string) (herd.Pos, error) {
	msPart, seqPart, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if !ok || err1 != nil || err2 != nil || ms < epochMS || seq >= 1<<seqBits || ms-epochMS >= 1<<(64-seqBits) {
		return 0, fmt.Errorf("redis: stream id %q out of range", id)
	}
	return herd.Pos((ms-epochMS)<<seqBits | seq), nil
}

func streamID(p herd.Pos) string {
	return strconv.FormatUint(uint64(p>>seqBits)+epochMS, 10) + "-" + strconv.FormatUint(uint64(p&(1<<seqBits-1)), 10)
}

// retentionArgs are the trimming arguments both scripts take.
func (s *Store) retentionArgs() []any {
	maxLen := max(s.opts.Retention.MaxEvents, 0)
	maxAge := max(s.opts.Retention.MaxAge.Milliseconds(), 0)
	return []any{maxLen, maxAge}
}

// Append implements hub.Store.
func (s *Store) Append(ctx context.Context, m herd.Message) (herd.Event, bool, error) {
	var flags int
	if m.Close {
		flags |= 1
	}
	if m.NoData {
		flags |= 2
	}
	if m.Private {
		flags |= 4
	}
	if m.ZeroRetry {
		flags |= 8
	}
	idemKey := s.keys.epoch // a placeholder key when there is none
	useIdem := "0"
	if m.IdempotencyKey != "" {
		idemKey, useIdem = s.keys.idemPrefix+m.IdempotencyKey, "1"
	}
	args := append([]any{strings.Join(m.Topics, " "), m.Type, m.Data, m.Retry.Milliseconds(), flags,
		useIdem, s.opts.IdempotencyTTL.Milliseconds()}, s.retentionArgs()...)
	keys := []string{s.keys.log, s.keys.closed, s.keys.count, s.keys.last, s.keys.trimmed, idemKey}
	var res []any
	err := s.session(ctx, func(c goredis.Scripter) (err error) {
		res, err = appendScript.Run(ctx, c, keys, args...).Slice()
		return err
	})
	if err != nil {
		return herd.Event{}, false, wrap("append", err)
	}
	if len(res) != 2 {
		return herd.Event{}, false, fmt.Errorf("redis: append: unexpected reply %v", res)
	}
	id, _ := res[1].(string)
	if res[0] == int64(2) {
		return herd.Event{}, false, &herd.TopicClosedError{Topic: id}
	}
	dup := res[0] == int64(1)
	p, err := posOf(id)
	if err != nil {
		return herd.Event{}, false, err
	}
	if dup {
		return herd.Event{Pos: p, ID: s.ID(p)}, true, nil
	}
	return herd.Event{Pos: p, ID: s.ID(p), Time: timeOf(p), Topics: m.Topics, Type: m.Type, Data: m.Data,
		Retry: m.Retry.Truncate(time.Millisecond), ZeroRetry: m.ZeroRetry, NoData: m.NoData, Close: m.Close, Private: m.Private}, false, nil
}

func timeOf(p herd.Pos) time.Time {
	return time.UnixMilli(int64(p>>seqBits) + epochMS).UTC()
}

// event decodes a stream entry. Anyone with access to Redis can add
// entries to the stream: one that is not exactly as append.lua writes them
// (the fields t, e, d, r and f, each once and nothing else, numbers in
// their shortest form, no unknown flag, valid topics) is refused as a
// *hub.DamagedEventError, never served.
func (s *Store) event(msg goredis.XMessage) (herd.Event, error) {
	p, err := posOf(msg.ID)
	if err != nil {
		return herd.Event{}, err
	}
	e := herd.Event{Pos: p, ID: s.ID(p), Time: timeOf(p)}
	if cause := decodeEntry(&e, msg.Values); cause != "" {
		return herd.Event{}, &herd.DamagedEventError{Pos: p, ID: e.ID, Topics: e.Topics,
			Cause: fmt.Sprintf("redis: entry %s of %s is not one herd wrote: %s", msg.ID, s.keys.log, cause)}
	}
	return e, nil
}

// decodeEntry reads an entry's fields into e, and says what is wrong with
// them, if anything.
func decodeEntry(e *herd.Event, values map[string]any) string {
	fields := map[string]string{}
	for k, v := range values {
		str, ok := v.(string)
		if !ok || !slices.Contains([]string{"t", "e", "d", "r", "f"}, k) {
			return fmt.Sprintf("an unknown field %.40q", k)
		}
		fields[k] = str
	}
	if len(fields) != 5 {
		return fmt.Sprintf("%d of its 5 fields (t, e, d, r, f)", len(fields))
	}
	e.Topics = strings.Split(fields["t"], " ")
	e.Type, e.Data = fields["e"], fields["d"]
	ms, ok := shortestUint(fields["r"])
	if !ok || ms > uint64(herd.MaxRetry.Milliseconds()) {
		return fmt.Sprintf("retry %.40q is not a number of milliseconds", fields["r"])
	}
	e.Retry = time.Duration(ms) * time.Millisecond
	flags, ok := shortestUint(fields["f"])
	if !ok || flags&^15 != 0 {
		return fmt.Sprintf("flags %.40q are not herd's", fields["f"])
	}
	e.Close, e.NoData, e.Private, e.ZeroRetry = flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
	if err := herd.CheckStored(*e); err != nil {
		return err.Error()
	}
	return ""
}

// shortestUint parses digits written by strconv: no sign, no leading zero.
func shortestUint(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && strconv.FormatUint(n, 10) == s
}

// Read implements hub.Store, with one script: the range (bounded in
// entries and bytes by Redis itself) and the stream's trimming marker are
// read in one atomic step, so the gap flag is exact.
func (s *Store) Read(ctx context.Context, after herd.Pos, lim herd.Limit) ([]herd.Event, bool, error) {
	start := "-"
	if after > 0 {
		start = "(" + streamID(after)
	}
	var res []any
	err := s.session(ctx, func(c goredis.Scripter) (err error) {
		res, err = readScript.Run(ctx, c, []string{s.keys.log, s.keys.trimmed}, start, lim.Events, max(lim.Bytes, 0)).Slice()
		return err
	})
	if err != nil {
		return nil, false, wrap("read", err)
	}
	if len(res) != 2 {
		return nil, false, fmt.Errorf("redis: read: unexpected reply %v", res)
	}
	gap := false
	if id, ok := res[0].(string); ok {
		if p, err := posOf(id); err == nil && after < p {
			gap = true
		}
	}
	entries, _ := res[1].([]any)
	events := make([]herd.Event, 0, len(entries))
	for _, entry := range entries {
		msg, err := xmessage(entry)
		if err != nil {
			return nil, false, err
		}
		e, err := s.event(msg)
		if errors.Is(err, herd.ErrDamaged) {
			return events, gap, err // the events before it, and the damage
		}
		if err != nil {
			return nil, false, err
		}
		events = append(events, e)
	}
	return events, gap, nil
}

// xmessage converts an entry as a script returns it, {id, {field, value,
// ...}}, to the client's type.
func xmessage(entry any) (goredis.XMessage, error) {
	bad := fmt.Errorf("redis: read: unexpected entry %.100v", entry)
	pair, ok := entry.([]any)
	if !ok || len(pair) != 2 {
		return goredis.XMessage{}, bad
	}
	id, ok1 := pair[0].(string)
	fields, ok2 := pair[1].([]any)
	if !ok1 || !ok2 || len(fields)%2 != 0 {
		return goredis.XMessage{}, bad
	}
	msg := goredis.XMessage{ID: id, Values: make(map[string]any, len(fields)/2)}
	for i := 0; i < len(fields); i += 2 {
		k, ok := fields[i].(string)
		if !ok {
			return goredis.XMessage{}, bad
		}
		msg.Values[k] = fields[i+1]
	}
	return msg, nil
}

// wrap names the failing operation, and reports a closed client as
// hub.ErrStoreClosed.
func wrap(op string, err error) error {
	if errors.Is(err, goredis.ErrClosed) {
		return herd.ErrStoreClosed
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

func isNoStream(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// Follow implements hub.Store: it reads what is there, then waits for more
// with a blocking XREAD (bounded, so that cancellation is noticed).
func (s *Store) Follow(ctx context.Context, after herd.Pos, fn func([]herd.Event) error) error {
	gen := s.ids() // after is a position of this generation's log
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.checkGeneration(ctx, gen); err != nil {
			return err
		}
		events, gap, err := s.Read(ctx, after, herd.FollowBatch())
		if err != nil && !errors.Is(err, herd.ErrDamaged) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if gap {
			return fmt.Errorf("%w: events after %s were trimmed", herd.ErrLagged, streamID(after))
		}
		if len(events) > 0 {
			if err := fn(events); err != nil {
				return err
			}
			after = events[len(events)-1].Pos
		}
		if err != nil {
			return err // a damaged entry: the caller goes on after it
		}
		if len(events) > 0 {
			continue
		}
		start := "0-0"
		if after > 0 {
			start = streamID(after)
		}
		err = s.client.XRead(ctx, &goredis.XReadArgs{Streams: []string{s.keys.log, start}, Count: 1, Block: time.Second}).Err()
		if err != nil && !errors.Is(err, goredis.Nil) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return wrap("follow", err)
		}
	}
}

// Bounds implements hub.Store.
func (s *Store) Bounds(ctx context.Context) (herd.Bounds, error) {
	var info *goredis.XInfoStreamCmd
	var trimmed, epoch *goredis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		info = p.XInfoStream(ctx, s.keys.log)
		trimmed = p.Get(ctx, s.keys.trimmed)
		epoch = p.Get(ctx, s.keys.epoch)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) && !isNoStream(err) {
		return herd.Bounds{}, wrap("bounds", err)
	}
	if _, err := s.notice(ctx, epoch.Val()); err != nil {
		return herd.Bounds{}, err
	}
	b := herd.Bounds{Generation: string(s.ids())}
	if in := info.Val(); in != nil {
		if in.Length > 0 {
			b.First, _ = posOf(in.FirstEntry.ID)
		}
		if in.LastGeneratedID != "" && in.LastGeneratedID != "0-0" {
			b.Last, _ = posOf(in.LastGeneratedID)
		}
	}
	if id := trimmed.Val(); id != "" {
		b.Trimmed, _ = posOf(id)
	}
	return b, nil
}

// Closed implements hub.Store.
func (s *Store) Closed(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	out := map[string]herd.Pos{}
	if len(topics) == 0 {
		return out, nil
	}
	vals, err := s.client.HMGet(ctx, s.keys.closed, topics...).Result()
	if err != nil {
		return nil, wrap("closed", err)
	}
	for i, v := range vals {
		if id, ok := v.(string); ok {
			if p, err := posOf(id); err == nil {
				out[topics[i]] = p
			}
		}
	}
	return out, nil
}

// Stats implements hub.Store, from the counters the scripts keep.
func (s *Store) Stats(ctx context.Context) ([]herd.TopicStats, error) {
	var count, last, closed *goredis.MapStringStringCmd
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		count = p.HGetAll(ctx, s.keys.count)
		last = p.HGetAll(ctx, s.keys.last)
		closed = p.HGetAll(ctx, s.keys.closed)
		return nil
	})
	if err != nil {
		return nil, wrap("stats", err)
	}
	stats := map[string]*herd.TopicStats{}
	get := func(t string) *herd.TopicStats {
		if stats[t] == nil {
			stats[t] = &herd.TopicStats{Topic: t}
		}
		return stats[t]
	}
	for t, id := range last.Val() {
		if p, err := posOf(id); err == nil {
			ts := get(t)
			ts.LastPos, ts.LastID = p, s.ID(p)
			ts.Retained, _ = strconv.Atoi(count.Val()[t])
		}
	}
	for t, id := range closed.Val() {
		if p, err := posOf(id); err == nil {
			ts := get(t)
			ts.Closed = true
			if p > ts.LastPos {
				ts.LastPos, ts.LastID = p, s.ID(p)
			}
		}
	}
	out := make([]herd.TopicStats, 0, len(stats))
	for _, ts := range stats {
		out = append(out, *ts)
	}
	slices.SortFunc(out, func(a, b herd.TopicStats) int { return strings.Compare(a.Topic, b.Topic) })
	return out, nil
}

// ID implements hub.Store.
func (s *Store) ID(p herd.Pos) string { return s.ids().ID(p) }

// ParseID implements hub.Store.
func (s *Store) ParseID(id string) (herd.Pos, error) { return s.ids().ParseID(id) }

// Ping implements hub.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// sweep applies age retention while nothing is published (publishing
// applies it too).
func (s *Store) sweep() {
	defer close(s.sweeping)
	if s.opts.Retention.MaxAge <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(min(time.Minute, max(s.opts.Retention.MaxAge/10, time.Second)))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			trimScript.Run(ctx, s.client, []string{s.keys.log, s.keys.count, s.keys.last, s.keys.trimmed}, s.retentionArgs()...)
			cancel()
		}
	}
}

// Close implements hub.Store.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.sweeping
	return s.client.Close()
}
