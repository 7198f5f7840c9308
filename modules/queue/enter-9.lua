--[[
  A user asks to enter an event. Decides, atomically: admit now (take a running slot) or queue.
  A direct admission is not an admission from the line: it uses none of the scheduler's
  admitPerSecond budget and is not part of the measured rate waiters' ETAs come from.
  Idempotent: a user who holds a live slot, a place in line or a coupon gets that back, never a
  second place; the reply says so (`known`), and such an enter does not count toward trafficRpm.
  A user whose slot lapsed unused gets their place back (includes/slots.lua): ahead of everyone who
  entered after them, and a slot at once if they are at the head and one is free.
  On an on_turn event nobody is admitted: the user joins the line (the scheduler issues its head,
  turn-6.lua), and a holder gets their coupon's code.
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
    KEYS[7] slot holders' arrival sequences
    KEYS[8] lapsed places
    KEYS[9] admissions per second
    ARGV[1] user id
    ARGV[2] now (ms)
    ARGV[3] running slot ttl (ms) by default (the event's slotSeconds wins)
    ARGV[4] live request rate of the event, per minute, as measured by the router (excluding this request)

  Between queueOpensAt and startsAt the user joins the pre-queue (includes/prequeue.lua); from the
  start until the draw is done a pre-queued user is told so again, and nobody is admitted directly.

  Output: {known (1: the user already held a place, a slot or a coupon), then one of}
    'pre_queue', arrival sequence, remaining, users in the line     in the pre-queue, place not drawn yet
    'admitted', expiresAtMs, remaining, lapsedAt (0: none)          a slot (taken now when known is 0: a direct admission)
    'waiting', position (1-based), remaining, arrival sequence, measured admitRate, admitPerSecond, lapsedAt (0: none), claim
    'issued', code                                                  on_turn: the user's coupon
    'event_not_found' | 'not_open' | 'sold_out' | 'already_issued' | 'line_full'
]]
--@include "../events/lua/event"
--@include "includes/live"
--@include "includes/prequeue"
--@include "includes/slots"

local user, now, rpm = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local ev = readEvent(KEYS[1])
if not ev then return {0, 'event_not_found'} end
local status = eventStatus(ev, now)
local code = redis.call('HGET', KEYS[2], user)
if code then
  if ev.onTurn then return {1, 'issued', code} end
  return {1, 'already_issued'}
end
if status == 'sold_out' then return {0, 'sold_out'} end
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
  local known = 1
  if not seq then
    seq = join(size)
    if not seq then return {0, 'line_full'} end
    size = size + 1
    known = 0
  end
  markLive(KEYS[4], seq, now)
  return {known, 'pre_queue', seq, ev.remaining, size}
end
-- a paused event still queues (in order), it only admits nobody
if status ~= 'open' and status ~= 'paused' then return {0, 'not_open'} end

local known, lapsedAt = 1, 0
local ttl = slotTtlOf(ev, tonumber(ARGV[3]))
local slot = tonumber(redis.call('ZSCORE', KEYS[6], user))
if slot and slot > now then
  local _, at = lapsedPlace(KEYS[8], user)
  return {1, 'admitted', slot, ev.remaining, at or 0}
end
-- a slot that lapsed since the last scheduler tick: the same as one the tick moved
if slot then lapseOne(KEYS[6], KEYS[7], KEYS[8], user, slot) end

local seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
local position
if seq then
  if phase == 'drawing' and preQueued(ev, seq) then
    markLive(KEYS[4], seq, now)
    return {1, 'pre_queue', seq, ev.remaining, redis.call('ZCARD', KEYS[3])}
  end
  local _, at = lapsedPlace(KEYS[8], user)
  lapsedAt = at or 0
  position = redis.call('ZRANK', KEYS[3], user) + 1
else
  seq, lapsedAt = rejoin(KEYS[3], KEYS[8], user)
  if seq then
    position = redis.call('ZRANK', KEYS[3], user) + 1
    local expires = admitAtOnce(ev, status == 'open' and phase ~= 'drawing', KEYS[3], KEYS[6], KEYS[7], KEYS[9], user, seq, now, ttl)
    if expires then return {1, 'admitted', expires, ev.remaining, lapsedAt} end
  else
    known, lapsedAt = 0, 0
    -- Anyone waiting, a full running queue, a hot event, or places still being drawn send the user
    -- to the back of the line; on an on_turn event everyone goes through the line.
    local waiting = redis.call('ZCARD', KEYS[3])
    if not ev.onTurn and status == 'open' and phase ~= 'drawing' and waiting == 0 and rpm < ev.trafficRpm and redis.call('ZCOUNT', KEYS[6], '(' .. now, '+inf') < ev.capacity then
      -- the last sequence handed out: everyone who enters after has a higher one, so a slot that
      -- lapses keeps this place too (not a sequence of its own: the line's places stay dense)
      seq = redis.call('GET', KEYS[5]) or '0'
      redis.call('ZADD', KEYS[6], now + ttl, user)
      redis.call('HSET', KEYS[7], user, seq)
      return {0, 'admitted', now + ttl, ev.remaining, 0}
    end
    seq = join(waiting)
    if not seq then return {0, 'line_full'} end
    position = waiting + 1
  end
end
markLive(KEYS[4], seq, now)
return {known, 'waiting', position, ev.remaining, seq, ev.admitRate, ev.admitPerSecond, lapsedAt, ev.onTurn and 'on_turn' or 'manual'}
