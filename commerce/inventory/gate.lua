-- The stock gate's rule, as functions: `StockGate.take` (commerce/inventory/gate.py) and the
-- checkout's fast path (commerce/orders/checkout/fastpath.lua) both run it. `gate_keys` are
-- `stockgate:{product_id}` keys, `quantities` the wanted units, in the same order.

-- 'short', i, available: line i cannot be served (available as Redis stores it, a string);
-- 'missing', {i, ...}: lines whose key is missing (never when `lenient`: after a reload found
-- no such product, the database answers 404/422 for it); 'ok': every line can be served.
local function check_stock(gate_keys, quantities, lenient)
  local missing = {}
  for i = 1, #gate_keys do
    local v = redis.call('GET', gate_keys[i])
    if not v then
      if not lenient then missing[#missing + 1] = i end
    elseif tonumber(v) < tonumber(quantities[i]) then
      return 'short', i, v
    end
  end
  if #missing > 0 then return 'missing', missing end
  return 'ok'
end

-- Take the units of every line whose key exists (run after `check_stock` said 'ok').
local function take_stock(gate_keys, quantities)
  for i = 1, #gate_keys do
    if redis.call('EXISTS', gate_keys[i]) == 1 then
      redis.call('DECRBY', gate_keys[i], quantities[i])
    end
  end
end
