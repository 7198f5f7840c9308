--[[
  Looks for a coupon code among a stream's entries (an issuance or dead-letter stream), newest first
  (a code looked up soon after its 201 is near the end), at most ARGV[3] entries per call, so a long
  backlog is read in slices without blocking Redis for long.

  Input:
    KEYS[1] the stream
    ARGV[1] the code
    ARGV[2] where to continue: '+' for the newest entry, else '(<id>' (below the last one read)
    ARGV[3] how many entries to read in this call

  Output: {1} found | {0, next} read a full slice, continue at next | {0} not in the stream
]]
local entries = redis.call('XREVRANGE', KEYS[1], ARGV[2], '-', 'COUNT', tonumber(ARGV[3]))
for _, e in ipairs(entries) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'c' and f[i + 1] == ARGV[1] then return {1} end
  end
end
if #entries < tonumber(ARGV[3]) then return {0} end
return {0, '(' .. entries[#entries][1]}
