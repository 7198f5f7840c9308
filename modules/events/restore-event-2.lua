--[[
  Rebuilds an event's meta hash, or repairs an existing one. The caller has first added to the
  issued set every user MySQL and the streams know of, so "stock − issued users" bounds what may
  still be sold. A missing meta is written whole (the first restorer wins); an existing one only
  ever has its remaining stock lowered to that bound, never raised — safe while the event is live.

  Input:
    KEYS[1] event meta hash
    KEYS[2] set of users already issued (filled by the caller from MySQL and the streams)
    ARGV    field, value, field, value… of the meta hash

  Output: 1 if written, 0 if the meta existed (and was repaired where needed)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  local bound = math.max(0, tonumber(redis.call('HGET', KEYS[1], 'stock')) - redis.call('SCARD', KEYS[2]))
  if bound < tonumber(redis.call('HGET', KEYS[1], 'remaining')) then redis.call('HSET', KEYS[1], 'remaining', bound) end
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock'))
redis.call('HSET', KEYS[1], 'remaining', math.max(0, stock - redis.call('SCARD', KEYS[2])))
return 1
