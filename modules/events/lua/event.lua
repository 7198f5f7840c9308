--[[
  Shared by every per-event script: reads the event's metadata hash and derives its status.
  The same rule lives in modules/events/model.ts (eventStatus) for reads outside Lua; keep them equal.
  A hash without `stock` is treated as missing: only a whole meta (create, reconcile) is an event.
]]
local function readEvent(metaKey)
  local v = redis.call('HMGET', metaKey, 'stock', 'remaining', 'startsAt', 'endsAt', 'closed',
    'trafficRpm', 'runningCapacity', 'admitPerSecond', 'admitRate', 'paused', 'cancelled',
    'queueOpensAt', 'maxWaiting', 'epoch', 'fenceUntil', 'guard', 'hold', 'claim', 'slotSeconds', 'graceSeconds')
  if not v[1] or not v[2] then return nil end
  return {
    stock = tonumber(v[1]), remaining = tonumber(v[2]), startsAt = tonumber(v[3]) or 0,
    endsAt = tonumber(v[4]) or 0, closed = v[5] == '1', trafficRpm = tonumber(v[6]) or 0,
    capacity = tonumber(v[7]) or 1, admitPerSecond = tonumber(v[8]) or 1, admitRate = v[9] or '',
    paused = v[10] == '1', cancelled = v[11] == '1', queueOpensAt = tonumber(v[12]) or 0,
    maxWaiting = tonumber(v[13]) or 0, epoch = v[14] or '0', fenceUntil = tonumber(v[15]) or 0,
    guard = v[16] == '1', hold = v[17] == '1', onTurn = v[18] == 'on_turn',
    -- per-event overrides of QUEUE_SLOT_TTL_MS / QUEUE_WAITER_TIMEOUT_MS (0: the default)
    slotMs = (tonumber(v[19]) or 0) * 1000, graceMs = (tonumber(v[20]) or 0) * 1000
  }
end

-- the event's running slot ttl and waiter timeout, given the process defaults
local function slotTtlOf(ev, default)
  if ev.slotMs > 0 then return ev.slotMs end
  return default
end
local function graceOf(ev, default)
  if ev.graceMs > 0 then return ev.graceMs end
  return default
end

local function eventStatus(ev, now)
  if ev.cancelled then return 'cancelled' end
  if ev.closed or (ev.endsAt > 0 and now >= ev.endsAt) then return 'closed' end
  -- a cancel on its way to MySQL (control-begin-2.lua): nothing starts until it is settled, by its
  -- process or, if that one died, from MySQL by another (modules/events/controls.ts)
  if now < ev.startsAt or ev.hold then return 'scheduled' end
  if ev.remaining <= 0 then return 'sold_out' end
  if ev.paused then return 'paused' end
  return 'open'
end
