-- The stock gate's rule, as functions: `StockGate.take` (commerce/inventory/gate.py) and the
-- checkout's fast path (commerce/orders/checkout/fastpath.lua) both run it. Line i (1..n) is
-- the gate key `keys[kfrom + i]` (`stockgate:{product_id}`), holding `values[kfrom + i]` as
-- read by the caller (one MGET for all its keys; false: the key is missing), and wants
-- `quantities[qfrom + i]` units. Offsets into the caller's KEYS/ARGV and values rather than
-- sliced copies: every table a script builds is Redis CPU on every call of a flash sale's flood.

-- 'short', i, available: line i cannot be served (available as Redis stores it, a string);
-- 'missing', {i, ...}: lines whose key is missing (never when `lenient`: after a reload found
-- no such product, the database answers 404/422 for it); 'ok': every line can be served.
local function check_stock(values, kfrom, quantities, qfrom, n, lenient)
  local missing
  for i = 1, n do
    local v = values[kfrom + i]
    if not v then
      if not lenient then
        missing = missing or {}
        missing[#missing + 1] = i
      end
    elseif tonumber(v) < tonumber(quantities[qfrom + i]) then
      return 'short', i, v
    end
  end
  if missing then return 'missing', missing end
  return 'ok'
end

-- Take the units of every line whose key exists (run after `check_stock` said 'ok', with the
-- same values: nothing between the two changed the keys).
local function take_stock(keys, values, kfrom, quantities, qfrom, n)
  for i = 1, n do
    if values[kfrom + i] then redis.call('DECRBY', keys[kfrom + i], quantities[qfrom + i]) end
  end
end
