--[[
  A user polls their place. Polling is what keeps a waiter in line (liveness refresh).

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    KEYS[3] waiter liveness
    KEYS[4] running slots
    ARGV[1] user id
    ARGV[2] now (ms)

  Output:
    {'admitted', expiresAtMs} | {'waiting', position, measured admitRate, admitPerSecond}
    {'sold_out'} | {'closed'}        the event can admit nobody more
    {'event_not_found'} | {'not_in_queue'}
]]
--@include "../events/lua/event"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if status == 'sold_out' or status == 'closed' then return {status} end
if status == 'cancelled' then return {'closed'} end

local slot = tonumber(redis.call('ZSCORE', KEYS[4], user))
if slot and slot > now then return {'admitted', slot} end

local rank = redis.call('ZRANK', KEYS[2], user)
if not rank then return {'not_in_queue'} end
redis.call('ZADD', KEYS[3], now, user)
return {'waiting', rank + 1, ev.admitRate, ev.admitPerSecond}
