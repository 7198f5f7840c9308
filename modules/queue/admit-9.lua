--[[
  One scheduler tick for one event. Manual events: running slots that lapsed unused keep their
  holders' places (includes/slots.lua), then users are admitted from the head of the line,
  dropping heads that stopped polling on the way (includes/admit.lua). On_turn events hold no
  slots and drop nobody for silence: the tick says how many coupons the scheduler may issue now
  (turn-6.lua issues them). Safe to run from several schedulers at once: each run is atomic and
  the per-second admission budget is shared in Redis.
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
    KEYS[6] slot holders' arrival sequences
    KEYS[7] lapsed places
    KEYS[8] departures (modules/queue/leave-7.lua)
    KEYS[9] departures' trim record
    ARGV[1] now (ms)
    ARGV[2] running slot ttl (ms) by default (the event's slotSeconds wins)
    ARGV[3] waiter timeout (ms) by default (the event's graceSeconds wins)

  Output: {lapsedSlots, staleWaiters, admitted, status, drawDue (1: started with a pre-queue, no seed
  drawn yet), turn (on_turn events: coupons the scheduler may issue now)}
]]
--@include "../events/lua/event"
--@include "includes/live"
--@include "includes/admit"
--@include "includes/prequeue"
--@include "includes/slots"

local now = tonumber(ARGV[1])
local ev = readEvent(KEYS[1])
if not ev then return {0, 0, 0, 'event_not_found', 0, 0} end

local status = eventStatus(ev, now)
local lapsed, admitted, stale, drawDue, turn = 0, 0, 0, 0, 0
if ev.queueOpensAt > 0 and status ~= 'scheduled' and status ~= 'closed' and status ~= 'cancelled' and redis.call('HEXISTS', KEYS[1], 'drawSeed') == 0 then drawDue = 1 end
if status == 'sold_out' or status == 'closed' or status == 'cancelled' then
  -- nobody more can get in or be issued: empty the line, the slots and the departures (polls answer
  -- with the status from meta; a line started again hands out sequences past every old ticket's)
  -- UNLINK: a line of a million is freed in the background, not inside this script
  redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8], KEYS[9])
elseif ev.onTurn then
  if status == 'open' and preQueuePhase(KEYS[1], nil, ev, now) ~= 'drawing' then
    local used = tonumber(redis.call('HGET', KEYS[5], math.floor(now / 1000))) or 0
    turn = math.max(0, math.min(ev.admitPerSecond - used, ev.remaining, redis.call('ZCARD', KEYS[2])))
  end
else
  -- bounded per tick like admission; slots left over lapse at the next one (enter and poll see them lapsed already)
  lapsed = lapseSlots(KEYS[4], KEYS[6], KEYS[7], now, 2000)
  if status == 'open' and preQueuePhase(KEYS[1], nil, ev, now) ~= 'drawing' then
    admitted, stale = admitWaiting(ev, KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[5], now, slotTtlOf(ev, tonumber(ARGV[2])), graceOf(ev, tonumber(ARGV[3])))
  end
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
return {lapsed, stale, admitted, status, drawDue, turn}
