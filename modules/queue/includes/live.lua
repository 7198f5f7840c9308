--[[
  Waiter liveness, compact: one unsigned 32-bit "last seen" (ms since epoch, modulo 2^32) per place
  in line, at offset = the waiter's arrival sequence, in one string per event (4 bytes a waiter
  instead of a second sorted set). Polls answered from a router's memory are written here in
  batches (one BITFIELD per event and flush); nothing scans it: a waiter's liveness is only looked
  at when they reach the head of the line, and a stale one is dropped then (lazily).
  A difference modulo 2^32 (49.7 days) is exact for any timeout up to an hour.
]]
local LIVE_WRAP = 4294967296

local function markLive(liveKey, seq, now)
  redis.call('BITFIELD', liveKey, 'SET', 'u32', '#' .. seq, now % LIVE_WRAP)
end

local function isLive(lastSeen, now, timeout)
  return (now - lastSeen) % LIVE_WRAP <= timeout
end
