--[[
  Checks issuances made before the event's last reconciliation (their epoch is older than MySQL's)
  against the rebuilt state, before the issuer stores them. Such an entry may have been read by an
  issuer just before Redis lost it, so the reconciliation could not count it. Each user is either
  already counted (in the issued hash), adopted now (recorded, one unit taken: it was promised), or —
  when nothing is left — over stock: the caller dead-letters it instead of storing it.
  A missing meta means Redis lost the event again: it will be rebuilt from MySQL, after the rows
  this batch commits, so every entry counts as counted.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    ARGV    user, code, user, code…

  Output: one flag per user: 0 counted, 1 adopted, 2 over stock
]]
local out = {}
local whole = redis.call('HEXISTS', KEYS[1], 'stock') == 1 and redis.call('HEXISTS', KEYS[1], 'remaining') == 1
for i = 1, #ARGV, 2 do
  if not whole or redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    out[#out + 1] = 0
  elseif tonumber(redis.call('HGET', KEYS[1], 'remaining')) > 0 then
    redis.call('HINCRBY', KEYS[1], 'remaining', -1)
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 2
  end
end
return out
