--[[
  Issues one coupon, atomically: the event is open, the user holds a live running slot, has not
  been issued before, and stock is left (numbers compared as numbers). Then it takes one unit,
  records the user, frees the slot, and appends the issuance to the event's stream in the same
  script, so a 201 and its stream entry can never disagree. The freed slot goes at once to the
  head of the waiting line (within the per-second admission budget).

  Input:
    KEYS[1] event meta hash
    KEYS[2] set of users already issued
    KEYS[3] running slots
    KEYS[4] issuance stream (consumed by the issuer)
    KEYS[5] waiting line
    KEYS[6] waiter liveness
    KEYS[7] admissions per second
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] event id
    ARGV[4] running slot ttl (ms)

  Output:
    {'issued', streamEntryId, admitted}   admitted: users moved from the line into the freed slot
    {'event_not_found'} | {'not_open'} | {'already_issued'} | {'sold_out'} | {'not_admitted'}
]]
--@include "../events/lua/event"
--@include "../queue/includes/admit"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if status == 'scheduled' or status == 'closed' then return {'not_open'} end
if redis.call('SISMEMBER', KEYS[2], user) == 1 then
  redis.call('ZREM', KEYS[3], user)
  return {'already_issued'}
end
if ev.remaining <= 0 then
  redis.call('ZREM', KEYS[3], user)
  return {'sold_out'}
end
local slot = tonumber(redis.call('ZSCORE', KEYS[3], user))
if not slot or slot <= now then return {'not_admitted'} end

redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('SADD', KEYS[2], user)
redis.call('ZREM', KEYS[3], user)
local id = redis.call('XADD', KEYS[4], '*', 'e', ARGV[3], 'u', user, 't', ARGV[2])
ev.remaining = ev.remaining - 1
local admitted = 0
if ev.remaining > 0 then admitted = admitWaiting(ev, KEYS[5], KEYS[6], KEYS[3], KEYS[7], now, tonumber(ARGV[4])) end
return {'issued', id, admitted}
