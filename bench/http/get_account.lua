-- wrk: GET /accounts/{id} with keep-alive, a random client reading its own
-- account. clients.lua reads the clients (BENCH_CLIENTS) and counts errors.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "clients.lua")

function request()
	local c = clients[math.random(#clients)]
	return wrk.format("GET", "/accounts/" .. c.id, {
		["Authorization"] = "Bearer " .. c.token,
	})
end
