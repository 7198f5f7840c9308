--[[
  The pre-queue draw, step 4, one chunk of places (modules/queue/draw.ts): ZADD XX GT, so that
  - a user who left the pre-queue is not put back (XX);
  - a user who left and entered again keeps their later place: it is above every drawn one (GT);
  - a drawer that takes over after a crash moves each user only further back, to the place its own
    count gives (with fewer users left, the places start later: GT lets that through), and a
    drawer that lost its claim can move nobody ahead of where the current one put them.
  Only the drawer holding the claim may move; each chunk renews the claim.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    ARGV[1] drawer id
    ARGV[2] now (ms)
    ARGV[3] lease (ms)
    ARGV[4…] drawn place, user, drawn place, user, …

  Output: users moved, or -1 when the claim is another drawer's now
]]
local owner, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local claim = redis.call('HGET', KEYS[1], 'drawClaim')
if not claim or string.sub(claim, 1, #owner + 1) ~= owner .. ':' then return -1 end
local moved = 0
-- Lua's unpack takes at most ~8,000 values: the pairs go in slices of 3,000
for i = 4, #ARGV, 6000 do
  moved = moved + redis.call('ZADD', KEYS[2], 'XX', 'GT', 'CH', unpack(ARGV, i, math.min(#ARGV, i + 5999)))
end
redis.call('HSET', KEYS[1], 'drawClaim', owner .. ':' .. (now + lease))
return moved
