--[[
  A user polls their place, exactly (a router answers waiters far from the head from its view of
  the event instead, see modules/router/view.ts). Polling is what keeps a waiter in line.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    KEYS[3] waiter liveness (string: u32 last seen per arrival sequence)
    KEYS[4] running slots
    ARGV[1] user id
    ARGV[2] now (ms)

  Output:
    {'pre_queue', arrival sequence, remaining, users in the line}   in the pre-queue, place not drawn yet
    {'admitted', expiresAtMs, remaining} | {'waiting', position, remaining, arrival sequence, measured admitRate, admitPerSecond}
    {'sold_out'} | {'closed'}        the event can admit nobody more
    {'event_not_found'} | {'not_in_queue'}
]]
--@include "../events/lua/event"
--@include "includes/live"
--@include "includes/prequeue"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if status == 'sold_out' or status == 'closed' then return {status} end
if status == 'cancelled' then return {'closed'} end
local phase = preQueuePhase(KEYS[1], nil, ev, now)

local slot = tonumber(redis.call('ZSCORE', KEYS[4], user))
if slot and slot > now then return {'admitted', slot, ev.remaining} end

local seq = redis.call('ZSCORE', KEYS[2], user)
if not seq then return {'not_in_queue'} end
markLive(KEYS[3], seq, now)
seq = tonumber(seq)
if phase == 'open' or (phase == 'drawing' and preQueued(ev, seq)) then return {'pre_queue', seq, ev.remaining, redis.call('ZCARD', KEYS[2])} end
return {'waiting', redis.call('ZRANK', KEYS[2], user) + 1, ev.remaining, seq, ev.admitRate, ev.admitPerSecond}
