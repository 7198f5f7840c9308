--[[
  One scheduler step of an on_turn event: the platform issues the coupon to the head of the line
  itself, in entry order, at most admitPerSecond a second (the budget shared in Redis with every
  scheduler), whether the users' pages are open or not: nobody on an on_turn event is dropped for
  silence. Stock and one-per-user are decided by includes/take.lua in the coupon module, the same
  Lua the issue script runs, and each issuance goes to the same stream (issuer, codes, webhooks
  unchanged). Atomic: a scheduler killed mid-tick issued all of a step or none of it, and two
  schedulers never issue past the budget nor out of order. Issues nobody while the event is not
  open, its pre-queue is being drawn, or a reconciliation holds sales.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] waiting line
    KEYS[4] issuance stream
    KEYS[5] batch holders
    KEYS[6] admissions per second
    ARGV[1] now (ms)
    ARGV[2] event id
    ARGV[3…] coupon codes (made by the caller, unique and unguessable): at most this many are issued

  Output: {why, issued, heldUntilMs, users issued…}: why is 'open' (the step ran), 'manual', a status
  other than open, 'drawing', 'reconciling' (sales held until heldUntilMs; else 0), 'keys_lost' (the
  issued hash lost users: nobody issued until the event is reconciled) or 'event_not_found'; the users issued in order (the i-th got the i-th code)
]]
--@include "../events/lua/event"
--@include "../coupon/includes/take"
--@include "includes/prequeue"

local now = tonumber(ARGV[1])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found', 0, 0} end
if not ev.onTurn then return {'manual', 0, 0} end
local status = eventStatus(ev, now)
if status ~= 'open' then return {status, 0, 0} end
if preQueuePhase(KEYS[1], nil, ev, now) == 'drawing' then return {'drawing', 0, 0} end
local held = salesHeld(ev, KEYS[1], KEYS[5], now)
if held then return {'reconciling', 0, held} end

local sec = math.floor(now / 1000)
local used = tonumber(redis.call('HGET', KEYS[6], sec)) or 0
local n = math.min(#ARGV - 2, ev.admitPerSecond - used)
local issued, looked, users = 0, 0, {}
-- bounded per call so one script never blocks Redis for long
while issued < n and looked < 5000 do
  local heads = redis.call('ZRANGE', KEYS[3], 0, math.min(n - issued, 1000) - 1)
  if #heads == 0 then break end
  looked = looked + #heads
  local soldOut = false
  for _, user in ipairs(heads) do
    local refused = couponRefusal(ev, KEYS[2], user)
    -- found before anything was issued here (take.lua looks once): nobody is issued until the repair
    if refused == 'keys_lost' then return {'keys_lost', 0, 0} end
    if refused == 'sold_out' then
      soldOut = true
      break
    end
    -- already issued (a grant outside the line): leaves the line without using the budget
    redis.call('ZREM', KEYS[3], user)
    if not refused then
      issued = issued + 1
      users[issued] = user
      takeCoupon(ev, KEYS[1], KEYS[2], KEYS[4], user, ARGV[2 + issued], ARGV[1], ARGV[2])
    end
  end
  if soldOut then break end
end
if issued > 0 then
  redis.call('HINCRBY', KEYS[6], sec, issued)
  redis.call('PEXPIRE', KEYS[6], 120000)
end
return {'open', issued, 0, unpack(users)}
