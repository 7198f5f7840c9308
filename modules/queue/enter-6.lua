--[[
  A user asks to enter an event. Decides, atomically: admit now (take a running slot) or queue.
  A direct admission is not an admission from the line: it uses none of the scheduler's
  admitPerSecond budget and is not part of the measured rate waiters' ETAs come from.
  Idempotent: a user who holds a live slot or a place in line gets that back, never a second place.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] waiting line (zset: user -> arrival sequence)
    KEYS[4] waiter liveness (zset: user -> last seen ms)
    KEYS[5] arrival sequence counter
    KEYS[6] running slots (zset: user -> slot expiry ms)
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] running slot ttl (ms)
    ARGV[4] live request rate of the event, per minute, as measured by the router (excluding this request)

  Output:
    {'admitted', expiresAtMs}         a slot the user already held
    {'admitted', expiresAtMs, 1}      a slot taken now (counted as a direct admission)
    {'waiting', position (1-based), measured admitRate, admitPerSecond}
    {'event_not_found'} | {'not_open'} | {'sold_out'} | {'already_issued'} | {'line_full'}
]]
--@include "../events/lua/event"

local user, now, ttl, rpm = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if redis.call('HEXISTS', KEYS[2], user) == 1 then return {'already_issued'} end
if status == 'sold_out' then return {'sold_out'} end
-- a paused event still queues (in order), it only admits nobody
if status ~= 'open' and status ~= 'paused' then return {'not_open'} end

local slot = tonumber(redis.call('ZSCORE', KEYS[6], user))
if slot and slot > now then return {'admitted', slot} end

if not redis.call('ZSCORE', KEYS[3], user) then
  -- Anyone waiting, a full running queue, or a hot event sends the user to the back of the line.
  local live = redis.call('ZCOUNT', KEYS[6], '(' .. now, '+inf')
  local waiting = redis.call('ZCARD', KEYS[3])
  if status == 'open' and waiting == 0 and live < ev.capacity and rpm < ev.trafficRpm then
    local expires = now + ttl
    redis.call('ZADD', KEYS[6], expires, user)
    return {'admitted', expires, 1}
  end
  if ev.maxWaiting > 0 and waiting >= ev.maxWaiting then return {'line_full'} end
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), user)
end
redis.call('ZADD', KEYS[4], now, user)
return {'waiting', redis.call('ZRANK', KEYS[3], user) + 1, ev.admitRate, ev.admitPerSecond}
