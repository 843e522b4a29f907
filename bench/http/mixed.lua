-- wrk: a mix for bench/soak.sh, with keep-alive: of every 10 requests 5
-- are POST /transfers (1 cent between two random clients' accounts), 3
-- GET /accounts/{id} and 2 GET /accounts/{id}/entries (the first page of
-- the statement). clients.lua reads the clients (BENCH_CLIENTS) and
-- counts errors.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "clients.lua")

function request()
	local n = #clients
	local a = math.random(n)
	local pick = math.random(10)
	if pick <= 5 then
		local b = (a + math.random(n - 1) - 1) % n + 1
		return wrk.format("POST", "/transfers", {
			["Authorization"] = "Bearer " .. clients[a].token,
			["Content-Type"] = "application/json",
		}, string.format('{"from_account_id":%s,"to_account_id":%s,"amount":1,"currency":"USD"}',
			clients[a].id, clients[b].id))
	elseif pick <= 8 then
		return wrk.format("GET", "/accounts/" .. clients[a].id, {
			["Authorization"] = "Bearer " .. clients[a].token,
		})
	end
	return wrk.format("GET", "/accounts/" .. clients[a].id .. "/entries?page_size=10", {
		["Authorization"] = "Bearer " .. clients[a].token,
	})
end
