--[[
  Renews a control's lease (control-begin-2.lua) while its process is alive and MySQL works on it,
  and once more under the event's MySQL row lock just before the UPDATE: a control whose lease was
  taken over (it lapsed and another process settled it from MySQL, or a new control took it) must
  not commit, or MySQL would hold a control Redis was never told of.

  Input:
    KEYS[1] event meta hash
    ARGV[1] lease token
    ARGV[2] lease (ms)

  Output: 1 renewed, 0 the lease is no longer this control's
]]
if redis.call('HGET', KEYS[1], 'ctlToken') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'ctlUntil', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]))
return 1
