-- Is this client address locked out of /admin/* (modules/keys/lockout.ts)?
-- KEYS[1] the address's failure counter (string, expires with its window)
-- ARGV[1] failures allowed in a window (more locks the address out)
-- Returns the milliseconds the lockout still lasts, or 0.
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then return ttl end
return 0
