--[[
  The db-lock baseline's Redis view after its MySQL transaction committed an issuance: the user is
  recorded with the code, the slot freed and remaining decremented — the meta only if it is a whole
  event (a wiped one is rebuilt from MySQL, which already counts the row).

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    KEYS[3] running slots
    ARGV[1] user id
    ARGV[2] coupon code

  Output: 1
]]
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) == 1 and redis.call('HEXISTS', KEYS[1], 'stock') == 1
  and redis.call('HEXISTS', KEYS[1], 'remaining') == 1 then
  redis.call('HINCRBY', KEYS[1], 'remaining', -1)
end
return 1
