--[[
  Writes changed settings onto an event's meta hash, only if the hash is a whole event. A write to a
  missing hash (Redis wiped while the request ran) would create a partial one that reads as an
  event without stock; MySQL already holds the change, and reconciliation rebuilds the hash from it.

  Input:
    KEYS[1] event meta hash
    ARGV    field, value, field, value…

  Output: 1 if written, 0 if the hash was not a whole event
]]
if redis.call('HEXISTS', KEYS[1], 'stock') == 0 or redis.call('HEXISTS', KEYS[1], 'remaining') == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
