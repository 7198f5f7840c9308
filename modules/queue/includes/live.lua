--[[
  Waiter liveness, compact: one unsigned 32-bit "last seen" (ms since epoch, modulo 2^32) per place
  in line, at offset = the waiter's arrival sequence, in one string per event (4 bytes a waiter
  instead of a second sorted set). Polls answered from a router's memory are written here in
  batches (one BITFIELD per event and flush); nothing scans it: a waiter's liveness is only looked
  at when they reach the head of the line, and a stale one is dropped then (lazily).
  A difference modulo 2^32, read as signed (±24.8 days), is exact for any timeout up to an hour.
]]
local LIVE_WRAP = 4294967296

-- 0 means "never seen" (a place whose word was lost): a real time that wraps to 0 is written as 1
local function markLive(liveKey, seq, now)
  redis.call('BITFIELD', liveKey, 'SET', 'u32', '#' .. seq, math.max(1, now % LIVE_WRAP))
end

-- the difference is read as signed: a sign of life written by a concurrent request whose clock read
-- came a little after the caller's `now` is "in the future", and alive
local function isLive(lastSeen, now, timeout)
  if lastSeen == 0 then return false end
  local d = (now - lastSeen) % LIVE_WRAP
  return d <= timeout or d >= LIVE_WRAP / 2
end
