-- wrk: POST /transfers with keep-alive, from a random client's account to
-- another's, 1 cent in USD. clients.lua reads the clients (BENCH_CLIENTS)
-- and counts errors.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "clients.lua")

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
