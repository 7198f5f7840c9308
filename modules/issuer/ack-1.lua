--[[
  Acknowledges persisted entries and trims the stream below everything still owed: the oldest
  entry pending in the group, or (none pending) the first never delivered. One XTRIM MINID drops
  whole stream nodes at once, where deleting each entry (XDEL) blocks Redis for milliseconds per
  batch.

  Input:
    KEYS[1] issuance stream
    ARGV[1] consumer group
    ARGV[2…] entry ids to acknowledge

  Output: number of entries acknowledged
]]
-- the stream may be gone (Redis lost it after the batch was read): nothing to acknowledge
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local acked = 0
-- chunks keep unpack() under Lua's stack limit for large batches
for i = 2, #ARGV, 1000 do
  -- no group (recreated stream after a loss): the entries are not pending anywhere, nothing to do
  local n = redis.pcall('XACK', KEYS[1], ARGV[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  if type(n) ~= 'number' then return acked end
  acked = acked + n
end
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local floor
if summary[1] > 0 then
  floor = summary[2]
else
  local last
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local name, id
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
    end
    if name == ARGV[1] then last = id end
  end
  -- everything up to and including the last delivered entry is acknowledged; MINID keeps its argument
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  floor = ms .. '-' .. (tonumber(seq) + 1)
end
redis.call('XTRIM', KEYS[1], 'MINID', floor)
return acked
