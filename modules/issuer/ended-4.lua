--[[
  Whether an event may leave the live set (modules/issuer/retire.ts): it has ended — closed,
  cancelled, past its end or sold out — and everything it issued is stored in MySQL: nothing in
  its stream is unread or pending in the issuers' group, no issuer announces a batch of it held in
  memory, and nothing is dead-lettered (a dead-lettered code is still a promise: a shop's lookup
  answers 409 pending from the live set's dead-letter streams until it is replayed and stored). A
  meta that is missing keeps the event (Redis may have lost it, and its stream may still hold promises).

  Input:
    KEYS[1] event meta hash
    KEYS[2] issuance stream
    KEYS[3] batch holders (hash: issuer -> "<oldest epoch>:<until ms>")
    KEYS[4] dead-letter stream
    ARGV[1] now (ms)
    ARGV[2] the issuers' consumer group

  Output: 1 (ended and drained) or 0
]]
--@include "../events/lua/event"

local now = tonumber(ARGV[1])
local ev = readEvent(KEYS[1])
if not ev then return 0 end
local status = eventStatus(ev, now)
if status ~= 'closed' and status ~= 'cancelled' and status ~= 'sold_out' then return 0 end
local held = redis.call('HVALS', KEYS[3])
for _, v in ipairs(held) do
  local untilMs = tonumber(string.match(v, ':(%d+)$'))
  if untilMs and untilMs > now then return 0 end
end
if redis.call('XLEN', KEYS[4]) > 0 then return 0 end
if redis.call('XLEN', KEYS[2]) == 0 then return 1 end
-- entries in the stream: every one must have been delivered to the group and acknowledged
local delivered
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
  local name, id, pending
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] elseif g[i] == 'pending' then pending = g[i + 1] end
  end
  if name == ARGV[2] then
    if pending > 0 then return 0 end
    delivered = id
  end
end
if not delivered then return 0 end
if #redis.call('XRANGE', KEYS[2], '(' .. delivered, '+', 'COUNT', 1) > 0 then return 0 end
return 1
