--[[
  The pre-queue draw, step 4, the waiters' last signs of life (includes/live.lua): writes a piece
  of the liveness string at the drawn places, each stamped with the draw's time by the drawer, so
  nobody is dropped for having been silent before the draw: the grace counts from it. A sign of
  life given while the draw runs may be overwritten by the draw's own, a moment older.
  Only the drawer holding the claim.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiter liveness
    ARGV[1] drawer id
    ARGV[2] byte offset
    ARGV[3] bytes

  Output: 1, or -1 when the claim is another drawer's now
]]
local owner = ARGV[1]
local claim = redis.call('HGET', KEYS[1], 'drawClaim')
if not claim or string.sub(claim, 1, #owner + 1) ~= owner .. ':' then return -1 end
redis.call('SETRANGE', KEYS[2], tonumber(ARGV[2]), ARGV[3])
return 1
