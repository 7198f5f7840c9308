--[[
  An operator's edit of a live event's settings (PATCH /admin/events/:id), checked and written in
  one step against what Redis holds now: the caller holds the event's MySQL row lock and has
  written the same change there, and rolls it back unless this answers 'ok'.
  - a new stock is never below the coupons already promised (stock − remaining): remaining moves
    by the same amount as stock, so raising the stock of a sold-out event reopens it;
  - startsAt / queueOpensAt move only while the event has not started, queueOpensAt only while its
    pre-queue has not opened (checked at Redis time: a start that passed meanwhile wins).
  Only onto a whole meta hash (see patch-meta-1.lua).

  Input:
    KEYS[1] event meta hash
    ARGV[1] now (ms)
    ARGV[2] '1' if startsAt or queueOpensAt change, else '0'
    ARGV[3] '1' if queueOpensAt changes, else '0'
    ARGV[4] new stock, or '' to keep it
    ARGV[5…] field, value, … (stock and remaining excluded)

  Output: {'ok', remaining} | {'missing'} | {'not_scheduled'} | {'prequeue_open'} | {'stock_below_issued', promised}
]]
local m = redis.call('HMGET', KEYS[1], 'stock', 'remaining', 'startsAt', 'queueOpensAt')
if not m[1] or not m[2] then return {'missing'} end
local now, stock, remaining = tonumber(ARGV[1]), tonumber(m[1]), tonumber(m[2])
if ARGV[2] == '1' and now >= (tonumber(m[3]) or 0) then return {'not_scheduled'} end
local opens = tonumber(m[4]) or 0
if ARGV[3] == '1' and opens > 0 and now >= opens then return {'prequeue_open'} end
if ARGV[4] ~= '' then
  local promised = stock - remaining
  local newStock = tonumber(ARGV[4])
  if newStock < promised then return {'stock_below_issued', promised} end
  remaining = newStock - promised
  redis.call('HSET', KEYS[1], 'stock', ARGV[4], 'remaining', remaining)
end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
return {'ok', remaining}
