--[[
  Replays one dead-lettered issuance: moves its original fields back into the event's stream (the
  issuer then persists it; its insert is idempotent) and remembers the replay, atomically, so a
  second request for the same entry changes nothing.

  Input:
    KEYS[1] dead-letter stream
    KEYS[2] issuance stream
    KEYS[3] replayed entries (hash: dead entry id -> new stream entry id)
    ARGV[1] dead entry id

  Output:
    {'replayed', newStreamId} | {'already_replayed', newStreamId} | {'not_found'}
]]
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entries == 0 then
  local done = redis.call('HGET', KEYS[3], ARGV[1])
  if done then return {'already_replayed', done} end
  return {'not_found'}
end
local fields = entries[1][2]
local original = {}
-- keep only the issuance itself (e, u, t), not the dead-letter annotations
for i = 1, #fields, 2 do
  local f = fields[i]
  if f == 'e' or f == 'u' or f == 't' then
    original[#original + 1] = f
    original[#original + 1] = fields[i + 1]
  end
end
local id = redis.call('XADD', KEYS[2], '*', unpack(original))
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], id)
return {'replayed', id}
