--[[
  One sample of an event's numbers for the admin chart (modules/events/history.ts), at most one per
  step whichever process takes it: the entry id is the step's start time, and a stream refuses an
  id not above its last one. Samples older than the kept window are trimmed as new ones are added.
  A sample is taken while the event can move (open, paused, or within an hour of its start, or with
  anyone in the line or a slot), and once more after, until the numbers stop changing.

  Input:
    KEYS[1] event meta hash
    KEYS[2] waiting line
    KEYS[3] running slots
    KEYS[4] history stream
    ARGV[1] now (ms)
    ARGV[2] step (ms)
    ARGV[3] kept window (ms)
    ARGV[4] the event's live request rate per minute (all routers)

  Output: 'sampled' | 'taken' (this step has its sample) | 'idle' (nothing moves) | 'missing'
]]
local m = redis.call('HMGET', KEYS[1], 'stock', 'remaining', 'startsAt', 'endsAt', 'closed', 'cancelled', 'admitRate')
if not m[1] or not m[2] then return 'missing' end
local now, step, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = now - now % step
local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)[1]
if last and tonumber(string.match(last[1], '^(%d+)')) >= t then return 'taken' end

local issued = tonumber(m[1]) - math.max(0, tonumber(m[2]))
local waiting = redis.call('ZCARD', KEYS[2])
local running = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local startsAt, endsAt = tonumber(m[3]) or 0, tonumber(m[4]) or 0
local ended = m[5] == '1' or m[6] == '1' or (endsAt > 0 and now >= endsAt) or tonumber(m[2]) <= 0
local live = (not ended and now >= startsAt - 3600000) or waiting > 0 or running > 0
if not live then
  -- one more sample after the end shows where it stopped; then nothing until something moves
  if not last then return 'idle' end
  local f = last[2]
  local was = {}
  for i = 1, #f, 2 do was[f[i]] = f[i + 1] end
  if tonumber(was.i) == issued and was.w == '0' and was.r == '0' then return 'idle' end
end
redis.call('XADD', KEYS[4], 'MINID', '~', tostring(t - keep), t .. '-0',
  'i', issued, 'w', waiting, 'r', running, 'a', m[7] or '0', 'q', ARGV[4])
return 'sampled'
