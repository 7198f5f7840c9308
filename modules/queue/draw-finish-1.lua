--[[
  The pre-queue draw, step 3: marks the places drawn (admission may start) and keeps what the admin
  API shows, then gives up the claim. With ARGV[2] = 'release' it only gives up the claim (a drawer
  that failed, so the next one need not wait for the lease). Only the drawer holding the claim.

  Input:
    KEYS[1] event meta hash
    ARGV[1] drawer id
    ARGV[2] seed (hex) | 'release'
    ARGV[3] drawn at (ms, MySQL's record)
    ARGV[4] users given a place
    ARGV[5] how long the draw took (ms)

  Output: 1, or 0 when the claim is not this drawer's
]]
local owner = ARGV[1]
local claim = redis.call('HGET', KEYS[1], 'drawClaim')
if not claim or string.sub(claim, 1, #owner + 1) ~= owner .. ':' then return 0 end
redis.call('HDEL', KEYS[1], 'drawClaim')
if ARGV[2] == 'release' then return 1 end
redis.call('HSET', KEYS[1], 'drawn', '1', 'drawSeed', ARGV[2], 'drawnAt', ARGV[3], 'drawSize', ARGV[4], 'drawMs', ARGV[5])
return 1
