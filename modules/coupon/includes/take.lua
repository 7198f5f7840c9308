--[[
  The one piece of Lua that decides stock and one-per-user, for both claims and for grants: the
  issue script (manual: an admitted user presses issue), the scheduler's turn script (on_turn: the
  platform issues the head of the line) and the grant script (an operator's make-good). A coupon is taken only after couponRefusal said nil and salesHeld
  said nil in the same script: one unit of stock, the user recorded with the code, and the
  issuance appended to the event's stream (with the event's epoch, so the issuer can tell
  issuances made before a reconciliation), so a promise, its code and its stream entry never disagree.
  Needs readEvent (events/lua/event.lua). All keys are the event's (one Cluster slot).
]]

-- why the user cannot be issued whatever their place: 'already_issued', 'sold_out', 'keys_lost', or nil.
-- 'keys_lost': the issued hash names fewer users than units are gone (stock − remaining; every take,
-- adoption and republish moves both together), so some of it was deleted or evicted and a user it no
-- longer names may hold a coupon: nothing is issued until the event is reconciled (issue #19, 5).
-- HLEN is O(1) and looked at once per script.
local function couponRefusal(ev, issuedKey, user)
  if redis.call('HEXISTS', issuedKey, user) == 1 then return 'already_issued' end
  if ev.intact == nil then ev.intact = redis.call('HLEN', issuedKey) >= ev.stock - ev.remaining end
  if not ev.intact then return 'keys_lost' end
  if ev.remaining <= 0 then return 'sold_out' end
  return nil
end

-- nil when sales may go on, else until when (ms) they wait: the event's state was just rebuilt
-- (fence), or an issuer still holds entries read before the reconciliation (holders)
local function salesHeld(ev, metaKey, holdersKey, now)
  if ev.fenceUntil > now then return ev.fenceUntil end
  if ev.guard then
    local held = redis.call('HGETALL', holdersKey)
    for i = 2, #held, 2 do
      local epoch, untilMs = string.match(held[i], '^(%d+):(%d+)$')
      if epoch and tonumber(untilMs) > now and tonumber(epoch) < tonumber(ev.epoch) then return now + 50 end
    end
    -- every batch from before the reconciliation is stored and counted: no need to look again
    redis.call('HDEL', metaKey, 'guard')
    ev.guard = false
  end
  return nil
end

-- takes the coupon (the caller has had nil from both checks above); returns the stream entry id.
-- `grant`: an operator's grant outside the line (modules/grants), marked so in the stream
local function takeCoupon(ev, metaKey, issuedKey, streamKey, user, code, now, eventId, grant)
  redis.call('HINCRBY', metaKey, 'remaining', -1)
  redis.call('HSET', issuedKey, user, code)
  ev.remaining = ev.remaining - 1
  if grant then return redis.call('XADD', streamKey, '*', 'e', eventId, 'u', user, 't', now, 'c', code, 'ep', ev.epoch, 'g', '1') end
  return redis.call('XADD', streamKey, '*', 'e', eventId, 'u', user, 't', now, 'c', code, 'ep', ev.epoch)
end
