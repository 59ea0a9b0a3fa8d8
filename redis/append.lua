-- append.lua stores one published event (retention.lua is prepended).
-- KEYS: log, closed, count, last, trimmed, idempotency key (a placeholder
--       if none)
-- ARGV: topics (space-separated), type, data, retry ms, flags (herd.Flags:
--       1 is close), use idempotency (0/1), idempotency TTL ms, max
--       events, max age ms
-- Returns {0, id} for a new event, {1, id} for a repeated idempotency key,
-- {2, topic} when a topic of the event is closed (nothing is stored).
local log, closed, count, last, trimmed, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local topics, flags = ARGV[1], tonumber(ARGV[5])

if ARGV[6] == '1' then
  local prev = redis.call('GET', idem)
  if prev then
    return {1, prev}
  end
end
for topic in string.gmatch(topics, '%S+') do
  if redis.call('HEXISTS', closed, topic) == 1 then
    return {2, topic}
  end
end
local id = redis.call('XADD', log, '*', 't', topics, 'e', ARGV[2], 'd', ARGV[3], 'r', ARGV[4], 'f', ARGV[5])
for topic in string.gmatch(topics, '%S+') do
  redis.call('HINCRBY', count, topic, 1)
  redis.call('HSET', last, topic, id)
  if flags % 2 == 1 then
    redis.call('HSET', closed, topic, id)
  end
end
if ARGV[6] == '1' then
  redis.call('SET', idem, id, 'PX', ARGV[7])
end
trim(log, count, last, trimmed, tonumber(ARGV[8]), tonumber(ARGV[9]))
return {0, id}
