--[[
  A user polls their place, exactly (a router answers waiters far from the head from its view of
  the event instead, see modules/router/view.ts). Polling is what keeps a waiter in line on a
  manual event. A user whose slot lapsed unused is back in line at their place (includes/slots.lua):
  at once in a slot if they are at the head and one is free. On an on_turn event a holder gets
  their coupon's code.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] waiting line
    KEYS[4] waiter liveness (string: u32 last seen per arrival sequence)
    KEYS[5] running slots
    KEYS[6] slot holders' arrival sequences
    KEYS[7] lapsed places
    KEYS[8] admissions per second
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] running slot ttl (ms) by default (the event's slotSeconds wins)

  Output:
    {'pre_queue', arrival sequence, remaining, users in the line}   in the pre-queue, place not drawn yet
    {'admitted', expiresAtMs, remaining, lapsedAt (0: none)}
    {'waiting', position, remaining, arrival sequence, measured admitRate, admitPerSecond, lapsedAt (0: none), claim}
    {'issued', code}                  on_turn: the user's coupon
    {'sold_out'} | {'closed'}        the event can admit nobody more
    {'event_not_found'} | {'not_in_queue'}
]]
--@include "../events/lua/event"
--@include "includes/live"
--@include "includes/prequeue"
--@include "includes/slots"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
if ev.onTurn then
  local code = redis.call('HGET', KEYS[2], user)
  if code then return {'issued', code} end
end
local status = eventStatus(ev, now)
if status == 'sold_out' or status == 'closed' then return {status} end
if status == 'cancelled' then return {'closed'} end
local phase = preQueuePhase(KEYS[1], nil, ev, now)

local slot = tonumber(redis.call('ZSCORE', KEYS[5], user))
if slot and slot > now then
  local _, at = lapsedPlace(KEYS[7], user)
  return {'admitted', slot, ev.remaining, at or 0}
end
if slot then lapseOne(KEYS[5], KEYS[6], KEYS[7], user, slot) end

local seq = redis.call('ZSCORE', KEYS[3], user)
local lapsedAt = 0
if seq then
  seq = tonumber(seq)
  local _, at = lapsedPlace(KEYS[7], user)
  lapsedAt = at or 0
else
  seq, lapsedAt = rejoin(KEYS[3], KEYS[7], user)
  if not seq then return {'not_in_queue'} end
  local expires = admitAtOnce(ev, status == 'open' and phase ~= 'drawing', KEYS[3], KEYS[5], KEYS[6], KEYS[8], user, seq, now, slotTtlOf(ev, tonumber(ARGV[3])))
  if expires then return {'admitted', expires, ev.remaining, lapsedAt} end
end
markLive(KEYS[4], seq, now)
if phase == 'open' or (phase == 'drawing' and preQueued(ev, seq)) then return {'pre_queue', seq, ev.remaining, redis.call('ZCARD', KEYS[3])} end
return {'waiting', redis.call('ZRANK', KEYS[3], user) + 1, ev.remaining, seq, ev.admitRate, ev.admitPerSecond, lapsedAt, ev.onTurn and 'on_turn' or 'manual'}
