package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herd-sse/herd"
)

var _ herd.Reopener = (*Store)(nil)

// reopenScript removes topics' closes from the closed hash and returns
// the id each had (false for an open topic), in one step: Redis runs it
// between two appends, never during one.
var reopenScript = goredis.NewScript(`
local out = {}
for i, topic in ipairs(ARGV) do
  out[i] = redis.call('HGET', KEYS[1], topic)
  if out[i] then redis.call('HDEL', KEYS[1], topic) end
end
return out
`)

// Reopen implements hub.Reopener: the topics' closes are removed from the
// closed hash every node reads; their events stay.
func (s *Store) Reopen(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	out := map[string]herd.Pos{}
	if len(topics) == 0 {
		return out, nil
	}
	args := make([]any, len(topics))
	for i, t := range topics {
		args[i] = t
	}
	vals, err := reopenScript.Run(ctx, s.client, []string{s.keys.closed}, args...).Slice()
	if err != nil {
		return nil, wrap("reopen", err)
	}
	for i, v := range vals {
		if id, ok := v.(string); ok && i < len(topics) {
			if p, err := posOf(id); err == nil {
				out[topics[i]] = p
			}
		}
	}
	return out, nil
}
