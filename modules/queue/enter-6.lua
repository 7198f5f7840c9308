--[[
  A user asks to enter an event. Decides, atomically: admit now (take a running slot) or queue.
  A direct admission is not an admission from the line: it uses none of the scheduler's
  admitPerSecond budget and is not part of the measured rate waiters' ETAs come from.
  Idempotent: a user who holds a live slot or a place in line gets that back, never a second place.
  Lean on purpose (every request of a flash crowd that is not answered from the router's view of
  the event runs it): no ZCOUNT of the slots while anyone waits, no ZRANK for a newcomer (their
  place is the length of the line before them), and the line's head, rates and ETA come from the view.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] waiting line (zset: user -> arrival sequence)
    KEYS[4] waiter liveness (string: u32 last seen per arrival sequence)
    KEYS[5] arrival sequence counter
    KEYS[6] running slots (zset: user -> slot expiry ms)
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] running slot ttl (ms)
    ARGV[4] live request rate of the event, per minute, as measured by the router (excluding this request)

  Between queueOpensAt and startsAt the user joins the pre-queue (includes/prequeue.lua); from the
  start until the draw is done a pre-queued user is told so again, and nobody is admitted directly.

  Output:
    {'pre_queue', arrival sequence, remaining, users in the line}   in the pre-queue, place not drawn yet
    {'admitted', expiresAtMs, remaining}      a slot the user already held
    {'admitted', expiresAtMs, remaining, 1}   a slot taken now (counted as a direct admission)
    {'waiting', position (1-based), remaining, arrival sequence, measured admitRate, admitPerSecond}
    {'event_not_found'} | {'not_open'} | {'sold_out'} | {'already_issued'} | {'line_full'}
]]
--@include "../events/lua/event"
--@include "includes/live"
--@include "includes/prequeue"

local user, now, ttl, rpm = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ev = readEvent(KEYS[1])
if not ev then return {'event_not_found'} end
local status = eventStatus(ev, now)
if redis.call('HEXISTS', KEYS[2], user) == 1 then return {'already_issued'} end
if status == 'sold_out' then return {'sold_out'} end
-- a newcomer joins the back of the line (or the pre-queue), unless it already holds maxWaiting users
local function join(size)
  if ev.maxWaiting > 0 and size >= ev.maxWaiting then return nil end
  local seq = redis.call('INCR', KEYS[5])
  redis.call('ZADD', KEYS[3], seq, user)
  return seq
end

local phase = 'none'
if status == 'scheduled' or status == 'open' or status == 'paused' then phase = preQueuePhase(KEYS[1], KEYS[5], ev, now) end
if phase == 'open' then
  local seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
  local size = redis.call('ZCARD', KEYS[3])
  if not seq then
    seq = join(size)
    if not seq then return {'line_full'} end
    size = size + 1
  end
  markLive(KEYS[4], seq, now)
  return {'pre_queue', seq, ev.remaining, size}
end
-- a paused event still queues (in order), it only admits nobody
if status ~= 'open' and status ~= 'paused' then return {'not_open'} end

local slot = tonumber(redis.call('ZSCORE', KEYS[6], user))
if slot and slot > now then return {'admitted', slot, ev.remaining} end

local seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
local position
if seq then
  if phase == 'drawing' and preQueued(ev, seq) then
    markLive(KEYS[4], seq, now)
    return {'pre_queue', seq, ev.remaining, redis.call('ZCARD', KEYS[3])}
  end
  position = redis.call('ZRANK', KEYS[3], user) + 1
else
  -- Anyone waiting, a full running queue, a hot event, or places still being drawn send the user
  -- to the back of the line.
  local waiting = redis.call('ZCARD', KEYS[3])
  if status == 'open' and phase ~= 'drawing' and waiting == 0 and rpm < ev.trafficRpm and redis.call('ZCOUNT', KEYS[6], '(' .. now, '+inf') < ev.capacity then
    local expires = now + ttl
    redis.call('ZADD', KEYS[6], expires, user)
    return {'admitted', expires, ev.remaining, 1}
  end
  seq = join(waiting)
  if not seq then return {'line_full'} end
  position = waiting + 1
end
markLive(KEYS[4], seq, now)
return {'waiting', position, ev.remaining, seq, ev.admitRate, ev.admitPerSecond}
