#!/usr/bin/env python3
"""End-to-end tests of pgbank-http over real HTTP (run by regress/t/30-http.sh).

Starts the shim on a free loopback port (18080-18089) against the local
cluster as the API role, and checks every route and status code, the
authorization cases, the game results routes for each game (every field,
parameter and token case), the log line, /metrics, /readyz, /healthz, the 503
answer while PostgreSQL is stopped and the recovery after it restarts, and
a graceful shutdown during a slow request. Superuser work (roles, expired
tokens, locks) goes through psql as postgres. One "ok"/"FAIL" line per
case; the exit status is non-zero if any case failed.
"""
import datetime
import decimal
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.environ["PGBANK_ROOT"]
RUN = os.environ["PGBANK_RUN"]
PGPORT = os.environ["PGBANK_PGPORT"]
DBNAME = os.environ.get("PGBANK_DBNAME", "pgbank")
WEB_ROLE = os.environ.get("PGBANK_WEB_ROLE", "pgbank_web")
OSUSER = os.environ.get("PGBANK_OSUSER", "postgres")
BINDIR = subprocess.check_output([os.environ.get("PG_CONFIG", "pg_config"), "--bindir"],
                                 text=True).strip()
BIN = os.path.join(ROOT, "shim", "pgbank-http")
TAG = uuid.uuid4().hex[:8]      # usernames unique to this run

failures = []


def check(name, cond, detail=""):
    if cond:
        print(f"ok    {name}")
    else:
        print(f"FAIL  {name}: {detail}")
        failures.append(name)
    sys.stdout.flush()
    return cond


# ----- PostgreSQL -----

def as_pg(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", OSUSER, "--"] + cmd
    return cmd


def psql(sql, check_error=True):
    out = subprocess.run([os.path.join(BINDIR, "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
                          "-h", RUN, "-p", PGPORT, "-U", "postgres", "-d", DBNAME, "-c", sql],
                         capture_output=True, text=True)
    if check_error and out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr}")
    return out.stdout.strip()


def pg_ctl(action):
    cmd = [os.path.join(BINDIR, "pg_ctl"), "-D", os.path.join(RUN, "pgdata"), "-w"]
    if action == "start":
        cmd += ["-l", os.path.join(RUN, "postgres.log"), "start"]
    else:
        cmd += ["-m", "fast", "stop"]
    subprocess.run(as_pg(cmd), check=True, capture_output=True)


# ----- the shim -----

def free_port():
    for port in range(18080, 18090):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in 18080-18089")


class Shim:
    def __init__(self, **env):
        self.port = free_port()
        self.log_path = os.path.join(RUN, "logs", f"shim-{self.port}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        e = dict(os.environ)
        e.update({"PGBANK_DB": f"host={RUN} port={PGPORT} dbname={DBNAME} user={WEB_ROLE}",
                  "PGBANK_LISTEN": f"127.0.0.1:{self.port}", "PGBANK_POOL_SIZE": "4",
                  "PGBANK_BODY_LIMIT": "4096"})
        e.update({k: str(v) for k, v in env.items()})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN], env=e, stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the shim did not start listening")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def log_lines(self):
        self.log.flush()
        with open(self.log_path) as f:
            return [line for line in f.read().splitlines() if line]


SHIM = None


def request(method, path, body=None, token=None, headers=None, raw=None, port=None):
    """One request on a new connection: (status, headers, parsed JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port or SHIM.port, timeout=30)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    text = resp.read().decode()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    try:
        return resp.status, hdrs, json.loads(text)
    except ValueError:
        return resp.status, hdrs, text


def expect(name, got, status, code=None, field=None):
    """Check a status, and for errors the SQLSTATE and the field named."""
    st, _, body = got
    ok = st == status
    if ok and status >= 400:
        ok = isinstance(body, dict) and "error" in body and \
            (code is None or body.get("code") == code) and \
            (field is None or field in (body.get("error") or "") + (body.get("details") or ""))
    return check(name, ok, f"got {st} {body}")


def user_body(name):
    return {"username": name, "password": "secret1", "full_name": f"User {name}",
            "email": f"{name}@example.com"}


USER_KEYS = {"username", "full_name", "email", "password_changed_at", "created_at"}
ACCOUNT_KEYS = {"id", "owner", "balance", "currency", "created_at"}


# ----- cases -----

def test_config():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    names = set(re.findall(r"PGBANK_[A-Z_]+", out.stdout))
    with open(os.path.join(ROOT, "docs", "http.md")) as f:
        documented = set(re.findall(r"^\| `(PGBANK_[A-Z_]+)` \| `--([a-z-]+)`", f.read(), re.M))
    flags = set(re.findall(r"--([a-z-]+)=VALUE\n\s+(PGBANK_[A-Z_]+)", out.stdout))
    check("--help lists every setting with its flag, as docs/http.md does",
          out.returncode == 0 and len(names) >= 10 and {(v, f) for f, v in flags} == documented,
          f"help {sorted(flags)} docs {sorted(documented)}")
    bad = subprocess.run([BIN], env=dict(os.environ, PGBANK_POOL_SIZE="0"), capture_output=True, text=True)
    check("an invalid setting is refused (exit 2, names it)", bad.returncode == 2 and
          "PGBANK_POOL_SIZE" in bad.stderr, f"{bad.returncode} {bad.stderr}")
    bad = subprocess.run([BIN, "--body-limit=ten"], capture_output=True, text=True)
    check("an invalid flag value is refused (exit 2)", bad.returncode == 2 and "--body-limit" in bad.stderr,
          f"{bad.returncode} {bad.stderr}")


def test_error_table():
    """shim/errors.c against docs/errors.md: every documented code maps to
    the documented status, and the shim maps nothing the docs do not list."""
    table = dict(line.split("\t") for line in
                 subprocess.check_output([BIN, "--errors"], text=True).splitlines())
    with open(os.path.join(ROOT, "docs", "errors.md")) as f:
        rows = [r for r in f.read().splitlines() if re.match(r"^\| [0-9A-Z]{2}", r)]
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for code in re.findall(r"\b([0-9A-Z]{5}|08)(?:xxx)?\b", cells[0]):
            documented[code] = cells[-1]
    wrong = {c: (st, table.get(c, "500")) for c, st in documented.items() if table.get(c, "500") != st}
    undocumented = {c for c in table if c not in documented and c != "*"}
    check("SQLSTATE -> HTTP table matches docs/errors.md", not wrong and not undocumented and
          len(documented) >= 25, f"differs {wrong}, not in docs {undocumented}")


def test_builtin():
    st, _, body = request("GET", "/healthz")
    check("GET /healthz 200", st == 200 and body == {"status": "ok"}, f"{st} {body}")
    st, _, body = request("GET", "/readyz")
    check("GET /readyz 200", st == 200 and body == {"status": "ready"}, f"{st} {body}")
    st, _, doc = request("GET", "/openapi.json")
    check("GET /openapi.json 200", st == 200 and doc.get("openapi", "").startswith("3."), f"{st}")
    served = set()
    bearer = set()
    for line in subprocess.check_output([BIN, "--routes"], text=True).splitlines():
        method, path, auth = line.split("\t")[:3]
        served.add((method.lower(), path))
        if auth == "bearer":
            bearer.add((method.lower(), path))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops
                  if m in ("get", "post", "put", "patch", "delete")}
    check("openapi.json documents exactly the routes served",
          served == documented, f"served only {served - documented}, documented only {documented - served}")
    secured = {(m, p) for p, ops in doc["paths"].items() for m, op in ops.items()
               if isinstance(op, dict) and op.get("security")}
    check("openapi.json marks exactly the bearer-token routes as secured", secured == bearer,
          f"{secured ^ bearer}")
    with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
        check("/openapi.json is docs/openapi.json", json.load(f) == doc, "differs")


def test_routing():
    expect("unknown route 404", request("GET", "/nowhere"), 404)
    expect("unknown nested route 404", request("GET", "/accounts/1/extra"), 404)
    st, h, body = request("DELETE", "/users")
    check("wrong method 405 with Allow", st == 405 and h.get("allow") == "POST" and "error" in body,
          f"{st} {h} {body}")
    st, h, _ = request("PUT", "/accounts")
    check("405 Allow lists every method of the path", st == 405 and h.get("allow") == "POST, GET",
          f"{st} {h.get('allow')}")
    st, h, body = request("POST", "/nowhere", body={"a": 1})
    check("404 answers JSON", st == 404 and h.get("content-type") == "application/json", f"{st} {h}")


def test_create_user():
    name = f"u_{TAG}"
    st, _, body = request("POST", "/users", body=user_body(name))
    check("POST /users 200 with the user's fields, no hash",
          st == 200 and isinstance(body, dict) and set(body) == USER_KEYS and body["username"] == name,
          f"{st} {body}")
    expect("POST /users duplicate username 403", request("POST", "/users", body=user_body(name)),
           403, "23505", "username")
    dup = user_body(f"v_{TAG}")
    dup["email"] = f"{name}@example.com"
    expect("POST /users duplicate email 403", request("POST", "/users", body=dup), 403, "23505", "email")
    b = user_body(f"w_{TAG}")
    del b["username"]
    expect("POST /users missing username 400 names it", request("POST", "/users", body=b),
           400, "22023", "username")
    b = user_body(f"w_{TAG}")
    b["email"] = "not-an-email"
    expect("POST /users bad email 400 names it", request("POST", "/users", body=b), 400, "22023", "email")
    b = user_body(f"w_{TAG}")
    b["password"] = 123456
    expect("POST /users non-string password 400 names it", request("POST", "/users", body=b),
           400, "22023", "password")
    expect("POST /users malformed JSON 400", request("POST", "/users", raw='{"username":'), 400, "22P02")
    expect("POST /users JSON array body 400", request("POST", "/users", raw='[1]'), 400, "22023", "body")
    expect("POST /users no body 400 names username", request("POST", "/users"), 400, "22023", "username")
    st, _, body = request("POST", "/v1/create_user", body=user_body(f"g_{TAG}"))
    check("POST /v1/create_user 200 {user}", st == 200 and set(body) == {"user"} and
          set(body["user"]) == USER_KEYS, f"{st} {body}")


def test_body_limit():
    big = json.dumps({"username": "x" * 5000})
    expect("413 by Content-Length", request("POST", "/users", raw=big), 413)
    # chunked: no Content-Length, so the limit is enforced while reading
    conn = http.client.HTTPConnection("127.0.0.1", SHIM.port, timeout=30)
    conn.putrequest("POST", "/users")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    for _ in range(10):
        chunk = b"x" * 1000
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    check("413 for a chunked body past the limit", resp.status == 413 and b"error" in body,
          f"{resp.status} {body}")


def test_auth_header():
    expect("no Authorization header 401", request("GET", "/accounts?page_id=1&page_size=5"), 401, "28000")
    expect("wrong scheme 401", request("GET", "/accounts?page_id=1&page_size=5",
                                       headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "28000")
    expect("empty bearer 401", request("GET", "/accounts/1", headers={"Authorization": "Bearer "}),
           401, "28000")


def test_request_id_and_log():
    rid = f"test-{TAG}"
    st, h, _ = request("GET", "/healthz", headers={"X-Request-Id": rid})
    check("X-Request-Id is echoed", h.get("x-request-id") == rid, f"{h}")
    st, h, _ = request("GET", "/healthz", headers={"X-Request-Id": "bad id with spaces"})
    check("an unsafe X-Request-Id is replaced",
          re.fullmatch(r"[0-9a-f]{32}", h.get("x-request-id", "")) is not None, f"{h}")
    time.sleep(0.2)
    lines = SHIM.log_lines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            check("every log line is JSON", False, line)
            return
    check("every log line is JSON", True)
    mine = [p for p in parsed if p.get("request_id") == rid]
    keys = {"time", "level", "method", "path", "status", "duration_ms", "request_id"}
    check("the request's log line has time, level, method, path, status, duration_ms, request_id",
          len(mine) == 1 and keys <= set(mine[0]) and mine[0]["method"] == "GET" and
          mine[0]["path"] == "/healthz" and mine[0]["status"] == 200 and
          isinstance(mine[0]["duration_ms"], (int, float)) and
          re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", mine[0]["time"]) is not None,
          f"{mine}")
    levels = {p["status"]: p["level"] for p in parsed if "status" in p}
    check("log levels: info 2xx, warn 4xx", levels.get(200) == "info" and levels.get(404) == "warn",
          f"{levels}")


def test_metrics():
    st, h, text = request("GET", "/metrics")
    ok = st == 200 and h.get("content-type", "").startswith("text/plain")
    check("GET /metrics 200 text", ok, f"{st} {h}")
    m = re.search(r'^pgbank_http_requests_total\{method="POST",route="/users",status="403"\} (\d+)$',
                  text, re.M)
    check("requests counted by route and status", m is not None and int(m.group(1)) >= 2, text[:500])
    check("unmatched requests counted", re.search(
        r'^pgbank_http_requests_total\{method="",route="unmatched",status="404"\} \d+$', text, re.M)
        is not None, "")
    check("latency histogram", re.search(
        r'^pgbank_http_request_duration_seconds_bucket\{method="GET",route="/healthz",le="\+Inf"\} \d+$',
        text, re.M) is not None and "pgbank_http_request_duration_seconds_sum{" in text, "")
    check("pool use", re.search(r"^pgbank_pool_size 4$", text, re.M) is not None and
          re.search(r"^pgbank_pool_connected [1-4]$", text, re.M) is not None and
          re.search(r"^pgbank_pool_busy \d+$", text, re.M) is not None and
          re.search(r"^pgbank_pool_queued 0$", text, re.M) is not None, "")


# ----- identity, accounts, transfers -----

def login(name, password="secret1", path="/users/login"):
    return request("POST", path, body={"username": name, "password": password},
                   headers={"User-Agent": "e2e-test"})


class Bank:
    """Two depositors with accounts, and a banker."""

    def __init__(self):
        self.alice, self.bob, self.banker = f"alice_{TAG}", f"bob_{TAG}", f"banker_{TAG}"
        for n in (self.alice, self.bob, self.banker):
            request("POST", "/users", body=user_body(n))
        psql(f"INSERT INTO pgbank.user_roles (username, role) VALUES ('{self.banker}', 'banker')")
        self.tok = {}
        self.refresh = {}
        for n in (self.alice, self.bob, self.banker):
            st, _, body = login(n)
            self.tok[n] = body.get("access_token") if st == 200 else None
            self.refresh[n] = body.get("refresh_token") if st == 200 else None


def test_login(bank):
    st, _, body = login(bank.alice)
    keys = {"session_id", "access_token", "access_token_expires_at", "refresh_token",
            "refresh_token_expires_at", "user"}
    check("POST /users/login 200 with tokens and user", st == 200 and set(body) == keys and
          set(body["user"]) == USER_KEYS and body["user"]["username"] == bank.alice, f"{st} {body}")
    st, _, body = login(bank.alice, path="/v1/login_user")
    check("POST /v1/login_user 200", st == 200 and set(body) == keys, f"{st} {body}")
    expect("login wrong password 401", login(bank.alice, "wrong-password"), 401, "28P01")
    expect("login unknown user 404", login(f"nobody_{TAG}"), 404, "P0002")
    expect("login missing password 400", request("POST", "/users/login", body={"username": bank.alice}),
           400, "22023", "password")
    victim = f"victim_{TAG}"
    request("POST", "/users", body=user_body(victim))
    statuses = [login(victim, "wrong-password")[0] for _ in range(30)]
    check("repeated wrong passwords are throttled: 429", 429 in statuses, f"{statuses}")
    expect("throttled even with the right password", login(victim), 429, "PB015")

    st, _, body = request("POST", "/tokens/renew_access", body={"refresh_token": bank.refresh[bank.alice]})
    check("POST /tokens/renew_access 200", st == 200 and
          set(body) == {"access_token", "access_token_expires_at"}, f"{st} {body}")
    expect("renew with a garbage token 401", request("POST", "/tokens/renew_access",
                                                     body={"refresh_token": "garbage"}), 401, "28000")
    # as in the simple bank: a valid token whose id names no session is 404
    expect("renew with an access token 404", request("POST", "/tokens/renew_access",
                                                     body={"refresh_token": bank.tok[bank.alice]}), 404, "P0002")
    expect("renew without refresh_token 400", request("POST", "/tokens/renew_access", body={}),
           400, "22023", "refresh_token")


def test_tokens(bank):
    expect("bad token 401", request("GET", "/accounts?page_id=1&page_size=5", token="v4.local.garbage"),
           401, "28000")
    tampered = bank.tok[bank.alice][:-4] + ("AAAA" if not bank.tok[bank.alice].endswith("AAAA") else "BBBB")
    expect("tampered token 401", request("GET", "/accounts?page_id=1&page_size=5", token=tampered),
           401, "28000")
    expired = psql(f"SET pgbank.access_token_duration = '1s'; "
                   f"SELECT access_token FROM pgbank.login('{bank.alice}', 'secret1')").splitlines()[-1]
    time.sleep(2.1)
    expect("expired token 401", request("GET", "/accounts?page_id=1&page_size=5", token=expired),
           401, "28000")
    # a revoked session: after logout its refresh token cannot renew
    st, _, body = login(bank.bob)
    refresh, access = body["refresh_token"], body["access_token"]
    st, _, out = request("POST", "/v1/logout", body={"refresh_token": refresh})
    check("POST /v1/logout 200", st == 200, f"{st} {out}")
    expect("renew after logout 401", request("POST", "/tokens/renew_access",
                                             body={"refresh_token": refresh}), 401)
    expect("access token of a revoked session 401",
           request("GET", "/accounts?page_id=1&page_size=5", token=access), 401, "28000")
    expect("logout without refresh_token 400", request("POST", "/v1/logout", body={}),
           400, "22023", "refresh_token")


def test_accounts(bank):
    a, b = bank.alice, bank.bob
    st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=bank.tok[a])
    check("POST /accounts 200, owner is the caller", st == 200 and set(acc) == ACCOUNT_KEYS and
          acc["owner"] == a and acc["balance"] == 0, f"{st} {acc}")
    bank.alice_usd = acc.get("id")
    expect("POST /accounts same currency again 403", request("POST", "/accounts", body={"currency": "USD"},
                                                            token=bank.tok[a]), 403, "23505")
    expect("POST /accounts unknown currency 400", request("POST", "/accounts", body={"currency": "XYZ"},
                                                         token=bank.tok[a]), 400, "22023", "currency")
    expect("POST /accounts missing currency 400", request("POST", "/accounts", body={},
                                                         token=bank.tok[a]), 400, "22023", "currency")
    st, _, acc = request("POST", "/accounts", body={"currency": "EUR"}, token=bank.tok[a])
    bank.alice_eur = acc.get("id")
    st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=bank.tok[b])
    bank.bob_usd = acc.get("id")
    # money to move: a superuser deposit (the API has no deposit route, as in the simple bank)
    psql(f"UPDATE pgbank.accounts SET balance = 1000 WHERE id = {bank.alice_usd}")

    st, _, body = request("GET", f"/accounts/{bank.alice_usd}", token=bank.tok[a])
    check("GET /accounts/{id} own 200", st == 200 and body.get("id") == bank.alice_usd and
          body.get("balance") == 1000, f"{st} {body}")
    expect("GET /accounts/{id} another user's 401", request("GET", f"/accounts/{bank.alice_usd}",
                                                            token=bank.tok[b]), 401, "PB010")
    st, _, body = request("GET", f"/accounts/{bank.alice_usd}", token=bank.tok[bank.banker])
    check("GET /accounts/{id} a banker reads any 200", st == 200 and body.get("owner") == a, f"{st} {body}")
    expect("GET /accounts/{id} missing 404", request("GET", "/accounts/999999999", token=bank.tok[a]),
           404, "P0002")
    expect("GET /accounts/{id} not a number 400", request("GET", "/accounts/abc", token=bank.tok[a]),
           400, "22023", "id")
    expect("GET /accounts/{id} zero 400", request("GET", "/accounts/0", token=bank.tok[a]), 400, "22023", "id")

    st, _, body = request("GET", "/accounts?page_id=1&page_size=5", token=bank.tok[a])
    check("GET /accounts 200 the caller's accounts only", st == 200 and isinstance(body, list) and
          [x["id"] for x in body] == sorted([bank.alice_usd, bank.alice_eur]) and
          all(x["owner"] == a for x in body), f"{st} {body}")
    st, _, body = request("GET", "/accounts?page_id=2&page_size=5", token=bank.tok[a])
    check("GET /accounts past the last page: []", st == 200 and body == [], f"{st} {body}")
    expect("GET /accounts page_size 11 400", request("GET", "/accounts?page_id=1&page_size=11",
                                                     token=bank.tok[a]), 400, "22023", "page_size")
    expect("GET /accounts page_size 4 400", request("GET", "/accounts?page_id=1&page_size=4",
                                                    token=bank.tok[a]), 400, "22023", "page_size")
    expect("GET /accounts missing page_id 400", request("GET", "/accounts?page_size=5", token=bank.tok[a]),
           400, "22023", "page_id")


def transfer(bank, who, frm, to, amount, currency="USD", key=None):
    h = {"Idempotency-Key": key} if key else None
    body = {"from_account_id": frm, "to_account_id": to, "amount": amount}
    if currency is not None:
        body["currency"] = currency
    return request("POST", "/transfers", body=body, token=bank.tok[who], headers=h)


def test_transfers(bank):
    a = bank.alice
    st, _, body = transfer(bank, a, bank.alice_usd, bank.bob_usd, 100)
    ok = st == 200 and set(body) == {"transfer", "from_account", "to_account", "from_entry", "to_entry"}
    check("POST /transfers 200 TransferTxResult", ok and
          set(body["transfer"]) == {"id", "from_account_id", "to_account_id", "amount", "created_at"} and
          set(body["from_entry"]) == {"id", "account_id", "amount", "created_at"} and
          body["from_account"]["balance"] == 900 and body["to_entry"]["amount"] == 100, f"{st} {body}")
    expect("transfer from another user's account 401", transfer(bank, bank.bob, bank.alice_usd,
                                                                bank.bob_usd, 1), 401, "PB010")
    expect("transfer overdraft 422", transfer(bank, a, bank.alice_usd, bank.bob_usd, 100000), 422, "PB004")
    expect("transfer amount 0 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 0), 400, "PB001")
    expect("transfer without currency 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 1, None),
           400, "22023", "currency")
    expect("transfer currency mismatch 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 1, "EUR"),
           400, "PB003")
    expect("transfer between currencies 400", transfer(bank, a, bank.alice_usd, bank.alice_eur, 1),
           400, "PB003")
    expect("transfer to a missing account 404", transfer(bank, a, bank.alice_usd, 999999999, 1), 404, "P0002")
    expect("transfer from a missing account 404", transfer(bank, a, 999999999, bank.bob_usd, 1), 404, "P0002")
    expect("transfer amount not an integer 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 1.5),
           400, "22023", "amount")
    expect("transfer without token 401", request("POST", "/transfers", body={}), 401, "28000")
    key = f"key-{TAG}"
    st1, _, r1 = transfer(bank, a, bank.alice_usd, bank.bob_usd, 7, key=key)
    st2, _, r2 = transfer(bank, a, bank.alice_usd, bank.bob_usd, 7, key=key)
    check("Idempotency-Key: a retry answers the first transfer", st1 == 200 and st2 == 200 and
          r1["transfer"]["id"] == r2["transfer"]["id"] and r2["from_account"]["balance"] == 893,
          f"{st1} {st2} {r1} {r2}")
    expect("Idempotency-Key reused with another amount 409",
           transfer(bank, a, bank.alice_usd, bank.bob_usd, 8, key=key), 409, "PB005")


def test_v1_user(bank):
    st, _, body = request("PATCH", "/v1/update_user", token=bank.tok[bank.alice],
                          body={"username": bank.alice, "full_name": "Alice Updated"})
    check("PATCH /v1/update_user 200 {user}", st == 200 and body.get("user", {}).get("full_name") ==
          "Alice Updated", f"{st} {body}")
    expect("PATCH /v1/update_user another user 403", request(
        "PATCH", "/v1/update_user", token=bank.tok[bank.alice],
        body={"username": bank.bob, "full_name": "Hacked"}), 403, "42501")
    st, _, body = request("PATCH", "/v1/update_user", token=bank.tok[bank.banker],
                          body={"username": bank.bob, "full_name": "Bob By Banker"})
    check("PATCH /v1/update_user a banker updates anyone", st == 200, f"{st} {body}")
    expect("PATCH /v1/update_user bad email 400", request(
        "PATCH", "/v1/update_user", token=bank.tok[bank.alice],
        body={"username": bank.alice, "email": "nope"}), 400, "22023", "email")
    expect("PATCH /v1/update_user no token 401", request("PATCH", "/v1/update_user", body={}), 401, "28000")


def test_verify_email(bank):
    row = psql(f"SELECT id, secret_code FROM pgbank.verify_emails WHERE username = '{bank.bob}' "
               f"ORDER BY id DESC LIMIT 1")
    eid, code = row.split("|")
    wrong = "w" * 32
    expect("GET /v1/verify_email wrong code 400", request(
        "GET", f"/v1/verify_email?email_id={eid}&secret_code={wrong}"), 400, "PB040")
    expect("GET /v1/verify_email missing secret_code 400", request(
        "GET", f"/v1/verify_email?email_id={eid}"), 400, "22023", "secret_code")
    st, _, body = request("GET", f"/v1/verify_email?email_id={eid}&secret_code={code}")
    check("GET /v1/verify_email 200 is_verified", st == 200 and body == {"is_verified": True}, f"{st} {body}")
    expect("GET /v1/verify_email used code 400", request(
        "GET", f"/v1/verify_email?email_id={eid}&secret_code={code}"), 400, "PB041")
    expect("GET /v1/verify_email email_id not a number 400", request(
        "GET", "/v1/verify_email?email_id=x&secret_code=y"), 400, "22023", "email_id")
    expect("GET /v1/verify_email unknown id 404", request(
        "GET", f"/v1/verify_email?email_id=999999999&secret_code={wrong}"), 404, "P0002")


# ----- game results -----
#
# For each game (apex, fortnite, hots; docs/games.md) one player stores four
# results, reads them back one by one, as pages and within dates, changes
# some, reads the table and its summary (checked against numbers computed
# here from what was sent), and deletes one; then every bad input, another
# user's reach, and every kind of bad token, on every route. Statuses seen on
# the game routes are compared with docs/openapi.json at the end.

MISSING = object()      # in a body change: leave the field out
FUTURE = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
GAME_STATUSES = {}      # (method, route) -> statuses answered


def game_request(method, path, **kw):
    """request() on a game route, remembering the status for the route."""
    got = request(method, path, **kw)
    rest = path.split("?")[0].split("/")[4:]     # after /v1/games/{game}/
    route = "/v1/games/{game}/" + ("results/{id}" if rest[0] == "results" and len(rest) > 1 else rest[0])
    GAME_STATUSES.setdefault((method.lower(), route), set()).add(got[0])
    return got


def expect_error(name, got, status, code, field=None):
    """An error answer with this status and SQLSTATE; with a field, the
    details must name exactly it (and a 22023 message must start with it)."""
    st, _, body = got
    ok = st == status and isinstance(body, dict) and body.get("code") == code
    if ok and field is not None:
        ok = body.get("details") == f"Field: {field}." and \
            (code != "22023" or str(body.get("error", "")).startswith(f"invalid {field}: "))
    return check(name, ok, f"got {st} {body}")


GAMES = {
    "apex": {
        "fields": ["date", "result", "legend", "kills", "placement", "damage", "time_seconds", "teammates"],
        "ints": ["kills", "placement", "damage", "time_seconds"],
        "placement": "placement", "breakdown": "legend", "derived": True,
        "defaults": {"teammates": []},
        "results": [
            {"date": "2024-03-01", "legend": "Wraith", "kills": 5, "placement": 1, "damage": 1200,
             "time_seconds": 1500, "teammates": ["x", "y"]},
            {"date": "2024-03-05", "legend": "Bangalore", "kills": 2, "placement": 7, "damage": 450,
             "time_seconds": 600},
            {"date": "2024-03-05", "legend": "Wraith", "kills": 8, "placement": 3, "damage": 2100,
             "time_seconds": 1400, "teammates": ["z"]},
            {"date": "2024-03-10", "legend": "Wraith", "kills": 0, "placement": 12, "damage": 101,
             "time_seconds": 301, "teammates": []},
        ],
        "patch": {"damage": 777},
        "bounds": ({"date": "2019-02-04", "legend": "L", "kills": 0, "placement": 1, "damage": 0,
                    "time_seconds": 0, "teammates": []},
                   {"date": "today", "legend": "L" * 50, "kills": 60, "placement": 60, "damage": 50000,
                    "time_seconds": 3600, "teammates": ["t" * 50] * 3}),
        "patch_result": ({"placement": 1}, "win"),
        "required": ["date", "legend", "kills", "placement", "damage", "time_seconds"],
        "bad": [
            ("a derived result", {"result": "win"}, "result"),
            ("placement 0", {"placement": 0}, "placement"),
            ("placement 61", {"placement": 61}, "placement"),
            ("damage 50001", {"damage": 50001}, "damage"),
            ("time_seconds 3601", {"time_seconds": 3601}, "time_seconds"),
            ("kills 61", {"kills": 61}, "kills"),
            ("legend a number", {"legend": 5}, "legend"),
            ("legend blank", {"legend": "  "}, "legend"),
            ("legend of 51 characters", {"legend": "x" * 51}, "legend"),
            ("legend null", {"legend": None}, "legend"),
            ("teammates a string", {"teammates": "x"}, "teammates"),
            ("4 teammates", {"teammates": ["a", "b", "c", "d"]}, "teammates"),
            ("a blank teammate", {"teammates": [""]}, "teammates"),
            ("a teammate not a string", {"teammates": [1]}, "teammates"),
            ("date before the release", {"date": "2019-02-03"}, "date"),
        ],
    },
    "fortnite": {
        "fields": ["date", "result", "kills", "placement", "mode", "teammates"],
        "ints": ["kills", "placement"],
        "placement": "placement", "breakdown": "mode", "derived": True,
        "defaults": {"teammates": []},
        "results": [
            {"date": "2024-02-01", "kills": 3, "placement": 1, "mode": "solo"},
            {"date": "2024-02-03", "kills": 7, "placement": 15, "mode": "squads",
             "teammates": ["a", "b", "c"]},
            {"date": "2024-02-03", "kills": 1, "placement": 88, "mode": "solo"},
            {"date": "2024-02-08", "kills": 12, "placement": 2, "mode": "duos", "teammates": ["d"]},
        ],
        "patch": {"kills": 9},
        "bounds": ({"date": "2017-07-21", "kills": 0, "placement": 1, "mode": "solo"},
                   {"date": "today", "kills": 99, "placement": 100, "mode": "ltm", "teammates": ["t" * 50] * 3}),
        "patch_result": ({"placement": 1}, "win"),
        "required": ["date", "kills", "placement", "mode"],
        "bad": [
            ("a derived result", {"result": "loss"}, "result"),
            ("placement 0", {"placement": 0}, "placement"),
            ("placement 101", {"placement": 101}, "placement"),
            ("kills 100", {"kills": 100}, "kills"),
            ("mode not among the modes", {"mode": "duo"}, "mode"),
            ("mode a number", {"mode": 3}, "mode"),
            ("teammates an object", {"teammates": {"a": 1}}, "teammates"),
            ("4 teammates", {"teammates": ["a", "b", "c", "d"]}, "teammates"),
            ("date before the release", {"date": "2017-07-20"}, "date"),
        ],
    },
    "hots": {
        "fields": ["date", "result", "hero", "kills", "deaths", "assists", "time_seconds", "map"],
        "ints": ["kills", "deaths", "assists", "time_seconds"],
        "placement": None, "breakdown": "hero", "derived": False,
        "defaults": {},
        "results": [
            {"date": "2024-01-10", "result": "win", "hero": "Jaina", "kills": 5, "deaths": 2,
             "assists": 10, "time_seconds": 1200, "map": "Cursed Hollow"},
            {"date": "2024-01-12", "result": "loss", "hero": "Muradin", "kills": 1, "deaths": 6,
             "assists": 14, "time_seconds": 1500, "map": "Towers of Doom"},
            {"date": "2024-01-12", "result": "win", "hero": "Jaina", "kills": 9, "deaths": 1,
             "assists": 7, "time_seconds": 1103, "map": "Braxis Holdout"},
            {"date": "2024-01-20", "result": "loss", "hero": "Abathur", "kills": 0, "deaths": 3,
             "assists": 20, "time_seconds": 1800, "map": "Cursed Hollow"},
        ],
        "patch": {"assists": 17},
        "bounds": ({"date": "2015-06-02", "result": "win", "hero": "H", "kills": 0, "deaths": 0, "assists": 0,
                    "time_seconds": 0, "map": "M"},
                   {"date": "today", "result": "loss", "hero": "H" * 50, "kills": 100, "deaths": 100,
                    "assists": 200, "time_seconds": 7200, "map": "M" * 50}),
        "patch_result": ({"result": "win"}, "win"),
        "required": ["date", "result", "hero", "kills", "deaths", "assists", "time_seconds", "map"],
        "bad": [
            ("result draw", {"result": "draw"}, "result"),
            ("result a number", {"result": 1}, "result"),
            ("deaths -1", {"deaths": -1}, "deaths"),
            ("deaths 101", {"deaths": 101}, "deaths"),
            ("assists 201", {"assists": 201}, "assists"),
            ("kills 101", {"kills": 101}, "kills"),
            ("time_seconds 7201", {"time_seconds": 7201}, "time_seconds"),
            ("hero a number", {"hero": 7}, "hero"),
            ("hero blank", {"hero": " "}, "hero"),
            ("map of 51 characters", {"map": "m" * 51}, "map"),
            ("date before the release", {"date": "2015-06-01"}, "date"),
        ],
    },
}

# bad values every game refuses the same way (each game has kills and date)
COMMON_BAD = [
    ("an unknown field", {"bogus": 1}, "bogus"),
    ("an id", {"id": 1}, "id"),
    ("an owner", {"owner": "someone"}, "owner"),
    ("a created_at", {"created_at": "2024-01-01T00:00:00Z"}, "created_at"),
    ("negative kills", {"kills": -1}, "kills"),
    ("kills a string", {"kills": "5"}, "kills"),
    ("kills a fraction", {"kills": 2.5}, "kills"),
    ("kills a boolean", {"kills": True}, "kills"),
    ("kills null", {"kills": None}, "kills"),
    ("date not YYYY-MM-DD", {"date": "2024/03/01"}, "date"),
    ("date a number", {"date": 20240301}, "date"),
    ("date February 30", {"date": "2024-02-30"}, "date"),
    ("date in the future", {"date": FUTURE}, "date"),
]

BAD_QUERIES = [
    ("page_size=0", "page_size"), ("page_size=101", "page_size"), ("page_size=abc", "page_size"),
    ("page_size=-1", "page_size"), ("page_size=2.5", "page_size"),
    ("page_id=0", "page_id"), ("page_id=x", "page_id"), ("page_id=99999999999", "page_id"),
    ("from=2024-13-01", "from"), ("from=yesterday", "from"),
    ("to=2024-02-30", "to"), ("to=20240101", "to"),
    ("from=2024-03-02&to=2024-03-01", "to"),
]

BAD_IDS = ["abc", "0", "-5", "1.5", "12345678901234567890"]


class Player:
    """A user of the game routes with an access token."""

    def __init__(self, prefix):
        self.name = f"{prefix}_{TAG}"
        st, _, body = request("POST", "/users", body=user_body(self.name))
        st2, _, body2 = login(self.name)
        check(f"games: user {prefix} created and logged in", st == 200 and st2 == 200,
              f"{st} {body} {st2} {body2}")
        ok = st2 == 200 and isinstance(body2, dict)
        self.tok = body2.get("access_token") if ok else None
        self.refresh = body2.get("refresh_token") if ok else None


class GameState:
    """What one player stored in one game: the rows as the API answered
    them (stored) and as they should be from what was sent (model)."""

    def __init__(self, game, player):
        self.game, self.spec, self.player = game, GAMES[game], player
        self.base = f"/v1/games/{game}"
        self.stored = {}
        self.model = {}

    def req(self, method, rest, body=None, **kw):
        return game_request(method, self.base + rest, body=body, token=self.player.tok, **kw)

    def expected(self, sent):
        row = dict(self.spec["defaults"])
        row.update(sent)
        if self.spec["derived"]:
            row["result"] = "win" if row["placement"] == 1 else "loss"
        return row

    def newest_first(self, rows=None):
        rows = self.model if rows is None else rows
        return sorted(rows, key=lambda i: (rows[i]["date"], i), reverse=True)

    def matches(self, row, rid=None):
        """The row has the game's columns and the values of the model."""
        rid = row.get("id") if rid is None else rid
        keys = {"id", "owner", "created_at", "updated_at"} | set(self.spec["fields"])
        return isinstance(row, dict) and set(row) == keys and row["id"] == rid and \
            row["owner"] == self.player.name and rid in self.model and \
            all(row[f] == self.model[rid][f] for f in self.spec["fields"])


def game_avg(values):
    if not values:
        return None
    avg = decimal.Decimal(sum(values)) / decimal.Decimal(len(values))
    return float(avg.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def game_stats(spec, rows):
    """The summary docs/games.md describes, computed here from the rows."""
    pl = spec["placement"]
    s = {"matches": len(rows),
         "wins": sum(r["result"] == "win" for r in rows),
         "losses": sum(r["result"] == "loss" for r in rows),
         "totals": {f: sum(r[f] for r in rows) for f in spec["ints"] if f != pl},
         "averages": {f: game_avg([r[f] for r in rows]) for f in spec["ints"]}}
    if pl:
        s["best_placement"] = min((r[pl] for r in rows), default=None)
    return s


def game_summary(spec, rows):
    s = game_stats(spec, rows)
    by = spec["breakdown"]
    groups = {}
    for r in rows:
        groups.setdefault(r[by], []).append(r)
    s["breakdown_by"] = by
    s["breakdown"] = [dict({by: k}, **game_stats(spec, g))
                      for k, g in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return s


def check_game_table(gs, label):
    st, _, body = gs.req("GET", "/table")
    order = gs.newest_first()
    ok = st == 200 and isinstance(body, dict) and set(body) == {"game", "name", "rows", "summary"} and \
        body["game"] == gs.game
    check(f"{gs.game}: GET table {label}: 200, every row newest first",
          ok and [r.get("id") for r in body["rows"]] == order and
          all(r == gs.stored[r["id"]] for r in body["rows"]), f"{st} {body}")
    want = game_summary(gs.spec, [gs.model[i] for i in order])
    got = body.get("summary") if ok else None
    check(f"{gs.game}: GET table {label}: summary (matches, wins, losses, best placement, totals, "
          f"averages, breakdown) as computed from the results", got == want, f"got {got} want {want}")


def test_game_empty(game, player):
    st, _, body = game_request("GET", f"/v1/games/{game}/table", token=player.tok)
    check(f"{game}: GET table with no results: no rows, matches 0, totals 0, averages null",
          st == 200 and isinstance(body, dict) and body.get("rows") == [] and
          body.get("summary") == game_summary(GAMES[game], []), f"{st} {body}")
    st, _, body = game_request("GET", f"/v1/games/{game}/results", token=player.tok)
    check(f"{game}: GET results with no results: []", st == 200 and
          body == {"results": [], "page_id": 1, "page_size": 10}, f"{st} {body}")


def test_game_create_get(gs):
    g = gs.game
    for n, sent in enumerate(gs.spec["results"], 1):
        st, _, body = gs.req("POST", "/results", sent)
        rid = body.get("id") if isinstance(body, dict) else None
        if isinstance(rid, int):
            gs.model[rid] = gs.expected(sent)
            gs.stored[rid] = body
        check(f"{g}: POST results #{n} 200 echoes every stored field (defaults, derived result)",
              st == 200 and isinstance(rid, int) and gs.matches(body) and
              body["created_at"] == body["updated_at"], f"{st} {body}")
    for n, rid in enumerate(gs.stored, 1):
        st, _, body = gs.req("GET", f"/results/{rid}")
        check(f"{g}: GET results/{{id}} #{n} 200 answers the stored row", st == 200 and body == gs.stored[rid],
              f"{st} {body} stored {gs.stored[rid]}")
    check(f"{g}: four results stored", len(gs.stored) == 4, f"{gs.stored}")


def check_game_list(gs, query, want, page_id=1, page_size=10, label=None):
    st, _, body = gs.req("GET", "/results" + (f"?{query}" if query else ""))
    ok = st == 200 and isinstance(body, dict) and set(body) == {"results", "page_id", "page_size"} and \
        body["page_id"] == page_id and body["page_size"] == page_size
    ids = [r.get("id") for r in body["results"]] if ok else None
    return check(f"{gs.game}: GET results{'?' + query if query else ''} {label or ''}".rstrip(),
                 ok and ids == want and all(r == gs.stored[r["id"]] for r in body["results"]),
                 f"{st} {body} want ids {want}")


def test_game_list(gs):
    order = gs.newest_first()
    dates = sorted({gs.model[i]["date"] for i in order})
    lo, mid, hi = dates[0], dates[1], dates[-1]
    check_game_list(gs, "", order, label="(defaults page 1 of 10): all, newest first, same date by id")
    check_game_list(gs, "page_id=1&page_size=3", order[:3], 1, 3, label="first page")
    check_game_list(gs, "page_id=2&page_size=3", order[3:], 2, 3, label="second page: the rest")
    check_game_list(gs, "page_id=3&page_size=3", [], 3, 3, label="past the end: []")
    check_game_list(gs, "page_size=&page_id=", order, label="(empty values: defaults)")

    def within(f, t):
        return [i for i in order if (f is None or gs.model[i]["date"] >= f) and
                (t is None or gs.model[i]["date"] <= t)]
    for query, f, t in ((f"from={mid}&to={mid}", mid, mid), (f"from={mid}", mid, None),
                        (f"to={mid}", None, mid), (f"from={lo}&to={hi}", lo, hi)):
        want = within(f, t)
        check_game_list(gs, query, want, label="keeps exactly the dates in range, newest first")
        if (f, t) != (lo, hi):
            check(f"{gs.game}: (the data makes from={f} to={t} leave some out)", 0 < len(want) < len(order),
                  f"{want}")
    nxt = (datetime.date.fromisoformat(hi) + datetime.timedelta(days=1)).isoformat()
    check_game_list(gs, f"from={nxt}", [], label="after the last: []")
    want = within(mid, None)
    check_game_list(gs, f"from={mid}&page_id=2&page_size=2", want[2:4], 2, 2,
                    label="filter and page together")


def test_game_update(gs):
    g = gs.game
    order = gs.newest_first()
    rid = order[2]      # the older of the two on the same date
    before = gs.stored[rid]
    st, _, body = gs.req("PATCH", f"/results/{rid}", gs.spec["patch"])
    gs.model[rid].update(gs.spec["patch"])
    check(f"{g}: PATCH {gs.spec['patch']} changes only that field",
          st == 200 and gs.matches(body, rid) and body["created_at"] == before["created_at"] and
          body["updated_at"] != before["updated_at"], f"{st} {body} before {before}")
    if st == 200:
        gs.stored[rid] = body
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the change is stored", st == 200 and body == gs.stored[rid], f"{st} {body}")
    change, result = gs.spec["patch_result"]
    rid2 = order[0]
    st, _, body = gs.req("PATCH", f"/results/{rid2}", change)
    gs.model[rid2].update(change)
    if gs.spec["derived"]:
        gs.model[rid2]["result"] = result
    check(f"{g}: PATCH {change}: result becomes {result}, others kept",
          st == 200 and gs.matches(body, rid2) and body["result"] == result, f"{st} {body}")
    if st == 200:
        gs.stored[rid2] = body
    st, _, body = gs.req("PATCH", f"/results/{rid2}", {})
    check(f"{g}: PATCH {{}} changes nothing, answers the row", st == 200 and body == gs.stored[rid2],
          f"{st} {body}")
    # moving a result to another date moves it in the list
    rid3 = order[-1]
    newdate = (datetime.date.fromisoformat(gs.model[order[0]]["date"]) + datetime.timedelta(days=1)).isoformat()
    st, _, body = gs.req("PATCH", f"/results/{rid3}", {"date": newdate})
    gs.model[rid3]["date"] = newdate
    if st == 200:
        gs.stored[rid3] = body
    check(f"{g}: PATCH date 200", st == 200 and gs.matches(body, rid3), f"{st} {body}")
    check_game_list(gs, "", gs.newest_first(), label="after the date change: the moved result first")


def test_game_bad_input(gs):
    g = gs.game
    order = gs.newest_first()
    rid = order[1]
    before = gs.stored[rid]
    valid = dict(gs.spec["results"][0])
    cases = COMMON_BAD + gs.spec["bad"]
    for label, change, field in cases:
        body = dict(valid, **change)
        expect_error(f"{g}: POST {label} 400 names {field}", gs.req("POST", "/results", body), 400, "22023", field)
        expect_error(f"{g}: PATCH {label} 400 names {field}", gs.req("PATCH", f"/results/{rid}", change),
                     400, "22023", field)
    for field in gs.spec["required"]:
        body = {k: v for k, v in valid.items() if k != field}
        expect_error(f"{g}: POST without {field} 400 names it", gs.req("POST", "/results", body),
                     400, "22023", field)
    dup = json.dumps(valid)[:-1] + ', "kills": 1}'
    for method, rest in (("POST", "/results"), ("PATCH", f"/results/{rid}")):
        expect_error(f"{g}: {method} kills given twice 400 names kills",
                     gs.req(method, rest, raw=dup), 400, "22023", "kills")
        expect_error(f"{g}: {method} a JSON array 400 names body", gs.req(method, rest, raw="[1]"),
                     400, "22023", "body")
        expect_error(f"{g}: {method} JSON null 400 names body", gs.req(method, rest, raw="null"),
                     400, "22023", "body")
        expect_error(f"{g}: {method} no body 400 names body", gs.req(method, rest), 400, "22023", "body")
        expect_error(f"{g}: {method} malformed JSON 400", gs.req(method, rest, raw='{"kills": '), 400, "22P02")
        expect(f"{g}: {method} a body past the limit 413",
               gs.req(method, rest, raw=json.dumps(dict(valid, filler="x" * 5000))), 413)
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the refused PATCHes changed nothing", st == 200 and body == before, f"{st} {body}")
    check_game_list(gs, "", order, label="the refused POSTs stored nothing")

    for query, field in BAD_QUERIES:
        expect_error(f"{g}: GET results?{query} 400 names {field}", gs.req("GET", f"/results?{query}"),
                     400, "22023", field)
    for bad in BAD_IDS:
        expect_error(f"{g}: GET results/{bad} 400 names id", gs.req("GET", f"/results/{bad}"), 400, "22023", "id")
        expect_error(f"{g}: PATCH results/{bad} 400 names id",
                     gs.req("PATCH", f"/results/{bad}", {"kills": 1}), 400, "22023", "id")
        expect_error(f"{g}: DELETE results/{bad} 400 names id", gs.req("DELETE", f"/results/{bad}"),
                     400, "22023", "id")
    missing = 999999999999
    expect_error(f"{g}: GET a missing result 404", gs.req("GET", f"/results/{missing}"), 404, "P0002", "id")
    expect_error(f"{g}: PATCH a missing result 404", gs.req("PATCH", f"/results/{missing}", {"kills": 1}),
                 404, "P0002", "id")
    expect_error(f"{g}: DELETE a missing result 404", gs.req("DELETE", f"/results/{missing}"),
                 404, "P0002", "id")
    check_game_list(gs, "", order, label="nothing changed by the refused requests")


def test_game_bounds(gs, today):
    """The smallest and the largest values of every field are accepted
    (the release date, today); the results are deleted again."""
    g = gs.game
    order = gs.newest_first()
    for label, sent in zip(("smallest", "largest"), gs.spec["bounds"]):
        sent = dict(sent, date=today if sent["date"] == "today" else sent["date"])
        st, _, body = gs.req("POST", "/results", sent)
        rid = body.get("id") if isinstance(body, dict) else None
        want = gs.expected(sent)
        check(f"{g}: POST the {label} values 200, stored as sent", st == 200 and
              all(body.get(f) == want[f] for f in gs.spec["fields"]), f"{st} {body}")
        if isinstance(rid, int):
            st, _, body = gs.req("DELETE", f"/results/{rid}")
            check(f"{g}: DELETE the {label} values' result 200", st == 200 and body.get("id") == rid,
                  f"{st} {body}")
    check_game_list(gs, "", order, label="back to the results before")


def test_game_other_users(gs, others):
    """Another player and a banker: a result of someone else is 404 on
    every route, and stays as it was."""
    g = gs.game
    rid = gs.newest_first()[0]
    before = gs.stored[rid]
    for who, tok in others:
        expect_error(f"{g}: {who} GET another user's result 404",
                     game_request("GET", f"{gs.base}/results/{rid}", token=tok), 404, "P0002", "id")
        expect_error(f"{g}: {who} PATCH another user's result 404",
                     game_request("PATCH", f"{gs.base}/results/{rid}", body={"kills": 0}, token=tok),
                     404, "P0002", "id")
        expect_error(f"{g}: {who} DELETE another user's result 404",
                     game_request("DELETE", f"{gs.base}/results/{rid}", token=tok), 404, "P0002", "id")
        st, _, body = game_request("GET", f"{gs.base}/results", token=tok)
        rows = body.get("results") if isinstance(body, dict) else None
        check(f"{g}: {who} lists none of another user's results", st == 200 and isinstance(rows, list) and
              all(r["id"] not in gs.stored for r in rows), f"{st} {body}")
        st, _, body = game_request("GET", f"{gs.base}/table", token=tok)
        rows = body.get("rows") if isinstance(body, dict) else None
        check(f"{g}: {who}'s table has none of another user's results", st == 200 and isinstance(rows, list) and
              all(r["id"] not in gs.stored for r in rows), f"{st} {body}")
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the result is unchanged after the others' PATCH and DELETE", st == 200 and body == before,
          f"{st} {body}")


def test_game_auth(gs, bad_tokens):
    """Every route refuses a request without a valid token (401) and
    changes nothing."""
    g = gs.game
    rid = gs.newest_first()[0]
    routes = [("POST", "/results", dict(gs.spec["results"][0])), ("GET", "/results?page_id=1&page_size=5", None),
              ("GET", f"/results/{rid}", None), ("PATCH", f"/results/{rid}", {"kills": 0}),
              ("DELETE", f"/results/{rid}", None), ("GET", "/table", None)]
    for label, tok in bad_tokens:
        for method, rest, body in routes:
            expect_error(f"{g}: {method} {rest.split('?')[0]} {label} 401",
                         game_request(method, gs.base + rest, body=body, token=tok), 401, "28000")
    expect_error(f"{g}: a Basic Authorization header 401",
                 game_request("GET", f"{gs.base}/table", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
                 401, "28000")
    st, _, body = gs.req("GET", f"/results/{rid}")
    check(f"{g}: the result is unchanged after the refused PATCH and DELETE",
          st == 200 and body == gs.stored[rid], f"{st} {body}")
    check_game_list(gs, "", gs.newest_first(), label="the refused POSTs stored nothing")


def test_game_delete(gs):
    g = gs.game
    rid = gs.newest_first()[1]
    st, _, body = gs.req("DELETE", f"/results/{rid}")
    check(f"{g}: DELETE 200 answers the deleted row", st == 200 and body == gs.stored[rid], f"{st} {body}")
    if st == 200:
        del gs.stored[rid], gs.model[rid]
    expect_error(f"{g}: GET the deleted result 404", gs.req("GET", f"/results/{rid}"), 404, "P0002", "id")
    expect_error(f"{g}: PATCH the deleted result 404", gs.req("PATCH", f"/results/{rid}", {"kills": 1}),
                 404, "P0002", "id")
    expect_error(f"{g}: DELETE it again 404", gs.req("DELETE", f"/results/{rid}"), 404, "P0002", "id")
    check_game_list(gs, "", gs.newest_first(), label="after the delete: the others only")
    check_game_table(gs, "after the delete")


def test_unknown_game(player):
    for game in ("chess", "APEX", "apex_", "x" * 40):
        for method, rest, body in (("POST", "/results", {"kills": 1}), ("GET", "/results", None),
                                   ("GET", "/results/1", None), ("PATCH", "/results/1", {"kills": 1}),
                                   ("DELETE", "/results/1", None), ("GET", "/table", None)):
            expect_error(f"unknown game {game[:12]}: {method} {rest} 404 names game",
                         game_request(method, f"/v1/games/{game}{rest}", body=body, token=player.tok),
                         404, "P0002", "game")
    expect_error("unknown game without a token: 401 first",
                 game_request("GET", "/v1/games/chess/table"), 401, "28000")


def test_games(bank):
    players = {g: Player(f"gamer_{g}") for g in GAMES}
    other = Player("gamer_other")
    # a token of a session that has logged out
    gone = Player("gamer_gone")
    st, _, out = request("POST", "/v1/logout", body={"refresh_token": gone.refresh})
    check("games: the revoked session's logout 200", st == 200, f"{st} {out}")
    expired = psql(f"SET pgbank.access_token_duration = '1s'; "
                   f"SELECT access_token FROM pgbank.login('{other.name}', 'secret1')").splitlines()[-1]
    time.sleep(2.1)
    today = psql("SELECT current_date")
    bad_tokens = [("no token", None), ("garbage token", "v4.local.garbage"), ("not a token", "x"),
                  ("revoked session token", gone.tok), ("expired token", expired)]
    for game in GAMES:
        test_game_empty(game, players[game])
        gs = GameState(game, players[game])
        test_game_create_get(gs)
        if len(gs.stored) != 4:
            check(f"{game}: the rest of the game's cases need the four results", False, "")
            continue
        test_game_list(gs)
        test_game_update(gs)
        check_game_table(gs, "after the changes")
        test_game_bad_input(gs)
        test_game_bounds(gs, today)
        test_game_other_users(gs, [("another user", other.tok), ("a banker", bank.tok[bank.banker])])
        test_game_auth(gs, bad_tokens)
        test_game_delete(gs)
    test_unknown_game(other)


def test_game_statuses_documented():
    """docs/openapi.json lists the statuses the game routes answered here,
    and each it lists (but 503, tested on another route) was answered."""
    with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
        doc = json.load(f)
    for path, ops in doc["paths"].items():
        if not path.startswith("/v1/games/"):
            continue
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            documented = {int(s) for s in op["responses"]}
            seen = GAME_STATUSES.get((method, path), set())
            check(f"openapi.json lists exactly the statuses {method.upper()} {path} answers (503 aside)",
                  seen <= documented and documented - {503} <= seen,
                  f"answered {sorted(seen)}, documented {sorted(documented)}")


# ----- the database going away, and shutdown -----

def test_database_restart():
    pg_ctl("stop")
    try:
        st, h, body = request("GET", "/readyz")
        check("/readyz 503 while PostgreSQL is down", st == 503 and "retry-after" in h, f"{st} {h} {body}")
        st, h, body = request("POST", "/users", body=user_body(f"down_{TAG}"))
        check("a route answers 503 with Retry-After while PostgreSQL is down",
              st == 503 and int(h.get("retry-after", "0")) >= 1 and body.get("code") == "08006",
              f"{st} {h} {body}")
        st, _, _ = request("GET", "/healthz")
        check("/healthz stays 200 while PostgreSQL is down", st == 200, f"{st}")
    finally:
        pg_ctl("start")
    deadline = time.time() + 30
    statuses = []
    while time.time() < deadline:
        st, _, _ = request("GET", "/readyz")
        statuses.append(st)
        if st == 200:
            break
        time.sleep(0.5)
    check("the shim reconnects by itself after the restart", statuses[-1] == 200, f"{statuses}")
    got = []
    for i in range(8):      # every worker's connection, not only one
        st, _, body = request("POST", "/users", body=user_body(f"up{i}_{TAG}"))
        got.append(st if st == 200 else (st, body))
    check("requests succeed on every worker after the restart", got == [200] * 8, f"{got}")


def hold_username(name, seconds):
    """Hold a username with an uncommitted insert for a while: the shim's
    insert of the same key waits for it, then succeeds when it rolls back."""
    holder = subprocess.Popen(
        [os.path.join(BINDIR, "psql"), "-X", "-q", "-h", RUN, "-p", PGPORT, "-U", "postgres", "-d", DBNAME,
         "-c", f"BEGIN; INSERT INTO pgbank.users (username, hashed_password, full_name, email) "
               f"VALUES ('{name}', 'x', 'x', '{name}@hold.example'); SELECT pg_sleep({seconds}); ROLLBACK;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.7)
    return holder


class Pending:
    """A request running in its own thread (it may wait on a held lock)."""

    def __init__(self, method, path, body=None, port=None):
        self.result = (None, None, None)

        def run():
            self.result = request(method, path, body=body, port=port)
        self.thread = threading.Thread(target=run)
        self.thread.start()

    def waiting(self):
        return self.thread.is_alive()

    def wait(self, timeout=30):
        """(status, headers, body), or Nones if it did not finish."""
        self.thread.join(timeout)
        return self.result


def test_no_head_of_line_blocking():
    """A statement waiting on a lock holds one pool connection, not the other
    HTTP connections: with two connections in the pool, eight keep-alive
    clients opened before it are all served while it waits."""
    shim = Shim(PGBANK_POOL_SIZE=2)
    conns = [http.client.HTTPConnection("127.0.0.1", shim.port, timeout=10) for _ in range(8)]

    def ready_on_each():
        got = []
        for c in conns:
            c.request("GET", "/readyz")
            r = c.getresponse()
            r.read()
            got.append(r.status)
        return got
    ready_on_each()
    name = f"hol_{TAG}"
    holder = hold_username(name, 4)
    slow = Pending("POST", "/users", body=user_body(name), port=shim.port)
    time.sleep(0.5)
    start = time.time()
    statuses = ready_on_each() + ready_on_each() + ready_on_each()
    took = time.time() - start
    waiting = slow.waiting()
    check("a statement waiting on a lock holds up no other connection's request",
          statuses == [200] * 24 and took < 2 and waiting, f"{statuses} in {took:.1f}s, waiting {waiting}")
    st, _, body = slow.wait()
    holder.wait(30)
    check("the waiting request is answered once the lock is gone (200)", st == 200, f"{st} {body}")
    for c in conns:
        c.close()
    check("the shim exits 0 on SIGTERM (two-connection pool)", shim.stop() == 0, "")


def test_shutdown_refuses_queued():
    shim = Shim(PGBANK_POOL_SIZE=1, PGBANK_SHUTDOWN_TIMEOUT=1)
    holder = hold_username(f"queue_{TAG}", 6)
    running = Pending("POST", "/users", body=user_body(f"queue_{TAG}"), port=shim.port)
    time.sleep(0.5)
    queued = Pending("GET", "/readyz", port=shim.port)
    time.sleep(0.3)
    rc = shim.stop()
    holder.wait(30)
    st, _, body = queued.wait()
    check("past the shutdown deadline a queued request is answered 503 (57P01) without running",
          st == 503 and isinstance(body, dict) and body.get("code") == "57P01", f"{st} {body}")
    st, _, body = running.wait()
    check("past the shutdown deadline the running statement is cancelled (57014)",
          st == 500 and isinstance(body, dict) and body.get("code") == "57014", f"{st} {body}")
    check("the shim exits 0 (one-connection pool)", rc == 0, f"exit {rc}")


def test_statement_timeout():
    shim = Shim(PGBANK_STATEMENT_TIMEOUT=300)
    holder = hold_username(f"held_{TAG}", 3)
    start = time.time()
    st, _, body = request("POST", "/users", body=user_body(f"held_{TAG}"), port=shim.port)
    took = time.time() - start
    check("PGBANK_STATEMENT_TIMEOUT cancels a blocked statement (57014, 500)",
          st == 500 and body.get("code") == "57014" and took < 2, f"{st} {body} after {took:.1f}s")
    holder.wait(30)
    check("the shim exits 0 on SIGTERM (statement timeout shim)", shim.stop() == 0, "")


def test_shutdown_deadline():
    shim = Shim(PGBANK_SHUTDOWN_TIMEOUT=1)
    holder = hold_username(f"late_{TAG}", 6)
    slow = Pending("POST", "/users", body=user_body(f"late_{TAG}"), port=shim.port)
    time.sleep(0.5)
    start = time.time()
    rc = shim.stop()
    took = time.time() - start
    st, _, body = slow.wait()
    holder.wait(30)
    check("past PGBANK_SHUTDOWN_TIMEOUT the running statement is cancelled and answered",
          st == 500 and isinstance(body, dict) and body.get("code") == "57014", f"{st} {body}")
    check("the shim exits 0 soon after the shutdown deadline", rc == 0 and took < 4,
          f"exit {rc} after {took:.1f}s")


def test_graceful_shutdown():
    shim = Shim(PGBANK_SHUTDOWN_TIMEOUT=20)
    name = f"slow_{TAG}"
    holder = hold_username(name, 3)
    slow = Pending("POST", "/users", body=user_body(name), port=shim.port)
    time.sleep(0.7)
    shim.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        socket.create_connection(("127.0.0.1", shim.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    check("after SIGTERM new connections are refused", refused, "still accepting")
    st, _, body = slow.wait()
    holder.wait(30)
    rc = shim.stop()
    check("the in-flight request completes during shutdown (200)", st == 200, f"{st} {body}")
    check("the shim exits 0 after SIGTERM", rc == 0, f"exit {rc}")
    logs = shim.log_lines()
    check("shutdown is logged", any('"stopped"' in line for line in logs), logs[-3:])


def main():
    global SHIM
    SHIM = Shim()
    try:
        test_config()
        test_error_table()
        test_builtin()
        test_routing()
        test_create_user()
        test_body_limit()
        test_auth_header()
        test_request_id_and_log()
        test_metrics()
        bank = Bank()
        test_login(bank)
        test_tokens(bank)
        test_accounts(bank)
        test_transfers(bank)
        test_v1_user(bank)
        test_verify_email(bank)
        test_games(bank)
        test_game_statuses_documented()
        test_database_restart()
    finally:
        rc = SHIM.stop()
    check("the shim exits 0 on SIGTERM", rc == 0, f"exit {rc}")
    test_graceful_shutdown()
    test_shutdown_deadline()
    test_statement_timeout()
    test_no_head_of_line_blocking()
    test_shutdown_refuses_queued()
    print(f"http: {len(failures)} failed")
    if failures:
        print("failed: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
