--[[
  An issuer's announcement of the batches it has read and MySQL does not have yet (it keeps them in
  memory through any MySQL outage: issue #19, finding 1). Renewed every 200 ms. While the event's
  meta is whole and its epoch is the one this issuer last published at, only the announcement is
  renewed. Otherwise Redis may have lost those issuances (a restart, a wipe, a reconciliation since),
  and the caller sends them again (`full`): each user Redis does not know is put back into the issued
  hash with its code and takes one unit, so nobody new is sold a unit already promised. The
  announcement carries the epoch published at; the issue script lets no sale through after a
  reconciliation while a live holder's epoch is older (issue-N.lua, guard).

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] batch holders (hash: issuer -> "<epoch>:<until ms>")
    KEYS[4] backlog (hash: issuer -> "<oldest issuance ms>:<until ms>", read by the coupon role)
    ARGV[1] issuer (consumer name)
    ARGV[2] until (ms): the announcement lapses then unless renewed
    ARGV[3] oldest held issuance (ms)
    ARGV[4] 1 with the users (a full republish), else 0
    ARGV[5] the epoch this issuer last published at (-1: never)
    ARGV[6…] user, code, user, code… (when ARGV[4] is 1)

  Output: {'ok', epoch, units taken, units that were no longer there} | {'republish', epoch}
]]
local whole = redis.call('HEXISTS', KEYS[1], 'stock') == 1 and redis.call('HEXISTS', KEYS[1], 'remaining') == 1
local epoch = 0
if whole then epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0 end
local taken, short = 0, 0
if ARGV[4] ~= '1' then
  if not whole or epoch ~= tonumber(ARGV[5]) then return {'republish', epoch} end
else
  for i = 6, #ARGV, 2 do
    if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 and whole then
      -- without a whole meta the reconciliation counts the issued hash itself (stock − users)
      if tonumber(redis.call('HGET', KEYS[1], 'remaining')) > 0 then
        redis.call('HINCRBY', KEYS[1], 'remaining', -1)
        taken = taken + 1
      else
        short = short + 1
      end
    end
  end
end
redis.call('HSET', KEYS[3], ARGV[1], epoch .. ':' .. ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3] .. ':' .. ARGV[2])
return {'ok', epoch, taken, short}
