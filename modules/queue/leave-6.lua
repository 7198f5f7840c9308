--[[
  A user leaves: their place in line, running slot and lapsed place are freed. A place in line
  leaves a hole between the head and the tail, and the user's old waiting ticket still names its
  arrival sequence: the sequence goes on the event's departures list, which every router's view
  reads (modules/router/view.ts), so a ticket of a place given up is never answered from a view as
  if it were still held (a user who left and entered again would be shown their old, better place).

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line (zset: user -> arrival sequence)
    KEYS[3] running slots
    KEYS[4] slot holders' arrival sequences
    KEYS[5] lapsed places
    KEYS[6] departures (list of arrival sequences given up, oldest first)
    ARGV[1] user id

  Output: {0} when the event does not exist (nothing changed), else
    {1, places and slots freed (0, 1 or 2), arrival sequence given up in line (0: none)}
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local user = ARGV[1]
local seq = tonumber(redis.call('ZSCORE', KEYS[2], user)) or 0
local freed = redis.call('ZREM', KEYS[2], user) + redis.call('ZREM', KEYS[3], user)
redis.call('HDEL', KEYS[4], user)
redis.call('HDEL', KEYS[5], user)
if seq > 0 then redis.call('RPUSH', KEYS[6], seq) end
return {1, freed, seq}
