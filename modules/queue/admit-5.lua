--[[
  One scheduler tick for one event: drop expired running slots and waiters who stopped polling,
  then admit from the head of the line. Safe to run from several schedulers at once: each run is
  atomic and the per-second admission budget is shared in Redis.
  Also refreshes the measured admission rate (users/s over the last 30 s) used for waiters' ETAs.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    KEYS[3] waiter liveness
    KEYS[4] running slots
    KEYS[5] admissions per second (hash: unix second -> count)
    ARGV[1] now (ms)
    ARGV[2] running slot ttl (ms)
    ARGV[3] waiter timeout (ms)

  Output: {expiredSlots, staleWaiters, admitted, status}
]]
--@include "../events/lua/event"
--@include "includes/admit"

local now, ttl, waiterTimeout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ev = readEvent(KEYS[1])
if not ev then return {0, 0, 0, 'event_not_found'} end

local expired = redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
-- bounded per tick so one script never blocks Redis for long; the next tick takes the rest
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - waiterTimeout, 'LIMIT', 0, 5000)
for i = 1, #stale, 1000 do
  local chunk = {}
  for j = i, math.min(i + 999, #stale) do chunk[#chunk + 1] = stale[j] end
  redis.call('ZREM', KEYS[2], unpack(chunk))
  redis.call('ZREM', KEYS[3], unpack(chunk))
end

local status = eventStatus(ev, now)
local admitted = 0
if status == 'sold_out' or status == 'closed' or status == 'cancelled' then
  -- nobody more can get in or be issued: empty the line and the slots (polls answer with the status from meta)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
elseif status == 'open' then
  admitted = admitWaiting(ev, KEYS[2], KEYS[3], KEYS[4], KEYS[5], now, ttl)
end

local sec = math.floor(now / 1000)
local counts = redis.call('HGETALL', KEYS[5])
local total, oldest = 0, sec
for i = 1, #counts, 2 do
  local s = tonumber(counts[i])
  if s <= sec - 60 then
    redis.call('HDEL', KEYS[5], counts[i])
  elseif s > sec - 30 then
    total = total + tonumber(counts[i + 1])
    if s < oldest then oldest = s end
  end
end
-- a line that formed 5 s ago is measured over 5 s, not diluted over 30
local span = math.max(1, math.min(30, sec - oldest + 1))
redis.call('HSET', KEYS[1], 'admitRate', tostring(total / span))
return {expired, #stale, admitted, status}
