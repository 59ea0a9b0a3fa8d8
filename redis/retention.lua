-- retention.lua defines trim, which both scripts use: it applies retention
-- to the stream exactly (MAXLEN and MINID, by entry), keeping the
-- per-topic counters right.

-- forget decrements the counters of the topics of entries about to go; a
-- topic with none left is forgotten (its newest id too).
local function forget(count, last, entries)
  for _, e in ipairs(entries) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 't' then
        for topic in string.gmatch(f[i + 1], '%S+') do
          if redis.call('HINCRBY', count, topic, -1) <= 0 then
            redis.call('HDEL', count, topic)
            redis.call('HDEL', last, topic)
          end
        end
      end
    end
  end
end

-- after returns the smallest stream id after id.
local function after(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. tostring(tonumber(seq) + 1)
end

-- remove deletes the entries old (the oldest of the stream) and records
-- the newest id removed in trimmed, which readers compare with their
-- resume point. (XTRIM does not keep max-deleted-entry-id in Redis 7.0.)
local function remove(log, count, last, trimmed, old)
  if #old == 0 then
    return
  end
  forget(count, last, old)
  local newest = old[#old][1]
  redis.call('XTRIM', log, 'MINID', after(newest))
  redis.call('SET', trimmed, newest)
end

-- trim keeps at most maxlen entries (0: any number) and none older than
-- maxage milliseconds by Redis's clock (0: any age).
local function trim(log, count, last, trimmed, maxlen, maxage)
  if maxlen > 0 then
    local excess = redis.call('XLEN', log) - maxlen
    if excess > 0 then
      remove(log, count, last, trimmed, redis.call('XRANGE', log, '-', '+', 'COUNT', excess))
    end
  end
  if maxage > 0 then
    local t = redis.call('TIME')
    local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - maxage
    remove(log, count, last, trimmed, redis.call('XRANGE', log, '-', string.format('(%d-0', cutoff), 'COUNT', 10000))
  end
end
