--[[
  The last step of an operator's control, once MySQL has committed it (or refused it): writes the
  committed flags onto the meta hash (none when the control did not happen), then releases the
  control's lease (token, expiry, action) and a cancel's hold, if they are still this control's.
  Also how another process settles a control whose process died (its lease lapsed): with the flags MySQL holds, read under the
  event's row lock. When another control holds the lease, nothing is written: that one reads MySQL
  after this commit and writes newer flags. A missing meta is not recreated: reconciliation rebuilds
  it from MySQL, which has the control.

  Input:
    KEYS[1] event meta hash
    ARGV[1] lease token
    ARGV[2…] field, value, … (paused, closed, cancelled as MySQL committed them), or nothing

  Output: 1 if written (or nothing to write), 0 if not (no whole meta, or another control's lease)
]]
if redis.call('HEXISTS', KEYS[1], 'stock') == 0 or redis.call('HEXISTS', KEYS[1], 'remaining') == 0 then return 0 end
local holder = redis.call('HGET', KEYS[1], 'ctlToken')
if holder and holder ~= ARGV[1] then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('HDEL', KEYS[1], 'ctlToken', 'ctlUntil', 'ctlAction', 'hold')
return 1
