-- What the wrk scripts here share; each loads it with dofile from its own
-- directory and then defines only request().
--   clients: from the file named by BENCH_CLIENTS, one "token<TAB>account_id"
--            per line, read by init() in every wrk thread;
--   done():  the closing count of failed requests that bench/http.sh checks.
clients = {}

function init(args)
	for line in io.lines(os.getenv("BENCH_CLIENTS")) do
		local token, id = line:match("^(%S+)\t(%d+)$")
		clients[#clients + 1] = {token = token, id = id}
	end
	-- a seed that differs between wrk's threads
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
end

function done(summary, latency, requests)
	io.write(string.format("non-2xx or errors: %d\n",
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
