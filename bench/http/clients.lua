-- What the wrk scripts here share: the clients (token, account id) from the
-- file named by BENCH_CLIENTS, one "token<TAB>account_id" per line, and the
-- closing count of failed requests that bench/http.sh checks.
-- Load it with dofile from the script's own directory.
local M = {}

-- The clients, and a random seed that differs between wrk's threads.
function M.load()
	local clients = {}
	for line in io.lines(os.getenv("BENCH_CLIENTS")) do
		local token, id = line:match("^(%S+)\t(%d+)$")
		clients[#clients + 1] = {token = token, id = id}
	end
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
	return clients
end

function M.done(summary, latency, requests)
	io.write(string.format("non-2xx or errors: %d\n",
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end

return M
