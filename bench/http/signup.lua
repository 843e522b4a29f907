-- wrk: POST /users with a new username on every request (a sign-up flood:
-- one Argon2id hash each). Names are unique per run, thread and request.
local counter = 0
local threads = 0
local prefix = string.format("fl%x", os.time())

function setup(thread)
	threads = threads + 1
	thread:set("tid", tostring(threads))
end

function request()
	counter = counter + 1
	local name = string.format("%s_%s_%d", prefix, tid or "0", counter)
	local body = string.format(
		'{"username":"%s","password":"secret1","full_name":"Flood","email":"%s@flood.example"}',
		name, name)
	return wrk.format("POST", "/users", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
	io.write(string.format("non-2xx or errors: %d\n",
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
