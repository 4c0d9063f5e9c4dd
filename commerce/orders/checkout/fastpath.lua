-- The checkout's fast path (fastpath.py): in one round trip, in this order, the token's
-- revocation, the Idempotency-Key's stored rejection, then the stock gate's rule
-- (check_stock/take_stock, from commerce/inventory/gate.lua, prepended with shared.tokens'
-- revoked()). Nothing is taken unless the answer is 'taken'.

-- KEYS
local marker_key = KEYS[1]      -- the key's success marker ('' when unkeyed)
local rejection_key = KEYS[2]   -- the key's stored rejection ('' when unkeyed)
local deny_key = KEYS[3]        -- revocation marks (shared.tokens; '' when not checked here)
local before_key = KEYS[4]
local family_key = KEYS[5]      -- '' when the token has no refresh family
local restored_key = KEYS[6]    -- the Redis run the marks were restored into (shared.tokens)
local gate_keys = {unpack(KEYS, 7)}
local n = #gate_keys

-- ARGV
local keyed = ARGV[1] == '1'
local check_revocation = ARGV[2] == '1'
local issued_at = ARGV[3]
local marker_ttl_s = ARGV[4]
local rejection_ttl_s = ARGV[5]
local oos_head = ARGV[6]        -- the stored out_of_stock rejection, cut around the product
local oos_mid = ARGV[7]         -- id and the available count (answers.out_of_stock_form)
local oos_tail = ARGV[8]
local lenient = ARGV[9] == '1'  -- let missing gate keys through (after a reload)
local quantities = {unpack(ARGV, 10, 9 + n)}
local product_ids = {unpack(ARGV, 10 + n, 9 + 2 * n)}

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
local verdict, line, available = check_stock(gate_keys, quantities, lenient)
if verdict == 'short' then
  local marked = 0
  if keyed then
    marked = redis.call('EXISTS', marker_key)
    if marked == 0 then  -- no success may be the first answer: this rejection is
      local first = oos_head .. product_ids[line] .. oos_mid .. available .. oos_tail
      redis.call('SET', rejection_key, first, 'NX', 'EX', rejection_ttl_s)
    end
  end
  return {'short', line, available, marked}
end
if verdict == 'missing' then return {'missing', unpack(line)} end
take_stock(gate_keys, quantities)
if keyed then redis.call('SET', marker_key, '1', 'EX', marker_ttl_s) end
return {'taken'}
