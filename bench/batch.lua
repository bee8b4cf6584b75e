-- wrk script: POST a batch of BATCH_EVENTS (default 100) ~120-byte events
-- to the batch endpoint.  With BATCH_RATE set (events/s over all BATCH_THREADS wrk
-- threads, default 2), each thread sends its share on a schedule: a
-- request waits for its slot, BATCH_RATE / BATCH_THREADS / BATCH_EVENTS slots a
-- second, so the rate asked is the rate offered as long as the server
-- answers within the connections' reach (a late answer does not push
-- the schedule back; a slot missed by more than a second is dropped so
-- that a stall is not followed by a flood).
local n = tonumber(os.getenv("BATCH_EVENTS") or "100")
local event = '{"name":"bench.order.created","data":{"order":12345,"total":99.5,"currency":"EUR","items":["a","b"]}}'
local items = {}
for i = 1, n do items[i] = event end
wrk.method = "POST"
wrk.body = "[" .. table.concat(items, ",") .. "]"
wrk.headers["Content-Type"] = "application/json"

local rate = tonumber(os.getenv("BATCH_RATE") or "0")
if rate > 0 then
	local ffi = require("ffi")
	ffi.cdef [[
		typedef struct { long tv_sec; long tv_nsec; } es_timespec;
		int clock_gettime(int clk, es_timespec *ts);
	]]
	local ts = ffi.new("es_timespec")
	local function now_ms()
		ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
		return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
	end
	local threads = tonumber(os.getenv("BATCH_THREADS") or "2")
	local interval_ms = 1000 * n * threads / rate
	local next_ms = nil
	function delay()
		local now = now_ms()
		if next_ms == nil or next_ms < now - 1000 then
			next_ms = now
		end
		local wait = next_ms - now
		next_ms = next_ms + interval_ms
		return wait > 0 and wait or 0
	end
end
