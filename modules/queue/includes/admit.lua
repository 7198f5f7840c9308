--[[
  Moves users from the head of the waiting line into running slots, never past the event's
  runningCapacity (live slots) nor its admitPerSecond budget, which is counted per wall-clock second
  in Redis so that several schedulers (and the issue script refilling a freed slot) share it.
  Returns the number of users admitted.
]]
local function admitWaiting(ev, waitingKey, seenKey, runningKey, admitsKey, now, slotTtl)
  local live = redis.call('ZCOUNT', runningKey, '(' .. now, '+inf')
  local sec = math.floor(now / 1000)
  local used = tonumber(redis.call('HGET', admitsKey, sec)) or 0
  local n = math.min(ev.capacity - live, ev.admitPerSecond - used)
  if n <= 0 then return 0 end
  local heads = redis.call('ZRANGE', waitingKey, 0, n - 1)
  if #heads == 0 then return 0 end
  local expires = now + slotTtl
  -- chunks keep unpack() under Lua's stack limit for large admitPerSecond values
  for i = 1, #heads, 1000 do
    local chunk = {}
    local args = {}
    for j = i, math.min(i + 999, #heads) do
      chunk[#chunk + 1] = heads[j]
      args[#args + 1] = expires
      args[#args + 1] = heads[j]
    end
    redis.call('ZADD', runningKey, unpack(args))
    redis.call('ZREM', waitingKey, unpack(chunk))
    redis.call('ZREM', seenKey, unpack(chunk))
  end
  redis.call('HINCRBY', admitsKey, sec, #heads)
  redis.call('PEXPIRE', admitsKey, 120000)
  return #heads
end
