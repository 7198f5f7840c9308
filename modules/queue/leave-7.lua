--[[
  A user leaves: their place in line, running slot and lapsed place are freed. A place in line
  leaves a hole between the head and the tail, and the user's old waiting ticket still names its
  arrival sequence: the sequence goes on the event's departures list, which every router's view
  reads (modules/router/view.ts), so a ticket of a place given up is never answered from a view as
  if it were still held (a user who left and entered again would be shown their old, better place).

  The list is bounded. A ticket is valid until the event ends, so no age makes a departure safe to
  forget; what does is the head: a view never answers a ticket behind the head, so departures the
  head has passed are dropped from the front. Past `max` entries the oldest go anyway and the
  highest sequence dropped that way becomes the floor: a view answers no ticket at or below it
  (only the exact poll does), so a stale ticket is still never answered from a view.
  Routers read the list by absolute position: the trim record's `base` counts the entries dropped.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line (zset: user -> arrival sequence)
    KEYS[3] running slots
    KEYS[4] slot holders' arrival sequences
    KEYS[5] lapsed places
    KEYS[6] departures (list of arrival sequences given up, oldest first)
    KEYS[7] departures' trim record (hash: base = entries dropped from the front, floor)
    ARGV[1] user id
    ARGV[2] most departures kept

  Output: {0} when the event does not exist (nothing changed), else
    {1, places and slots freed (0, 1 or 2), arrival sequence given up in line (0: none)}
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local user = ARGV[1]
local seq = tonumber(redis.call('ZSCORE', KEYS[2], user)) or 0
local freed = redis.call('ZREM', KEYS[2], user) + redis.call('ZREM', KEYS[3], user)
redis.call('HDEL', KEYS[4], user)
redis.call('HDEL', KEYS[5], user)
if seq > 0 then
  redis.call('RPUSH', KEYS[6], seq)
  -- an empty line: every sequence handed out so far is behind whoever enters next
  local head = tonumber(redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or math.huge)
  local max = tonumber(ARGV[2])
  local len = redis.call('LLEN', KEYS[6])
  local dropped, floor = 0, 0
  while len > 0 do
    local first = tonumber(redis.call('LINDEX', KEYS[6], 0))
    if first >= head then
      if len <= max then break end
      floor = math.max(floor, first)
    end
    redis.call('LPOP', KEYS[6])
    dropped, len = dropped + 1, len - 1
  end
  if dropped > 0 then redis.call('HINCRBY', KEYS[7], 'base', dropped) end
  if floor > (tonumber(redis.call('HGET', KEYS[7], 'floor')) or 0) then redis.call('HSET', KEYS[7], 'floor', floor) end
end
return {1, freed, seq}
