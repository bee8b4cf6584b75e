-- wrk script: POST a batch of BATCH_EVENTS (default 100) ~120-byte events
-- to the batch endpoint.  With DELAY_MS set, each connection waits that
-- long after an answer before its next request (a rate below saturation).
local n = tonumber(os.getenv("BATCH_EVENTS") or "100")
local event = '{"name":"bench.order.created","data":{"order":12345,"total":99.5,"currency":"EUR","items":["a","b"]}}'
local items = {}
for i = 1, n do items[i] = event end
wrk.method = "POST"
wrk.body = "[" .. table.concat(items, ",") .. "]"
wrk.headers["Content-Type"] = "application/json"
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
if delay_ms > 0 then
	function delay() return delay_ms end
end
