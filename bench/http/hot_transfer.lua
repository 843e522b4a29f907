-- wrk: POST /transfers with keep-alive, every request from the first
-- client's account to the second's (the hot pair), 1 cent in USD: each
-- transfer waits for the one before it to commit, unless the shim
-- coalesces them (PGBANK_COALESCE_WORKERS).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "clients.lua")

function request()
	local body = string.format(
		'{"from_account_id":%s,"to_account_id":%s,"amount":1,"currency":"USD"}',
		clients[1].id, clients[2].id)
	return wrk.format("POST", "/transfers", {
		["Authorization"] = "Bearer " .. clients[1].token,
		["Content-Type"] = "application/json",
	}, body)
end
