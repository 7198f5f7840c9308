--[[
  Writes a rebuilt event meta hash unless one exists (the first restorer wins), with remaining
  stock derived from the set of users already promised a coupon.

  Input:
    KEYS[1] event meta hash
    KEYS[2] set of users already issued (filled by the caller from MySQL and the streams)
    ARGV    field, value, field, value… of the meta hash

  Output: 1 if written, 0 if the meta already existed
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock'))
redis.call('HSET', KEYS[1], 'remaining', math.max(0, stock - redis.call('SCARD', KEYS[2])))
return 1
