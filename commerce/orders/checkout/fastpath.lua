-- The checkout's fast path (fastpath.py): in one round trip, in this order, the order rate
-- limits per user and per address (roll_window/window_allows/count_hit, commerce/throttle.lua),
-- the token's revocation, the Idempotency-Key's stored rejection, the purchase caps (the
-- buyer's counters, the products' limits), then the stock gate's rule (check_stock/take_stock,
-- from commerce/inventory/gate.lua, prepended with shared.tokens' revoked_by()). Nothing is
-- taken unless the answer is 'taken'.
--
-- Every key is read in one MGET, after the rate windows' roll-over (the only writes before the
-- checks): a script is atomic and nothing else it does before deciding writes these keys, so
-- the values are those each check would have read on its own, at a fraction of the cost (in a
-- flash sale's flood this script is the whole request; BENCHMARKS.md). Every key read here
-- holds a string (SET/INCRBY), so a value found is a key that exists; '' placeholders read
-- false.

-- KEYS
local marker_key = KEYS[1]      -- the key's success marker ('' when unkeyed)
local rejection_key = KEYS[2]   -- the key's stored rejection ('' when unkeyed)
-- KEYS[3], [4], [5]: the revocation marks (shared.tokens; '' when not checked here, [5] ''
-- when the token has no refresh family)
-- KEYS[6]: the Redis run the marks were restored into (shared.tokens)
local user_previous = KEYS[7]   -- the per-user and per-address order windows ('' when not
local user_current = KEYS[8]    -- counted here: counted already, or no limits)
local ip_previous = KEYS[9]
local ip_current = KEYS[10]
local unpaid_key = KEYS[11]     -- the buyer's unpaid orders (inventory.gate.unpaid_key)
local n = (#KEYS - 11) / 3
-- KEYS[11 + i]: line i's stock gate key; KEYS[11 + n + i]: its product's limit per buyer
-- (inventory.gate.limit_key); KEYS[11 + 2n + i]: the buyer's units of it (units_key).

-- ARGV
local keyed = ARGV[1] == '1'
local check_revocation = ARGV[2] == '1'
local issued_at = ARGV[3]
local digest = ARGV[4]          -- the request's digest (answers.AnswerKey; '' when unkeyed)
local lenient = ARGV[5] == '1'  -- let missing gate keys through (after a reload)
-- The constants, one space-separated argument (fastpath.py builds it once a process: every
-- argument costs the caller's client an encoding per call): the marker's and the stored
-- rejection's TTLs, the per-user and per-address limits and windows, MAX_UNPAID_ORDERS_PER_BUYER
-- (0: no cap) and the cap counters' TTL.
local marker_ttl_s, rejection_ttl_s, user_limit, user_expiry_s, ip_limit, ip_expiry_s,
      max_unpaid, cap_ttl_s = string.match(
  ARGV[6], '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$')
max_unpaid = tonumber(max_unpaid)
-- ARGV[6 + i]: line i's quantity; ARGV[6 + n + i]: its product id.
-- ARGV[7 + 2n]: the Redis run this call reached, as its connection read it when it connected
-- (shared/redis_run.py); '': ask Redis (INFO server, which costs more than the rest).
local this_run = ARGV[7 + 2 * n]

local counting = user_current ~= ''  -- every attempt counts, each limit on its own, as limits
local user_ms, ip_ms, user_ttl, ip_ttl
if counting then
  user_ms, ip_ms = tonumber(user_expiry_s) * 1000, tonumber(ip_expiry_s) * 1000
  user_ttl = roll_window(user_previous, user_current, user_ms)
  ip_ttl = roll_window(ip_previous, ip_current, ip_ms)
end
local v = redis.call('MGET', unpack(KEYS))
if counting then
  local user_ok, u1, u2, u3, u4 = window_allows(user_previous, v[7], v[8], user_ttl,
                                                tonumber(user_limit), user_ms)
  local ip_ok, i1, i2, i3, i4 = window_allows(ip_previous, v[9], v[10], ip_ttl,
                                              tonumber(ip_limit), ip_ms)
  if user_ok then count_hit(user_current, user_ttl, user_ms) end
  if ip_ok then count_hit(ip_current, ip_ttl, ip_ms) end
  if not user_ok then return {'limited', 1, u1, u2, u3, u4} end
  if not ip_ok then return {'limited', 2, i1, i2, i3, i4} end
end
if check_revocation then
  if revoked_by(v[3], v[4], KEYS[5] ~= '' and v[5], issued_at) then return {'revoked'} end
  -- Marks not (yet) restored into this Redis run (it restarted without its last second, or
  -- lost everything): Redis cannot say "not revoked"; the database must (the slow path's rule).
  if this_run == '' then this_run = redis_run() end
  if v[6] ~= this_run then return {'unknown'} end
end
local marked = v[1] and 1 or 0  -- the key's success marker exists
if keyed and v[2] then return {'answered', v[2], marked} end

-- A rejection the script decided becomes the key's first answer, unless the success marker
-- exists (a success may be the first answer: the caller looks for it). `rest`: the stored
-- form's fields after the digest (answers.FirstAnswers.replay reads it): JSON with the numbers
-- as strings (Lua's cjson would print a BIGINT id with 14 significant digits, making it
-- another product's).
local function remember(rest)
  if not keyed then return 0 end
  if marked == 0 then
    redis.call('SET', rejection_key, '{"d":"' .. digest .. '","k":"' .. rest, 'NX', 'EX',
               rejection_ttl_s)
  end
  return marked
end

-- Purchase caps: counters missing count 0 and limits missing none (the database answers).
if max_unpaid > 0 and (tonumber(v[11]) or 0) + 1 > max_unpaid then
  return {'capped', 0, max_unpaid,
          remember('purchase_limit","t":"unpaid_orders","l":"' .. max_unpaid .. '"}')}
end
local limited
for i = 1, n do
  local limit = tonumber(v[11 + n + i] or '0') or 0
  if limit > 0 then
    local held = tonumber(v[11 + 2 * n + i]) or 0
    if held + tonumber(ARGV[6 + i]) > limit then
      return {'capped', i, limit, remember('purchase_limit","t":"per_product","l":"' .. limit
                                           .. '","p":"' .. ARGV[6 + n + i] .. '"}')}
    end
    limited = limited or {}
    limited[i] = true
  end
end

local verdict, line, available = check_stock(v, 11, ARGV, 6, n, lenient)
if verdict == 'short' then
  return {'short', line, available, remember('out_of_stock","p":"' .. ARGV[6 + n + line]
                                             .. '","a":"' .. available .. '"}')}
end
if verdict == 'missing' then return {'missing', unpack(line)} end
take_stock(KEYS, v, 11, ARGV, 6, n)

-- Count what this order will hold; each counter lives `cap_ttl_s` from its creation.
local function count(key, by)
  if redis.call('INCRBY', key, by) == tonumber(by) then redis.call('EXPIRE', key, cap_ttl_s) end
end
local counted = {'taken', 0}
if max_unpaid > 0 then
  count(unpaid_key, 1)
  counted[2] = 1
end
if limited then
  for i = 1, n do
    if limited[i] then
      count(KEYS[11 + 2 * n + i], ARGV[6 + i])
      counted[#counted + 1] = i
    end
  end
end
if keyed then redis.call('SET', marker_key, '1', 'EX', marker_ttl_s) end
return counted
