--[[
  The pre-queue draw, step 2, one chunk: moves pre-queued users to their drawn places, carrying
  each one's last sign of life along (includes/live.lua) so the grace a waiter has is kept. Only a
  user still in the pre-queue's range (arrival sequence <= preEnd, or a place an earlier drawer gave,
  <= 2 preEnd) is moved: one who left is not put back, one who left and entered again keeps their
  later place. The drawer sends the users in descending order of their drawn place, so no move ever
  lands on a place another user still holds (see draw.ts). Only the drawer holding the claim may
  move; each chunk renews the claim.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    KEYS[3] waiter liveness
    ARGV[1] drawer id
    ARGV[2] now (ms)
    ARGV[3] lease (ms)
    ARGV[4…] user, drawn place, user, drawn place, …

  Output: users moved, or -1 when the claim is another drawer's now
]]
local owner, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local claim = redis.call('HGET', KEYS[1], 'drawClaim')
if not claim or string.sub(claim, 1, #owner + 1) ~= owner .. ':' then return -1 end
local limit = 2 * (tonumber(redis.call('HGET', KEYS[1], 'preEnd')) or 0)

-- Lua's unpack takes at most ~8,000 values: long argument lists go in slices (never cutting an item)
local function sliced(cmd, key, args, per)
  local out, step = {}, per * math.floor(6000 / per)
  for i = 1, #args, step do
    local r = redis.call(cmd, key, unpack(args, i, math.min(#args, i + step - 1)))
    if type(r) == 'table' then for _, x in ipairs(r) do out[#out + 1] = x end end
  end
  return out
end

local users = {}
for i = 4, #ARGV, 2 do users[#users + 1] = ARGV[i] end
if #users == 0 then return 0 end
local scores = sliced('ZMSCORE', KEYS[2], users, 1)
local gets, zadd, targets = {}, {}, {}
for i, user in ipairs(users) do
  local cur, target = tonumber(scores[i]), tonumber(ARGV[2 * i + 3])
  if cur and cur <= limit and cur ~= target then
    gets[#gets + 1] = 'GET'
    gets[#gets + 1] = 'u32'
    gets[#gets + 1] = '#' .. cur
    zadd[#zadd + 1] = target
    zadd[#zadd + 1] = user
    targets[#targets + 1] = target
  end
end
if #targets > 0 then
  -- every source is read before any place is written
  local seen = sliced('BITFIELD', KEYS[3], gets, 3)
  local sets = {}
  for i, target in ipairs(targets) do
    sets[#sets + 1] = 'SET'
    sets[#sets + 1] = 'u32'
    sets[#sets + 1] = '#' .. target
    sets[#sets + 1] = seen[i]
  end
  sliced('ZADD', KEYS[2], zadd, 2)
  sliced('BITFIELD', KEYS[3], sets, 4)
end
redis.call('HSET', KEYS[1], 'drawClaim', owner .. ':' .. (now + lease))
return #targets
