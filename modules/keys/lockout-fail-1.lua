-- One failed admin authentication from a client address (modules/keys/lockout.ts).
-- KEYS[1] the address's failure counter (string)
-- ARGV[1] failures allowed in a window (more locks the address out)
-- ARGV[2] the window, ms: counted from the first failure; a lockout lasts a whole window from the failure that caused it
-- Returns the milliseconds the address is now locked out for, or 0.
local n = redis.call('INCR', KEYS[1])
local allowed = tonumber(ARGV[1])
if n == 1 or n == allowed + 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n <= allowed then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return ttl
