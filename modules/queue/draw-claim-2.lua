--[[
  The pre-queue draw, step 1 (modules/queue/draw.ts): closes the pre-queue if the start has come
  (includes/prequeue.lua) and claims the draw for one drawer for `lease` ms, so that several queue
  processes never draw at once. A drawer that stops renewing its claim (each move renews it) is
  taken over after the lease; the seed is MySQL's, so the one who takes over draws the same order.

  Input:
    KEYS[1] event meta hash
    KEYS[2] arrival sequence counter
    ARGV[1] now (ms)
    ARGV[2] drawer id
    ARGV[3] lease (ms)

  Output:
    {'claimed', preEnd}   the pre-queued users hold sequences 1..preEnd, or their drawn place in
                          preEnd+1..2 preEnd if an earlier drawer already moved them
    {'drawn'} | {'busy'} | {'not_due'} | {'none'} | {'ended'} | {'event_not_found'}
]]
--@include "../events/lua/event"
--@include "includes/prequeue"

local now, owner, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if status == 'closed' or status == 'cancelled' then return {'ended'} end
if ev.queueOpensAt <= 0 then return {'none'} end
if now < ev.startsAt then return {'not_due'} end
if redis.call('HEXISTS', KEYS[1], 'drawSeed') == 1 then return {'drawn'} end
preQueuePhase(KEYS[1], KEYS[2], ev, now)
local claim = redis.call('HGET', KEYS[1], 'drawClaim')
if claim then
  local who, untilMs = string.match(claim, '^(.*):(%d+)$')
  if who ~= owner and tonumber(untilMs) > now then return {'busy'} end
end
redis.call('HSET', KEYS[1], 'drawClaim', owner .. ':' .. (now + lease))
return {'claimed', ev.preEnd}
