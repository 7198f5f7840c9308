--[[
  Records a promise in the user's index (modules/coupon/mine.ts; not named "promise": ioredis
  pipelines have a property of that name): one script, not MULTI/HSET/
  PEXPIRE/EXEC (four commands and the client's transaction machinery, on every 201).

  Input:
    KEYS[1] the user's promises (hash: event id -> code; its own hash tag, any Cluster slot)
    ARGV[1] event id
    ARGV[2] code
    ARGV[3] ms the index lives after its last promise
]]
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
