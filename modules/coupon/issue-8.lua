--[[
  Issues one coupon, atomically: the event is open (or paused: users already admitted may still
  take their coupon), not fenced by a reconciliation (nor, after one, waiting for an issuer that
  still holds entries from before it: see IssuerService.holding), the user holds a live running slot, has not
  been issued before, and stock is left (numbers compared as numbers). Then it takes one unit,
  records the user with the code, frees the slot, and appends the issuance to the event's stream in
  the same script, so a 201, its code and its stream entry can never disagree. The entry carries
  the event's epoch, so the issuer can tell issuances made before a reconciliation. The freed slot
  goes at once to the head of the waiting line (within the per-second admission budget).

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] running slots
    KEYS[4] issuance stream (consumed by the issuer)
    KEYS[5] waiting line
    KEYS[6] waiter liveness
    KEYS[7] admissions per second
    KEYS[8] batch holders (hash: issuer -> "<oldest epoch>:<until ms>")
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] event id
    ARGV[4] running slot ttl (ms)
    ARGV[5] coupon code (made by the caller, unique and unguessable)

  Output:
    {'issued', streamEntryId, admitted}   admitted: users moved from the line into the freed slot
    {'reconciling', fenceUntilMs}   the event's state was just rebuilt; sales resume at fenceUntil
    {'event_not_found'} | {'not_open'} | {'already_issued'} | {'sold_out'} | {'not_admitted'}
]]
--@include "../events/lua/event"
--@include "../queue/includes/admit"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if status == 'scheduled' or status == 'closed' or status == 'cancelled' then return {'not_open'} end
if redis.call('HEXISTS', KEYS[2], user) == 1 then
  redis.call('ZREM', KEYS[3], user)
  return {'already_issued'}
end
if ev.remaining <= 0 then
  redis.call('ZREM', KEYS[3], user)
  return {'sold_out'}
end
local slot = tonumber(redis.call('ZSCORE', KEYS[3], user))
if not slot or slot <= now then return {'not_admitted'} end
if ev.fenceUntil > now then return {'reconciling', ev.fenceUntil} end
if ev.guard then
  local held = redis.call('HGETALL', KEYS[8])
  for i = 2, #held, 2 do
    local epoch, untilMs = string.match(held[i], '^(%d+):(%d+)$')
    if epoch and tonumber(untilMs) > now and tonumber(epoch) < tonumber(ev.epoch) then return {'reconciling', now + 50} end
  end
  -- every batch from before the reconciliation is stored and counted: no need to look again
  redis.call('HDEL', KEYS[1], 'guard')
end

redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[2], user, ARGV[5])
redis.call('ZREM', KEYS[3], user)
local id = redis.call('XADD', KEYS[4], '*', 'e', ARGV[3], 'u', user, 't', ARGV[2], 'c', ARGV[5], 'ep', ev.epoch)
ev.remaining = ev.remaining - 1
local admitted = 0
if ev.remaining > 0 and status == 'open' then admitted = admitWaiting(ev, KEYS[5], KEYS[6], KEYS[3], KEYS[7], now, tonumber(ARGV[4])) end
return {'issued', id, admitted}
