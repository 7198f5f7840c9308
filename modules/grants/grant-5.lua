--[[
  Grants one coupon to a user outside the line (a make-good, support): the issue script's rule
  without the running slot — not fenced by a reconciliation (nor waiting for an issuer holding
  entries from before one), one per user, stock left (numbers compared as numbers) — then takes one
  unit, records the user with the code and appends the issuance to the event's stream in the same
  script, so the issuer persists it (and sends coupon.issued) like any other. Any status but
  cancelled: an operator may make good after the event closed (raising the stock first if needed).
  A slot the user held is freed: they hold a coupon now.
  Stock and one-per-user are decided by modules/coupon/includes/take.lua, the issue script's own.

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
    {'keys_lost'}   the issued hash lost users (includes/take.lua): nothing granted until reconciled
]]
--@include "../events/lua/event"
--@include "../coupon/includes/take"

local user, now = ARGV[1], tonumber(ARGV[2])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
if eventStatus(ev, now) == 'cancelled' then return {'not_open'} end
local refused = couponRefusal(ev, KEYS[2], user)
if refused == 'already_issued' then return {'already_issued', redis.call('HGET', KEYS[2], user)} end
if refused then return {refused} end
local held = salesHeld(ev, KEYS[1], KEYS[5], now)
if held then return {'reconciling', held} end

local id = takeCoupon(ev, KEYS[1], KEYS[2], KEYS[4], user, ARGV[4], ARGV[2], ARGV[3], true)
redis.call('ZREM', KEYS[3], user)
return {'issued', id}
