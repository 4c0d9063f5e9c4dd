-- The sliding-window counter of the `limits` library (its acquire_sliding_window.lua and
-- sliding_window.lua: same keys, same arithmetic) as functions, so a script can count a hit in
-- its own round trip (the checkout's fast path: commerce/orders/checkout/fastpath.lua). A hit
-- is three steps, so that the caller can read the counters together with its other keys in
-- one MGET between the first two:
--   1. `roll_window`: if the current window is over, it becomes the previous one;
--   2. `window_allows`, with the counters' values read after step 1 (false: missing): whether
--      one more hit fits; if not, also the window as `limits` reads it (previous count,
--      previous ttl ms, current count, current ttl ms);
--   3. `count_hit`, only if it fits.
-- Why not `limits`' script command for command (PTTL, GET, PTTL, GET, PTTL, EXISTS, INCRBY):
-- in a flash sale's flood every request counts two windows, and each command a script runs is
-- Redis CPU. The current TTL is read once (it only changes when step 1 rolls the window over,
-- to a value it knows), so is the current key's existence (PTTL -2), and the previous TTL only
-- when the previous count weighs anything (a zero count weighs zero whatever its TTL, and
-- `Window.retry_after` ignores it then).

-- Returns the current key's PTTL after the roll (-2: missing, -1: no TTL).
local function roll_window(previous_key, current_key, expiry_ms)
  local ttl = redis.call('PTTL', current_key)
  if ttl > 0 and ttl < expiry_ms then
    redis.call('RENAME', current_key, previous_key)
    ttl = ttl + expiry_ms
    redis.call('SET', current_key, 0, 'PX', ttl)
  end
  return ttl
end

local function window_allows(previous_key, previous_value, current_value, current_ttl, limit,
                             expiry_ms)
  local previous_count = tonumber(previous_value) or 0
  local current_count = tonumber(current_value) or 0
  local previous_ttl = 0
  if previous_count ~= 0 then
    previous_ttl = redis.call('PTTL', previous_key)
    if previous_ttl < 0 then previous_ttl = 0 end
  end
  if current_ttl < 0 then current_ttl = 0 end
  local weighted = math.floor(previous_count * previous_ttl / expiry_ms) + current_count
  if 1 > limit or weighted + 1 > limit then
    return false, previous_count, previous_ttl, current_count, current_ttl
  end
  return true
end

local function count_hit(current_key, current_ttl, expiry_ms)
  if current_ttl ~= -2 then
    redis.call('INCRBY', current_key, 1)
  else
    redis.call('SET', current_key, 1, 'PX', expiry_ms * 2)
  end
end
