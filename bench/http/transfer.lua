-- wrk: POST /transfers with keep-alive, from a random client's account to
-- another's, 1 cent in USD. Clients (token, account id) come from the file
-- named by BENCH_CLIENTS, one "token<TAB>account_id" per line.
local clients = {}

function init(args)
	for line in io.lines(os.getenv("BENCH_CLIENTS")) do
		local token, id = line:match("^(%S+)\t(%d+)$")
		clients[#clients + 1] = {token = token, id = id}
	end
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
end

function request()
	local n = #clients
	local a = math.random(n)
	local b = (a + math.random(n - 1) - 1) % n + 1
	local body = string.format(
		'{"from_account_id":%s,"to_account_id":%s,"amount":1,"currency":"USD"}',
		clients[a].id, clients[b].id)
	return wrk.format("POST", "/transfers", {
		["Authorization"] = "Bearer " .. clients[a].token,
		["Content-Type"] = "application/json",
	}, body)
end

function done(summary, latency, requests)
	io.write(string.format("non-2xx or errors: %d\n",
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
