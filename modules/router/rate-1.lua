--[[
  Adds a router's locally counted requests to the event's shared per-second buckets and returns the
  event's request rate over a sliding 60 s window. The window is exact for the 59 whole seconds
  before this one plus the current partial second, and takes the bucket that is sliding out only
  for the part of it still inside the window, so no bucket is ever counted twice.

  Input:
    KEYS[1] request-rate buckets (hash: unix second -> count)
    ARGV[1] now (ms)
    ARGV[2] requests counted locally since the last flush

  Output: requests per minute (integer)
]]
local now, add = tonumber(ARGV[1]), tonumber(ARGV[2])
local sec = math.floor(now / 1000)
if add > 0 then
  redis.call('HINCRBY', KEYS[1], sec, add)
  redis.call('PEXPIRE', KEYS[1], 70000)
  -- more fields than the window holds: some slid out (once a second under steady traffic, or after a gap)
  if redis.call('HLEN', KEYS[1]) > 61 then
    local old = {}
    for _, s in ipairs(redis.call('HKEYS', KEYS[1])) do
      if tonumber(s) < sec - 60 then old[#old + 1] = s end
    end
    if #old > 0 then redis.call('HDEL', KEYS[1], unpack(old)) end
  end
end
local fields = {}
for s = sec - 60, sec do fields[#fields + 1] = s end
local v = redis.call('HMGET', KEYS[1], unpack(fields))
local total = 0
for i = 2, #v do total = total + (tonumber(v[i]) or 0) end
local elapsed = (now % 1000) / 1000
total = total + (tonumber(v[1]) or 0) * (1 - elapsed)
return math.floor(total + 0.5)
