--[[
  The pre-queue (contract: queueOpensAt). From queueOpensAt until startsAt users join the line with
  arrival sequences from the event's counter, like anyone, but without a place yet. The first script
  that runs at or after startsAt with the counter at hand (an enter, or the draw's claim) closes it:
  `preEnd` = the counter then, and the next preEnd sequences are reserved (the counter jumps by
  preEnd), so whoever enters from then on is behind every place the draw can give. The draw
  (modules/queue/draw.ts) moves each pre-queued user to their drawn place in that reserved range
  and sets `drawn`; until then nobody is admitted. A pre-queue that is empty at the start is drawn
  at once. Needs readEvent (events/lua/event.lua).

  Phases: 'none' (no pre-queue), 'early' (before queueOpensAt), 'open' (taking entries), 'drawing'
  (started, places not drawn yet), 'drawn' (an ordinary line from here on).
]]

-- seqKey: the arrival counter, to close the pre-queue when the start has come; nil for readers that
-- only look (a poll, a scheduler tick): every user in line before the close is a pre-queued one
local function preQueuePhase(metaKey, seqKey, ev, now)
  if ev.queueOpensAt <= 0 then return 'none' end
  local v = redis.call('HMGET', metaKey, 'preEnd', 'drawn')
  ev.preEnd = tonumber(v[1])
  if v[2] == '1' then return 'drawn' end
  if ev.preEnd then return 'drawing' end
  if now < ev.startsAt then
    if now >= ev.queueOpensAt then return 'open' end
    return 'early'
  end
  if not seqKey then return 'drawing' end
  local n = tonumber(redis.call('GET', seqKey)) or 0
  ev.preEnd = n
  if n == 0 then
    redis.call('HSET', metaKey, 'preEnd', 0, 'drawn', '1')
    return 'drawn'
  end
  redis.call('INCRBY', seqKey, n)
  redis.call('HSET', metaKey, 'preEnd', n)
  return 'drawing'
end

-- while the draw runs, a pre-queued user's sequence is their arrival one (<= preEnd) or, once moved,
-- their drawn place (<= 2 preEnd); later arrivals are above both
local function preQueued(ev, seq)
  return ev.preEnd == nil or seq <= 2 * ev.preEnd
end
