-- wrk: GET /accounts/{id} with keep-alive, a random client reading its own
-- account. Clients come from BENCH_CLIENTS (see clients.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
local common = dofile(here .. "clients.lua")
local clients = {}

function init(args)
	clients = common.load()
end

function request()
	local c = clients[math.random(#clients)]
	return wrk.format("GET", "/accounts/" .. c.id, {
		["Authorization"] = "Bearer " .. c.token,
	})
end

done = common.done
