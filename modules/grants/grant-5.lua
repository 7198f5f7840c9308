--[[
  Grants one coupon to a user outside the line (a make-good, support): the issue script's rule
  without the running slot — not fenced by a reconciliation (nor waiting for an issuer holding
  entries from before one), one per user, stock left (numbers compared as numbers) — then takes one
  unit, records the user with the code and appends the issuance to the event's stream in the same
  script, so the issuer persists it (and sends coupon.issued) like any other. Any status but
  cancelled: an operator may make good after the event closed (raising the stock first if needed).
  A slot the user held is freed: they hold a coupon now.
  Mirrors modules/coupon/issue-8.lua's checks and writes; both move to one shared include when it lands.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] running slots
    KEYS[4] issuance stream (consumed by the issuer)
    KEYS[5] batch holders (hash: issuer -> "<oldest epoch>:<until ms>")
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] event id
    ARGV[4] coupon code (made by the caller, unique and unguessable)

  Output:
    {'issued', streamEntryId}
    {'reconciling', fenceUntilMs}   the event's state was just rebuilt; sales resume at fenceUntil
    {'event_not_found'} | {'not_open'} | {'already_issued', code} | {'sold_out'}
]]
--@include "../events/lua/event"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
if eventStatus(ev, now) == 'cancelled' then return {'not_open'} end
local held = redis.call('HGET', KEYS[2], user)
if held then return {'already_issued', held} end
if ev.remaining <= 0 then return {'sold_out'} end
if ev.fenceUntil > now then return {'reconciling', ev.fenceUntil} end
if ev.guard then
  local holders = redis.call('HGETALL', KEYS[5])
  for i = 2, #holders, 2 do
    local epoch, untilMs = string.match(holders[i], '^(%d+):(%d+)$')
    if epoch and tonumber(untilMs) > now and tonumber(epoch) < tonumber(ev.epoch) then return {'reconciling', now + 50} end
  end
  redis.call('HDEL', KEYS[1], 'guard')
end

redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[2], user, ARGV[4])
redis.call('ZREM', KEYS[3], user)
local id = redis.call('XADD', KEYS[4], '*', 'e', ARGV[3], 'u', user, 't', ARGV[2], 'c', ARGV[4], 'ep', ev.epoch, 'g', '1')
return {'issued', id}
