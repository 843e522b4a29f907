-- wrk: GET /readyz with keep-alive: a worker runs SELECT 1 and the shim
-- answers. The cheapest request that goes to PostgreSQL through the pool:
-- no GET route can be served faster than this. clients.lua counts errors.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "clients.lua")

function request()
	return wrk.format("GET", "/readyz")
end
