--[[
  Places that survive a lapsed slot (manual events). Every running slot remembers the holder's
  arrival sequence (`slots`: user -> sequence). A slot that lapses unused does not lose the place:
  the user goes to `lapsed` (user -> "<sequence>:<lapsed at ms>") and, on return (enter or poll),
  back into the line at that sequence, ahead of everyone who entered after them. The entry stays
  until they issue or leave, so replies can say when their slot lapsed.
]]

-- moves up to `limit` slots that lapsed by `now` from running to lapsed; returns how many
local function lapseSlots(runningKey, slotsKey, lapsedKey, now, limit)
  local gone = redis.call('ZRANGEBYSCORE', runningKey, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
  if #gone == 0 then return 0 end
  local users = {}
  for i = 1, #gone, 2 do users[#users + 1] = gone[i] end
  local seqs = redis.call('HMGET', slotsKey, unpack(users))
  local kept = {}
  for i, user in ipairs(users) do
    kept[#kept + 1] = user
    kept[#kept + 1] = (seqs[i] or '0') .. ':' .. gone[2 * i]
  end
  redis.call('ZREM', runningKey, unpack(users))
  redis.call('HDEL', slotsKey, unpack(users))
  redis.call('HSET', lapsedKey, unpack(kept))
  return #users
end

-- the user's own slot, found lapsed (before a tick moved it): the same move for one user
local function lapseOne(runningKey, slotsKey, lapsedKey, user, expiry)
  local seq = redis.call('HGET', slotsKey, user) or '0'
  redis.call('ZREM', runningKey, user)
  redis.call('HDEL', slotsKey, user)
  redis.call('HSET', lapsedKey, user, seq .. ':' .. expiry)
end

-- the user's lapsed place, if any: sequence, lapsed at (ms)
local function lapsedPlace(lapsedKey, user)
  local v = redis.call('HGET', lapsedKey, user)
  if not v then return nil end
  local seq, at = string.match(v, '^(%d+):(%d+)$')
  return tonumber(seq), tonumber(at)
end

-- a user whose slot lapsed is back: their place in the line again; returns sequence, lapsed at
local function rejoin(waitingKey, lapsedKey, user)
  local seq, at = lapsedPlace(lapsedKey, user)
  if not seq then return nil end
  redis.call('ZADD', waitingKey, seq, user)
  return seq, at
end

-- a user back at the head of the line takes a free slot at once (an admission from the line, counted
-- in the per-second log, though never refused for the budget); returns the slot's expiry or nil
local function admitAtOnce(ev, open, waitingKey, runningKey, slotsKey, admitsKey, user, seq, now, ttl)
  if not open or redis.call('ZRANK', waitingKey, user) ~= 0 then return nil end
  if redis.call('ZCOUNT', runningKey, '(' .. now, '+inf') >= ev.capacity then return nil end
  local expires = now + ttl
  redis.call('ZREM', waitingKey, user)
  redis.call('ZADD', runningKey, expires, user)
  redis.call('HSET', slotsKey, user, seq)
  redis.call('HINCRBY', admitsKey, math.floor(now / 1000), 1)
  redis.call('PEXPIRE', admitsKey, 120000)
  return expires
end
