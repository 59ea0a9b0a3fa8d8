package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herd-sse/herd"
)

// openScript gives a prefix its generation (epoch) and its history
// settings, each unless it has them (or, for the settings, when told to
// change them), and returns both as recorded, in one atomic step.
// KEYS: epoch, settings. ARGV: a new epoch, max events, max age ms,
// idempotency TTL ms (0: no limit), change (0/1).
// Returns {epoch, {max events, max age ms, idempotency TTL ms}}.
var openScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
end
if ARGV[5] == '1' or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'max_events', ARGV[2], 'max_age_ms', ARGV[3], 'idempotency_ttl_ms', ARGV[4])
end
return {redis.call('GET', KEYS[1]), redis.call('HMGET', KEYS[2], 'max_events', 'max_age_ms', 'idempotency_ttl_ms')}
`)

// history returns the node's history settings as Redis records them (in
// milliseconds).
func (s *Store) history() herd.HistorySettings {
	h := s.opts.History()
	h.MaxAge = h.MaxAge.Truncate(time.Millisecond)
	h.IdempotencyTTL = h.IdempotencyTTL.Truncate(time.Millisecond)
	return h
}

// record runs openScript: it adopts the prefix's generation, creating one
// if it has none (a new or wiped prefix), and returns the history
// settings recorded for it.
func (s *Store) record(ctx context.Context, change bool) (herd.HistorySettings, error) {
	own := s.history()
	flag := "0"
	if change {
		flag = "1"
	}
	res, err := openScript.Run(ctx, s.client, []string{s.keys.epoch, s.keys.settings}, string(herd.NewEpoch()),
		own.MaxEvents, own.MaxAge.Milliseconds(), own.IdempotencyTTL.Milliseconds(), flag).Slice()
	if err != nil {
		return herd.HistorySettings{}, wrap("open", err)
	}
	epoch, _ := res[0].(string)
	fields, _ := res[1].([]any)
	if epoch == "" || len(fields) != 3 {
		return herd.HistorySettings{}, fmt.Errorf("redis: open: unexpected reply %v", res)
	}
	var n [3]int64
	for i, f := range fields {
		v, _ := f.(string)
		if n[i], err = strconv.ParseInt(v, 10, 64); err != nil || n[i] < 0 {
			return herd.HistorySettings{}, fmt.Errorf("redis: the history settings recorded in %s are unreadable (%q): "+
				"start one node with --change-history-settings to record its own", s.keys.settings, v)
		}
	}
	s.adopt(epoch)
	return herd.HistorySettings{MaxEvents: int(n[0]), MaxAge: time.Duration(n[1]) * time.Millisecond,
		IdempotencyTTL: time.Duration(n[2]) * time.Millisecond}, nil
}

// open adopts the prefix's generation and checks that this node's history
// settings are those recorded (or records them, if the prefix has none or
// StoreOptions.ChangeSettings is set).
func (s *Store) open(ctx context.Context) error {
	recorded, err := s.record(ctx, s.opts.ChangeSettings)
	if err != nil {
		return err
	}
	return s.history().Mismatch(fmt.Sprintf("redis: prefix %q", s.opts.Prefix), recorded)
}

// recorded describes the history settings recorded for the prefix, for
// Check: "" if there are none yet.
func (s *Store) recorded(ctx context.Context) (string, error) {
	fields, err := s.client.HMGet(ctx, s.keys.settings, "max_events", "max_age_ms", "idempotency_ttl_ms").Result()
	if err != nil {
		return "", wrap("check", err)
	}
	var n [3]int64
	for i, f := range fields {
		v, ok := f.(string)
		if !ok {
			return "", nil
		}
		n[i], _ = strconv.ParseInt(v, 10, 64)
	}
	h := herd.HistorySettings{MaxEvents: int(n[0]), MaxAge: time.Duration(n[1]) * time.Millisecond,
		IdempotencyTTL: time.Duration(n[2]) * time.Millisecond}
	return "; it records " + h.String(), nil
}
