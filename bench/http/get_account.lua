-- wrk: GET /accounts/{id} with keep-alive, a random client reading its own
-- account. Clients come from BENCH_CLIENTS as in transfer.lua.
local clients = {}

function init(args)
	for line in io.lines(os.getenv("BENCH_CLIENTS")) do
		local token, id = line:match("^(%S+)\t(%d+)$")
		clients[#clients + 1] = {token = token, id = id}
	end
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
end

function request()
	local c = clients[math.random(#clients)]
	return wrk.format("GET", "/accounts/" .. c.id, {
		["Authorization"] = "Bearer " .. c.token,
	})
end

function done(summary, latency, requests)
	io.write(string.format("non-2xx or errors: %d\n",
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
