--[[
  Shared by every per-event script: reads the event's metadata hash and derives its status.
  The same rule lives in modules/events/model.ts (eventStatus) for reads outside Lua; keep them equal.
]]
local function readEvent(metaKey)
  local v = redis.call('HMGET', metaKey, 'stock', 'remaining', 'startsAt', 'endsAt', 'closed',
    'trafficRpm', 'runningCapacity', 'admitPerSecond', 'admitRate')
  if not v[1] then return nil end
  return {
    stock = tonumber(v[1]), remaining = tonumber(v[2]), startsAt = tonumber(v[3]),
    endsAt = tonumber(v[4]) or 0, closed = v[5] == '1', trafficRpm = tonumber(v[6]),
    capacity = tonumber(v[7]), admitPerSecond = tonumber(v[8]), admitRate = v[9] or ''
  }
end

local function eventStatus(ev, now)
  if ev.closed or (ev.endsAt > 0 and now >= ev.endsAt) then return 'closed' end
  if now < ev.startsAt then return 'scheduled' end
  if ev.remaining <= 0 then return 'sold_out' end
  return 'open'
end
