--[[
  Issuances accepted but not yet persisted: entries pending in the issuers' group plus entries no
  issuer has read yet (the group's lag). The stream itself may still hold acknowledged entries
  above the oldest pending one, so its length is not the answer.

  Input:
    KEYS[1] issuance stream
    ARGV[1] consumer group

  Output: the count
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, pel, lag
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1]
    elseif g[i] == 'pending' then pel = g[i + 1]
    elseif g[i] == 'lag' then lag = g[i + 1] end
  end
  -- lag is unknown (nil) only after deletions past the group's position: then every entry counts
  if name == ARGV[1] then
    if lag then return pel + lag end
    return redis.call('XLEN', KEYS[1])
  end
end
-- no issuer has ever read this stream
return redis.call('XLEN', KEYS[1])
