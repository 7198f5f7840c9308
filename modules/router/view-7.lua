--[[
  One event as a router's view needs it (modules/router/view.ts), read in one go. Every router
  runs this once per flush for each event it served recently, all events in one pipelined round
  trip; nothing here runs per request.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line (zset: user -> arrival sequence)
    KEYS[3] arrival sequence counter
    KEYS[4] running slots (zset: user -> slot expiry ms)
    KEYS[5] departures (list: arrival sequences given up by leavers, modules/queue/leave-7.lua)
    KEYS[6] departures' trim record (hash: base = entries dropped from the front, floor)
    KEYS[7] lapsed places (hash: user -> "<sequence>:<lapsed at ms>", modules/queue/includes/slots.lua)
    ARGV[1] now (ms)
    ARGV[2] how many departures the caller has read already (counting those dropped from the front)
    ARGV[3] at most this many departures in this reply (the rest at the next read)

  Output: {} when the event does not exist, else
    {meta field values (in the order of FIELDS in view.ts)…, waiting, head sequence (0: none known),
     last sequence handed out, live running slots, users back at a lapsed place ahead of the head,
     the departures' floor (no ticket at or below it is answered from a view), the position the
     departures below start at (back to the first one kept when the list is shorter than the
     caller's count: it was lost and written anew), departures…}
]]
local fields = redis.call('HMGET', KEYS[1], 'stock', 'remaining', 'startsAt', 'endsAt', 'closed',
  'trafficRpm', 'runningCapacity', 'admitPerSecond', 'admitRate', 'paused', 'cancelled',
  'queueOpensAt', 'maxWaiting', 'name', 'preEnd', 'drawn', 'couponValidUntil', 'brand', 'botPow', 'message', 'claim', 'slotSeconds', 'graceSeconds', 'hold')
-- a hash without stock or remaining is not an event (see events/lua/event.lua)
if not fields[1] or not fields[2] then return {} end
-- Users back at the place of a slot that lapsed unused sit at the front with sequences the head had
-- passed (every waiter entered after them): the head is the first waiter who is not one of them, so
-- it never moves back (a ticket it passed, an admitted user's, is never answered "waiting" from a
-- view), and they are counted apart: each is ahead of everyone. Past 1,000 of them: no head (0),
-- every ticket goes to the exact poll. Usually there are none: one member and one field read.
local head, back, n = '0', 0, 1
while back < 1000 do
  local batch = redis.call('ZRANGE', KEYS[2], back, back + n - 1, 'WITHSCORES')
  if #batch == 0 then break end
  local users = {}
  for i = 1, #batch, 2 do users[#users + 1] = batch[i] end
  local lapsed = redis.call('HMGET', KEYS[7], unpack(users))
  for i = 1, #users do
    if not lapsed[i] then head = batch[2 * i]; break end
    back = back + 1
  end
  if head ~= '0' or #users < n then break end
  n = 100
end
fields[#fields + 1] = redis.call('ZCARD', KEYS[2])
fields[#fields + 1] = head
fields[#fields + 1] = redis.call('GET', KEYS[3]) or '0'
fields[#fields + 1] = redis.call('ZCOUNT', KEYS[4], '(' .. ARGV[1], '+inf')
fields[#fields + 1] = back
local trim = redis.call('HMGET', KEYS[6], 'base', 'floor')
local base = tonumber(trim[1]) or 0
fields[#fields + 1] = trim[2] or '0'
-- entries dropped before the caller read them are behind the head or at most the floor: skipped
local from = math.max(tonumber(ARGV[2]), base)
if redis.call('LLEN', KEYS[5]) < from - base then from = base end
fields[#fields + 1] = from
for _, seq in ipairs(redis.call('LRANGE', KEYS[5], from - base, from - base + tonumber(ARGV[3]) - 1)) do fields[#fields + 1] = seq end
return fields
