-- wrk script of bench/flash_sale.py: POST /api/v1/orders with a rotating buyer token and a
-- fresh Idempotency-Key per request, counting statuses and error codes per thread.
-- The Python side writes `bench_config.lua` (tokens, body, run tag) next to this file's copy
-- and passes its path as the first script argument: wrk -s wrk_orders.lua URL -- CONFIG.

local threads = {}
local thread_seq = 0

function setup(thread)
  thread:set("thread_no", thread_seq)
  thread_seq = thread_seq + 1
  table.insert(threads, thread)
end

function init(args)
  dofile(args[1])            -- defines TOKENS, BODY, TAG, OFFSET
  sent = 0
  statuses = {}
  codes = {}
end

function request()
  sent = sent + 1
  local n = OFFSET + thread_no * 1000003 + sent
  local headers = {
    ["Authorization"] = "Bearer " .. TOKENS[(n % #TOKENS) + 1],
    ["Idempotency-Key"] = TAG .. "-" .. thread_no .. "-" .. sent,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/api/v1/orders", headers, BODY)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 400 then
    local code = string.match(body, '"code":"([%w_]+)"') or "?"
    codes[code] = (codes[code] or 0) + 1
  end
end

function done(summary, latency, requests)
  local s, c = {}, {}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("statuses")) do s[k] = (s[k] or 0) + v end
    for k, v in pairs(thread:get("codes")) do c[k] = (c[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(s) do table.insert(parts, string.format('"%d":%d', k, v)) end
  local cparts = {}
  for k, v in pairs(c) do table.insert(cparts, string.format('"%s":%d', k, v)) end
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"errors":%d,"statuses":{%s},"codes":{%s},'
    .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    table.concat(parts, ","), table.concat(cparts, ","),
    latency:percentile(50), latency:percentile(99)))
end
