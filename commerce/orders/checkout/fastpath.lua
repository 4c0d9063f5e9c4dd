-- The checkout's fast path (fastpath.py): in one round trip, in this order, the order rate
-- limits per user and per address (hit_window, commerce/throttle.lua), the token's revocation,
-- the Idempotency-Key's stored rejection, the purchase caps (the buyer's counters, the
-- products' limits), then the stock gate's rule (check_stock/take_stock, from
-- commerce/inventory/gate.lua, prepended with shared.tokens' revoked()). Nothing is taken
-- unless the answer is 'taken'.

-- KEYS
local marker_key = KEYS[1]      -- the key's success marker ('' when unkeyed)
local rejection_key = KEYS[2]   -- the key's stored rejection ('' when unkeyed)
local deny_key = KEYS[3]        -- revocation marks (shared.tokens; '' when not checked here)
local before_key = KEYS[4]
local family_key = KEYS[5]      -- '' when the token has no refresh family
local restored_key = KEYS[6]    -- the Redis run the marks were restored into (shared.tokens)
local user_previous = KEYS[7]   -- the per-user and per-address order windows ('' when not
local user_current = KEYS[8]    -- counted here: counted already, or no limits)
local ip_previous = KEYS[9]
local ip_current = KEYS[10]
local unpaid_key = KEYS[11]     -- the buyer's unpaid orders (inventory.gate.unpaid_key)
local n = (#KEYS - 11) / 3
local gate_keys = {unpack(KEYS, 12, 11 + n)}
local limit_keys = {unpack(KEYS, 12 + n, 11 + 2 * n)}   -- the products' limits per buyer
local units_keys = {unpack(KEYS, 12 + 2 * n, 11 + 3 * n)}  -- the buyer's units of each

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
local config = {}
for value in string.gmatch(ARGV[6], '%S+') do config[#config + 1] = value end
local marker_ttl_s, rejection_ttl_s = config[1], config[2]
local user_limit, user_expiry_s = config[3], config[4]
local ip_limit, ip_expiry_s = config[5], config[6]
local max_unpaid = tonumber(config[7])
local cap_ttl_s = config[8]
local quantities = {unpack(ARGV, 7, 6 + n)}
local product_ids = {unpack(ARGV, 7 + n, 6 + 2 * n)}
-- The stored forms of the rejections this script decides (answers.FirstAnswers.replay reads
-- them): JSON with the digest and the numbers as strings (Lua's cjson would print a BIGINT id
-- with 14 significant digits, making it another product's).
local stored_head = '{"d":"' .. digest .. '","k":"'

if user_current ~= '' then  -- every attempt counts, each limit on its own, as limits would
  local user_ok, user_window = hit_window(user_previous, user_current, user_limit, user_expiry_s)
  local ip_ok, ip_window = hit_window(ip_previous, ip_current, ip_limit, ip_expiry_s)
  if not user_ok then return {'limited', 1, unpack(user_window)} end
  if not ip_ok then return {'limited', 2, unpack(ip_window)} end
end
if check_revocation then
  if revoked(deny_key, before_key, family_key, issued_at) then return {'revoked'} end
  -- Marks not (yet) restored into this Redis run (it restarted without its last second, or
  -- lost everything): Redis cannot say "not revoked"; the database must (the slow path's rule).
  if redis.call('GET', restored_key) ~= redis_run() then return {'unknown'} end
end
if keyed then
  local stored = redis.call('GET', rejection_key)
  if stored then return {'answered', stored, redis.call('EXISTS', marker_key)} end
end

-- A rejection the script decided becomes the key's first answer, unless the success marker
-- exists (a success may be the first answer: the caller looks for it).
local function remember(first)
  if not keyed then return 0 end
  local marked = redis.call('EXISTS', marker_key)
  if marked == 0 then redis.call('SET', rejection_key, first, 'NX', 'EX', rejection_ttl_s) end
  return marked
end

-- Purchase caps: counters missing count 0 and limits missing none (the database answers).
if max_unpaid > 0 and (tonumber(redis.call('GET', unpaid_key)) or 0) + 1 > max_unpaid then
  local marked = remember(stored_head .. 'purchase_limit","t":"unpaid_orders","l":"'
                          .. max_unpaid .. '"}')
  return {'capped', 0, max_unpaid, marked}
end
local limits = {}
for i = 1, n do
  local limit = tonumber(redis.call('GET', limit_keys[i]) or '0') or 0
  if limit > 0 then
    limits[i] = limit
    local held = tonumber(redis.call('GET', units_keys[i])) or 0
    if held + tonumber(quantities[i]) > limit then
      local marked = remember(stored_head .. 'purchase_limit","t":"per_product","l":"'
                              .. limit .. '","p":"' .. product_ids[i] .. '"}')
      return {'capped', i, limit, marked}
    end
  end
end

local verdict, line, available = check_stock(gate_keys, quantities, lenient)
if verdict == 'short' then
  local marked = remember(stored_head .. 'out_of_stock","p":"' .. product_ids[line] .. '","a":"'
                          .. available .. '"}')
  return {'short', line, available, marked}
end
if verdict == 'missing' then return {'missing', unpack(line)} end
take_stock(gate_keys, quantities)

-- Count what this order will hold; each counter lives `cap_ttl_s` from its creation.
local function count(key, by)
  if redis.call('INCRBY', key, by) == tonumber(by) then redis.call('EXPIRE', key, cap_ttl_s) end
end
local counted = {'taken', 0}
if max_unpaid > 0 then
  count(unpaid_key, 1)
  counted[2] = 1
end
for i = 1, n do
  if limits[i] then
    count(units_keys[i], quantities[i])
    counted[#counted + 1] = i
  end
end
if keyed then redis.call('SET', marker_key, '1', 'EX', marker_ttl_s) end
return counted
