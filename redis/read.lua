-- read.lua returns the entries after a position, bounded in number and in
-- data bytes, with the trimming marker read in the same atomic step (so
-- the gap flag is exact).
-- KEYS: log, trimmed
-- ARGV: start ("-" or "(" .. id), max entries, max data bytes (0: no bound)
-- Returns {trimmed id or false, {entry, ...}}; an entry is {id, {field,
-- value, ...}}, as XRANGE gives it.
local log, start = KEYS[1], ARGV[1]
local max, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3])
local out, bytes = {}, 0

-- size returns the length of an entry's data field.
local function size(entry)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == 'd' then
      return #f[i + 1]
    end
  end
  return 0
end

while #out < max do
  local chunk = redis.call('XRANGE', log, start, '+', 'COUNT', math.min(64, max - #out))
  if #chunk == 0 then
    break
  end
  for _, entry in ipairs(chunk) do
    local n = size(entry)
    if #out > 0 and maxBytes > 0 and bytes + n > maxBytes then
      return {redis.call('GET', KEYS[2]), out}
    end
    bytes = bytes + n
    out[#out + 1] = entry
    start = '(' .. entry[1]
  end
end
return {redis.call('GET', KEYS[2]), out}
