-- The sliding-window counter of the `limits` library (its acquire_sliding_window.lua and
-- sliding_window.lua, same keys, same arithmetic) as a function, so a script can count a hit
-- in its own round trip (the checkout's fast path: commerce/orders/checkout/fastpath.lua).
-- Returns true when the hit was counted; false and the window as `limits` reads it
-- ({previous count, previous ttl ms, current count, current ttl ms}) when the limit is used up.
local function hit_window(previous_key, current_key, limit, expiry_s)
  limit = tonumber(limit)
  local expiry = tonumber(expiry_s) * 1000
  local current_ttl = tonumber(redis.call('PTTL', current_key))
  if current_ttl > 0 and current_ttl < expiry then
    -- The current window is over: it becomes the previous one.
    redis.call('RENAME', current_key, previous_key)
    redis.call('SET', current_key, 0, 'PX', current_ttl + expiry)
  end
  local previous_count = tonumber(redis.call('GET', previous_key)) or 0
  local previous_ttl = tonumber(redis.call('PTTL', previous_key)) or 0
  local current_count = tonumber(redis.call('GET', current_key)) or 0
  current_ttl = tonumber(redis.call('PTTL', current_key)) or 0
  if previous_ttl <= 0 then previous_ttl = 0 end
  if current_ttl <= 0 then current_ttl = 0 end
  local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
  if 1 > limit or weighted + 1 > limit then
    return false, {previous_count, previous_ttl, current_count, current_ttl}
  end
  if redis.call('EXISTS', current_key) == 1 then
    redis.call('INCRBY', current_key, 1)
  else
    redis.call('SET', current_key, 1, 'PX', expiry * 2)
  end
  return true
end
