--[[
  The last step of reconciling an event's Redis state with MySQL. The caller holds the event's MySQL
  row lock and has already put into the issued hash every user MySQL and the streams know of, so
  "stock − issued users" bounds what may still be sold. A missing or partial meta is written whole
  with remaining at that bound; an existing one gets its settings from MySQL (the record) and its
  remaining only ever lowered to the bound, never raised (but by the operator's release): safe while
  the event is live.
  The epoch only moves forward (two reconciliations may finish in either order). When Redis is
  known or suspected to have lost writes, sales are fenced for a while, so that issuances read by an
  issuer before the loss are persisted and counted before anyone new is promised a coupon.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    ARGV[1] now (ms)
    ARGV[2] fence (ms)
    ARGV[3] 1 if writes may have been lost, else 0
    ARGV[4] 1 when the operator releases the units no user holds anywhere (POST …/release-unaccounted):
            remaining is then set to the bound, raised if need be; else 0 (never raised)
    ARGV[5…] field, value, … of the meta hash from MySQL, without remaining (stock and epoch included)

  Output: {repaired (1 if the meta was rebuilt or its remaining moved, else 0), remaining}
]]
local now, fence, lost, release = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4] == '1'
local fields = {}
local epoch, stock
for i = 5, #ARGV, 2 do
  if ARGV[i] == 'epoch' then epoch = tonumber(ARGV[i + 1])
  else
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
    if ARGV[i] == 'stock' then stock = tonumber(ARGV[i + 1]) end
  end
end
local bound = math.max(0, stock - redis.call('HLEN', KEYS[2]))
local whole = redis.call('HEXISTS', KEYS[1], 'stock') == 1 and redis.call('HEXISTS', KEYS[1], 'remaining') == 1
local repaired = 0
local remaining = bound
if whole then
  remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
  if bound < remaining or (release and bound > remaining) then
    remaining = bound
    repaired = 1
  end
else
  repaired = 1
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HSET', KEYS[1], 'remaining', remaining)
local old = tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0
if not whole or epoch > old then redis.call('HSET', KEYS[1], 'epoch', epoch) end
-- after the fence, sales also wait for issuers still holding entries from before (issue-N.lua, guard)
if (lost or repaired == 1) and fence > 0 then redis.call('HSET', KEYS[1], 'fenceUntil', now + fence, 'guard', '1') end
return {repaired, remaining}
