--[[
  Issues one coupon on a manual event, atomically: the event is open (or paused: users already
  admitted may still take their coupon), the user holds a live running slot, and includes/take.lua
  (the one place that decides stock and one-per-user, for both claims) finds nothing against it
  and no reconciliation holding sales; then it takes the coupon (stock, the user's code, the stream
  entry) and frees the slot. The freed slot goes at once to the head of the waiting line (within
  the per-second admission budget). On an on_turn event nobody presses issue: the scheduler issues
  (modules/queue/turn-6.lua), and this script only tells a holder from anyone else.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] running slots
    KEYS[4] issuance stream (consumed by the issuer)
    KEYS[5] waiting line
    KEYS[6] waiter liveness
    KEYS[7] admissions per second
    KEYS[8] batch holders (hash: issuer -> "<oldest epoch>:<until ms>")
    KEYS[9] slot holders' arrival sequences (queue/includes/slots.lua)
    KEYS[10] lapsed places (queue/includes/slots.lua)
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] event id
    ARGV[4] running slot ttl (ms) by default (the event's slotSeconds wins)
    ARGV[5] coupon code (made by the caller, unique and unguessable)
    ARGV[6] waiter timeout (ms) by default (the event's graceSeconds wins): heads silent for longer
            are dropped, not given the freed slot

  Output:
    {'issued', streamEntryId, admitted}   admitted: users moved from the line into the freed slot
    {'reconciling', fenceUntilMs}   the event's state was just rebuilt; sales resume at fenceUntil
    {'event_not_found'} | {'not_open'} | {'already_issued'} | {'sold_out'} | {'not_admitted'}
    {'keys_lost'}   the issued hash lost users (includes/take.lua): nothing issued until reconciled
]]
--@include "../events/lua/event"
--@include "includes/take"
--@include "../queue/includes/live"
--@include "../queue/includes/admit"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if status == 'scheduled' or status == 'closed' or status == 'cancelled' then return {'not_open'} end
if ev.onTurn then
  if redis.call('HEXISTS', KEYS[2], user) == 1 then return {'already_issued'} end
  return {'not_admitted'}
end
local refused = couponRefusal(ev, KEYS[2], user)
if refused then
  -- a user with a coupon (or none left) needs no slot; a damaged event keeps it for after the repair
  if refused ~= 'keys_lost' then redis.call('ZREM', KEYS[3], user) end
  return {refused}
end
local slot = tonumber(redis.call('ZSCORE', KEYS[3], user))
if not slot or slot <= now then return {'not_admitted'} end
local held = salesHeld(ev, KEYS[1], KEYS[8], now)
if held then return {'reconciling', held} end

local id = takeCoupon(ev, KEYS[1], KEYS[2], KEYS[4], user, ARGV[5], ARGV[2], ARGV[3])
redis.call('ZREM', KEYS[3], user)
redis.call('HDEL', KEYS[9], user)
redis.call('HDEL', KEYS[10], user)
local admitted = 0
if ev.remaining > 0 and status == 'open' then
  admitted = admitWaiting(ev, KEYS[5], KEYS[6], KEYS[3], KEYS[9], KEYS[7], now, slotTtlOf(ev, tonumber(ARGV[4])), graceOf(ev, tonumber(ARGV[6])))
end
return {'issued', id, admitted}
