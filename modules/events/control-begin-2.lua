--[[
  The first step of an operator's control (pause, resume, close, cancel), before MySQL records it:
  takes the event's control lease, so controls reach Redis in the order MySQL commits them, and for
  a cancel checks, atomically and against Redis's own clock, that the event is still scheduled and
  nothing was sold, then holds its start (event.lua: status `scheduled` while `hold` is set) until
  the control is settled. The action is kept with the lease (ctlAction) so the admin view can say
  which control is in progress until it is settled. A cancel that passes here therefore takes effect before any sale; one that
  does not is refused. The lease is short and renewed by its process (control-renew-1.lua) while
  MySQL works; one that lapsed was abandoned (the process died), and any process settles it from
  MySQL (control-end-1.lua under the event's row lock); a new control may also take it over.

  Input:
    KEYS[1] event meta hash
    KEYS[2] issued users (hash: user -> code)
    ARGV[1] action: pause | resume | close | cancel
    ARGV[2] lease token (unique per control)
    ARGV[3] lease (ms)

  Output: {'ok'} | {'busy'} (another control holds a live lease) | {'missing'} (no whole meta: reconcile first)
          | {'not_scheduled', status} (a cancel too late: the start passed, or something was sold)
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'stock', 'remaining', 'startsAt', 'cancelled', 'closed', 'endsAt', 'ctlToken', 'ctlUntil')
if not v[1] or not v[2] then return {'missing'} end
if v[7] and (tonumber(v[8]) or 0) > now then return {'busy'} end
if ARGV[1] == 'cancel' then
  local endsAt = tonumber(v[6]) or 0
  if v[4] == '1' then return {'not_scheduled', 'cancelled'} end
  if v[5] == '1' or (endsAt > 0 and now >= endsAt) then return {'not_scheduled', 'closed'} end
  if now >= tonumber(v[3]) then return {'not_scheduled', 'started'} end
  if tonumber(v[2]) < tonumber(v[1]) or redis.call('HLEN', KEYS[2]) > 0 then return {'not_scheduled', 'sold'} end
  redis.call('HSET', KEYS[1], 'hold', '1')
end
redis.call('HSET', KEYS[1], 'ctlToken', ARGV[2], 'ctlUntil', now + tonumber(ARGV[3]), 'ctlAction', ARGV[1])
return {'ok'}
