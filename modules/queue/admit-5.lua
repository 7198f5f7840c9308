--[[
  One scheduler tick for one event: drop expired running slots, then admit from the head of the
  line, dropping heads that stopped polling on the way (see includes/admit.lua). Safe to run from
  several schedulers at once: each run is atomic and the per-second admission budget is shared in Redis.
  Also refreshes the measured admission rate used for waiters' ETAs: users/s over the last 30 s, or
  0 when nobody was admitted from the line in the last 10 s (a line held up by slots nobody frees
  is not moving, whatever it did a moment ago). Admits nobody while a pre-queue's places are being
  drawn (includes/prequeue.lua), and says when an event's draw is due.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    KEYS[3] waiter liveness (string: u32 last seen per arrival sequence)
    KEYS[4] running slots
    KEYS[5] admissions per second (hash: unix second -> count)
    ARGV[1] now (ms)
    ARGV[2] running slot ttl (ms)
    ARGV[3] waiter timeout (ms)

  Output: {expiredSlots, staleWaiters, admitted, status, drawDue (1: started with a pre-queue, no seed drawn yet)}
]]
--@include "../events/lua/event"
--@include "includes/live"
--@include "includes/admit"
--@include "includes/prequeue"

local now, ttl, waiterTimeout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ev = readEvent(KEYS[1])
if not ev then return {0, 0, 0, 'event_not_found'} end

local expired = redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local status = eventStatus(ev, now)
local admitted, stale, drawDue = 0, 0, 0
if ev.queueOpensAt > 0 and status ~= 'scheduled' and status ~= 'closed' and status ~= 'cancelled' and redis.call('HEXISTS', KEYS[1], 'drawSeed') == 0 then drawDue = 1 end
if status == 'sold_out' or status == 'closed' or status == 'cancelled' then
  -- nobody more can get in or be issued: empty the line and the slots (polls answer with the status from meta)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
elseif status == 'open' and preQueuePhase(KEYS[1], nil, ev, now) ~= 'drawing' then
  admitted, stale = admitWaiting(ev, KEYS[2], KEYS[3], KEYS[4], KEYS[5], now, ttl, waiterTimeout)
end

local sec = math.floor(now / 1000)
local counts = redis.call('HGETALL', KEYS[5])
local total, oldest, lately = 0, sec, 0
for i = 1, #counts, 2 do
  local s = tonumber(counts[i])
  if s <= sec - 60 then
    redis.call('HDEL', KEYS[5], counts[i])
  elseif s > sec - 30 then
    total = total + tonumber(counts[i + 1])
    if s < oldest then oldest = s end
    if s > sec - 10 then lately = lately + tonumber(counts[i + 1]) end
  end
end
-- a line that formed 5 s ago is measured over 5 s, not diluted over 30
local span = math.max(1, math.min(30, sec - oldest + 1))
local rate = 0
if lately > 0 then rate = total / span end
redis.call('HSET', KEYS[1], 'admitRate', tostring(rate))
return {expired, stale, admitted, status, drawDue}
