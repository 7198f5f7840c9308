--[[
  Moves users from the head of the waiting line into running slots, never past the event's
  runningCapacity (live slots) nor its admitPerSecond budget, which is counted per wall-clock second
  in Redis so that several schedulers (and the issue script refilling a freed slot) share it.
  A head whose last sign of life is older than the waiter timeout is dropped instead of admitted
  (liveness is only ever checked here, where it matters; see live.lua), and the next one is looked at,
  so admission order among live waiters is entry order.
  Each slot remembers the holder's arrival sequence (slots.lua: a lapsed slot keeps the place).
  Needs live.lua. Returns admitted, dropped.
]]
local function admitWaiting(ev, waitingKey, liveKey, runningKey, slotsKey, admitsKey, now, slotTtl, waiterTimeout)
  local live = redis.call('ZCOUNT', runningKey, '(' .. now, '+inf')
  local sec = math.floor(now / 1000)
  local used = tonumber(redis.call('HGET', admitsKey, sec)) or 0
  local n = math.min(ev.capacity - live, ev.admitPerSecond - used)
  if n <= 0 then return 0, 0 end
  local expires = now + slotTtl
  local admitted, dropped, looked = 0, 0, 0
  -- bounded per call so one script never blocks Redis for long; stale heads left over go next time
  while admitted < n and looked < 5000 do
    local want = math.min(n - admitted, 1000)
    local heads = redis.call('ZRANGE', waitingKey, 0, want - 1, 'WITHSCORES')
    if #heads == 0 then break end
    local gets = {}
    for i = 2, #heads, 2 do
      gets[#gets + 1] = 'GET'
      gets[#gets + 1] = 'u32'
      gets[#gets + 1] = '#' .. heads[i]
    end
    local seen = redis.call('BITFIELD', liveKey, unpack(gets))
    local take, slots, seqs, gone = {}, {}, {}, {}
    for i = 1, #heads, 2 do
      local user = heads[i]
      if isLive(seen[(i + 1) / 2], now, waiterTimeout) then
        take[#take + 1] = user
        slots[#slots + 1] = expires
        slots[#slots + 1] = user
        seqs[#seqs + 1] = user
        seqs[#seqs + 1] = heads[i + 1]
      else
        gone[#gone + 1] = user
      end
    end
    looked = looked + #heads / 2
    if #take > 0 then
      redis.call('ZADD', runningKey, unpack(slots))
      redis.call('HSET', slotsKey, unpack(seqs))
      redis.call('ZREM', waitingKey, unpack(take))
      admitted = admitted + #take
    end
    if #gone > 0 then
      redis.call('ZREM', waitingKey, unpack(gone))
      dropped = dropped + #gone
    end
  end
  if admitted > 0 then
    redis.call('HINCRBY', admitsKey, sec, admitted)
    redis.call('PEXPIRE', admitsKey, 120000)
  end
  return admitted, dropped
end
