#!/usr/bin/env python3
"""What an attacker without an account can send the shim (issue 10): clients
that hang up while their statement is queued or running (no memory grows,
the suspended gauge returns to 0, LeakSanitizer is clean at exit), clients
that send a request one byte a second (cut off at PGBANK_REQUEST_TIMEOUT),
ambiguous body framing (refused, nothing smuggled), unknown
Transfer-Encoding (501 at once), %00 in the URI, text that is not UTF-8,
\\u0000 and deep nesting in JSON (400 before SQL); the password-hashing
bound; read-only transactions for reading GET routes; and a fuzzer over
every route whose property is that no client input is answered with a 5xx
but the documented 503.
"""
import json
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import helpers
from helpers import *  # noqa: F401,F403


# ----- raw HTTP -----

def send_raw(data, port, timeout=5.0):
    """Send bytes on a new connection; every byte the server sends back
    until it closes (or until timeout), and whether it closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    got = b""
    closed = False
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            s.settimeout(max(0.05, deadline - time.time()))
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    return got, closed


def responses(stream):
    """The (status, body) of each HTTP response in a byte stream."""
    out = []
    while stream.startswith(b"HTTP/1."):
        head, _, rest = stream.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        n = int(m.group(1)) if m else len(rest)
        out.append((status, rest[:n]))
        stream = rest[n:]
    return out


def http_request(method, target, headers=None, body=b""):
    """The bytes of one HTTP/1.1 request; target and header values may hold
    any byte."""
    h = {"Host": "test"}
    h.update(headers or {})
    if body or method in ("POST", "PATCH"):
        h.setdefault("Content-Length", str(len(body)))
    lines = [method.encode() + b" " + (target if isinstance(target, bytes) else target.encode()) +
             b" HTTP/1.1"]
    for k, v in h.items():
        lines.append(k.encode() + b": " + (v if isinstance(v, bytes) else v.encode()))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Player:
    """A user with an access token and an account."""

    def __init__(self, prefix):
        self.name = f"{prefix}_{TAG}"
        request("POST", "/users", body=user_body(self.name))
        st, _, body = login(self.name)
        self.tok = body.get("access_token") if st == 200 and isinstance(body, dict) else None
        self.refresh = body.get("refresh_token") if st == 200 and isinstance(body, dict) else None
        st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=self.tok)
        self.account = acc.get("id") if st == 200 and isinstance(acc, dict) else None


APEX = {"date": "2024-03-01", "legend": "Wraith", "kills": 5, "placement": 1, "damage": 1200,
        "time_seconds": 1500, "teammates": ["x", "y"]}


def store_results(player, n):
    """n apex results for player, in one statement: a large table answer."""
    psql(f"SELECT count(pgbank.api_game_create('{player.tok}', 'apex', "
         f"'{json.dumps(APEX)}'::json)) FROM generate_series(1, {n})")


# ----- clients that hang up -----

def hang_up_burst(port, player, logins, tables, workers=4):
    """Clients that leave while their statement runs or waits in the queue:
    sign-ups for a username a transaction holds keep every worker busy (they
    wait on its lock), logins and large table answers queue behind them,
    and every client hangs up (most with a reset) before the lock goes;
    some table answers are read in part first (the answer queued)."""
    name = f"held{random.randrange(1 << 30)}_{TAG}"
    holder = hold_username(name, 1.5)
    signup = http_request("POST", "/users", {"Content-Type": "application/json"},
                          json.dumps(user_body(name)).encode())
    # logins the function refuses at once (no password: 400, no Argon2id,
    # not a failed login the address throttle would count)
    body = json.dumps({"username": f"nobody_{TAG}"}).encode()
    login_req = http_request("POST", "/users/login", {"Content-Type": "application/json"}, body)
    table_req = http_request("GET", "/v1/games/apex/table", {"Authorization": "Bearer " + player.tok})
    socks = []
    for req in [signup] * workers + [table_req] * tables + [login_req] * logins:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        socks.append(s)
    time.sleep(0.3)
    close_half_read(socks)
    holder.wait(30)


def close_half_read(socks):
    """Close each socket: most with a reset (the server sees the hang-up at
    once), some with a FIN, some after reading part of the answer."""
    for n, s in enumerate(socks):
        if n % 4 == 0:      # the answer was queued when the client left
            r, _, _ = select.select([s], [], [], 0)
            if r:
                try:
                    s.recv(1024)
                except OSError:
                    pass
        if n % 4 != 1:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def drained(port, timeout=30):
    """Wait until nothing is with the pool: (in_flight, suspended, queued)."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = (metric(port, "pgbank_http_in_flight"), metric(port, "pgbank_http_suspended"),
               metric(port, "pgbank_pool_queued"))
        if got == (1, 0, 0):      # the /metrics request itself
            break
        time.sleep(0.2)
    return got


def test_hang_up_memory():
    shim = Shim(PGBANK_HASH_WORKERS=4)
    helpers.SHIM = shim
    player = Player("hangup")
    store_results(player, 1500)
    st, _, table = request("GET", "/v1/games/apex/table", token=player.tok)
    size = len(json.dumps(table))
    check("hang-ups: the table answer is large (over 200 kB)", st == 200 and size > 200000, f"{st} {size}")
    rounds = []
    for _ in range(3):
        hang_up_burst(shim.port, player, 300, 100)
        state = drained(shim.port)
        rounds.append((rss_kb(shim.proc.pid), state))
    grown = rounds[2][0] - rounds[0][0]
    check("clients hanging up while queued, running or answered: the shim's RSS stays flat "
          "(under 8 MB more after two more rounds of 404 hang-ups, 100 of each a 400 kB answer)",
          grown < 8 * 1024, f"RSS kB and (in flight, suspended, queued) per round: {rounds}")
    check("after the hang-ups nothing is left with the pool: pgbank_http_suspended 0",
          all(state == (1, 0, 0) for _, state in rounds), f"{rounds}")
    rc = shim.stop()
    check("after the hang-ups SIGTERM cleans up and exits 0", rc == 0 and
          not any("exiting without them" in line for line in shim.log_lines()),
          f"exit {rc} {shim.log_lines()[-3:]}")


# ----- slow clients -----

class SlowClient:
    """Sends a request one byte a second and never finishes it: headers
    (the header section never ends) or a body (Content-Length not reached)."""

    def __init__(self, port, body):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.start = time.time()
        self.cut_at = None
        head = b"POST /users HTTP/1.1\r\nHost: slow\r\n"
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        else:
            head += b"X-Slow: "
        self.sock.sendall(head)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        """A byte a second; between them, watch for the server closing."""
        next_byte = self.start + 1
        try:
            while time.time() - self.start < 15:
                r, _, _ = select.select([self.sock], [], [], max(0, next_byte - time.time()))
                if r and not self.sock.recv(1024):
                    break
                if time.time() >= next_byte:
                    self.sock.sendall(b"a")
                    next_byte += 1
        except OSError:
            pass
        self.cut_at = time.time() - self.start
        self.sock.close()


def test_request_deadline():
    """Ten clients sending one byte a second fill a --max-connections=10
    server; at PGBANK_REQUEST_TIMEOUT they are cut off and a fresh client
    that was waiting gets in and is served."""
    shim = Shim(PGBANK_MAX_CONNECTIONS=10, PGBANK_REQUEST_TIMEOUT=3)
    slow = [SlowClient(shim.port, body=i % 2 == 1) for i in range(10)]
    time.sleep(0.5)
    start = time.time()
    got = {}

    def fresh():
        got["answer"] = send_raw(http_request("GET", "/healthz", {"Connection": "close"}),
                                 shim.port, timeout=12)
        got["after"] = time.time() - start
    t = threading.Thread(target=fresh)
    t.start()
    t.join(14)
    for c in slow:
        c.thread.join(16)
    answers = responses(got.get("answer", (b"", False))[0])
    cuts = sorted(round(c.cut_at, 1) for c in slow if c.cut_at is not None)
    check("ten clients sending a request one byte a second are cut off at "
          "PGBANK_REQUEST_TIMEOUT (3 s; headers and bodies)",
          len(cuts) == 10 and all(2.9 <= c <= 4.5 for c in cuts), f"cut after {cuts} s")
    check("a fresh client waits while they fill --max-connections=10, then is served (200)",
          [a[0] for a in answers] == [200] and got.get("after", 0) >= 1.5,
          f"{answers} after {got.get('after')} s")
    st, _, text = request("GET", "/metrics", port=shim.port)
    m = re.search(r"^pgbank_http_request_timeouts_total (\d+)$", text, re.M) if st == 200 else None
    check("the cut-offs are counted: pgbank_http_request_timeouts_total",
          m is not None and int(m.group(1)) >= 10, text[-400:] if isinstance(text, str) else text)
    st, _, body = request("POST", "/users", body=user_body(f"patient_{TAG}"), port=shim.port)
    check("a whole request sent in time is served as usual", st == 200, f"{st} {body}")
    check("the shim exits 0 on SIGTERM (request deadline shim)", shim.stop() == 0, "")


# ----- framing, URI, text -----

def user_exists(name):
    return psql(f"SELECT count(*) FROM pgbank.users WHERE username = '{name}'") != "0"


def test_framing(port):
    for label, head in (
            ("Content-Length with Transfer-Encoding: chunked",
             b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("two different Content-Length headers",
             b"Content-Length: 2\r\nContent-Length: 200\r\n\r\n{}")):
        name = f"smuggled{len(label)}_{TAG}"
        hidden = http_request("POST", "/users", {"Content-Type": "application/json"},
                              json.dumps(user_body(name)).encode())
        got, closed = send_raw(b"POST /v1/logout HTTP/1.1\r\nHost: test\r\n" + head + hidden, port)
        answers = responses(got)
        body = json.loads(answers[0][1]) if answers and answers[0][1].startswith(b"{") else None
        time.sleep(0.3)
        check(f"{label}: 400 JSON, the connection closed, the bytes after it not run",
              [a[0] for a in answers] == [400] and isinstance(body, dict) and "error" in body and
              closed and not user_exists(name), f"{answers} closed {closed} smuggled user {user_exists(name)}")
    start = time.time()
    got, closed = send_raw(b"POST /users HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\nxyz",
                           port, timeout=4)
    answers = responses(got)
    check("an unknown Transfer-Encoding: 501 at once, connection closed",
          [a[0] for a in answers] == [501] and closed and time.time() - start < 2,
          f"{answers} closed {closed} after {time.time() - start:.1f}s")
    for target in ("/accounts/1%00", "/accounts/1%00/x", "/accounts?page_id=1%00&page_size=5"):
        expect_error(f"%00 in the URI {target}: 400 before routing", request("GET", target), 400, "22021")


def test_client_text(port, player):
    """Every piece of a request that reaches SQL: not UTF-8 (22021), \\u0000
    (22P05), nested too deep (22023): 400 naming the field, not 500."""
    tok = {"Authorization": b"Bearer " + player.tok.encode()}
    cases = [
        ("a token that is not UTF-8", "GET", "/accounts/1", {"Authorization": b"Bearer \xff\xfe"}, b"",
         "22021", "Authorization"),
        ("a path value that is not UTF-8", "GET", "/accounts/%ff", tok, b"", "22021", "id"),
        ("a game name that is not UTF-8", "GET", "/v1/games/%c3%28/table", tok, b"", "22021", "game"),
        ("a query value that is not UTF-8", "GET", "/accounts?page_id=%ff&page_size=5", tok, b"",
         "22021", "page_id"),
        ("a User-Agent that is not UTF-8", "POST", "/users/login", {"User-Agent": b"\xc0\xaf"},
         json.dumps({"username": player.name, "password": "secret1"}).encode(), "22021", "User-Agent"),
        ("an Idempotency-Key that is not UTF-8", "POST", "/transfers",
         dict(tok, **{"Idempotency-Key": b"key-\xed\xa0\x80"}), b"{}", "22021", "Idempotency-Key"),
        ("a body that is not UTF-8", "POST", "/users", {}, b'{"username": "a\xff"}', "22021", "body"),
        ("a body with a NUL byte", "POST", "/users", {}, b'{"username": "a\x00"}', "22021", "body"),
        ("\\u0000 in a JSON string", "POST", "/users", {},
         json.dumps(dict(user_body(f"nul_{TAG}"), full_name="a\u0000b")).encode(), "22P05", "body"),
        ("\\u0000 in a JSON key", "PATCH", "/v1/update_user", tok, b'{"user\\u0000name": "x"}',
         "22P05", "body"),
        ("JSON nested 30,000 deep", "POST", "/users", {}, b"[" * 30000 + b"]" * 30000, "22023", "body"),
        ("JSON nested 65 deep in an object", "POST", "/v1/games/apex/results", tok,
         b'{"teammates": ' + b"[" * 65 + b"]" * 65 + b"}", "22023", "body"),
        ("a lone surrogate escape", "POST", "/users", {}, b'{"username": "\\ud800"}', "22P02", "body"),
        ("malformed JSON", "POST", "/transfers", tok, b'{"amount": 1,}', "22P02", "body"),
    ]
    for label, method, target, headers, body, code, field in cases:
        got, _ = send_raw(http_request(method, target, dict(headers, **{"Content-Type": "application/json",
                                                                         "Connection": "close"}),
                                       body), port)
        answers = responses(got)
        try:
            err = json.loads(answers[0][1])
        except (IndexError, ValueError):
            err = None
        check(f"{label}: 400 {code} naming {field}, before SQL",
              [a[0] for a in answers[:1]] == [400] and isinstance(err, dict) and err.get("code") == code and
              err.get("details") == f"Field: {field}." and err.get("hint") is None,
              f"{answers[:1]}")
    st, _, body = request("POST", "/v1/games/apex/results", token=player.tok,
                          raw=json.dumps(dict(APEX, teammates=[[[["x"]]]])))
    check("JSON nested within the bound reaches the SQL function (which names the field)",
          st == 400 and body.get("code") == "22023" and body.get("details") == "Field: teammates.",
          f"{st} {body}")


# ----- the hashing bound -----

def test_hashing_bound():
    """With PGBANK_HASH_WORKERS=1 on a pool of 2, two sign-ups waiting on
    locks take one worker and one place in the hashing queue: the other
    worker still serves a cheap GET at once."""
    shim = Shim(PGBANK_POOL_SIZE=2, PGBANK_HASH_WORKERS=1)
    helpers.SHIM = shim
    player = Player("hashbound")
    names = [f"hashwait{i}_{TAG}" for i in range(2)]
    holders = [hold_username(n, 4) for n in names]
    waiting = [Pending("POST", "/users", body=user_body(n), port=shim.port) for n in names]
    time.sleep(0.5)
    gauges = (metric(shim.port, "pgbank_pool_hashing_busy"), metric(shim.port, "pgbank_pool_hashing_queued"))
    start = time.time()
    st, _, body = request("GET", f"/accounts/{player.account}", token=player.tok)
    took = time.time() - start
    check("while sign-ups fill the hashing bound a cheap GET is served at once",
          st == 200 and took < 1.0 and all(p.waiting() for p in waiting),
          f"{st} {body} in {took:.2f}s, waiting {[p.waiting() for p in waiting]}")
    check("/metrics: one hashing worker busy, one sign-up queued behind the bound",
          gauges == (1, 1), f"busy, queued = {gauges}")
    got = [p.wait()[0] for p in waiting]
    for holder in holders:
        holder.wait(30)
    check("the queued sign-ups are served once the bound frees (200, 200)", got == [200, 200], f"{got}")
    check("the shim exits 0 on SIGTERM (hashing bound shim)", shim.stop() == 0, "")


# ----- read-only transactions -----

RO_DB = "pgbank_http_readonly"


def test_read_only():
    """The shim against a database whose API functions write: a route the
    table marks read-only (GET /accounts/{id}) cannot write (25006), a
    write route (POST /accounts) can, and the failed read-only statement
    leaves no transaction open on its connection."""
    psql(f"DROP DATABASE IF EXISTS {RO_DB}")
    psql(f"CREATE DATABASE {RO_DB}")
    psql(f"""CREATE SCHEMA pgbank;
        CREATE TABLE pgbank.writes (at timestamptz DEFAULT now());
        CREATE FUNCTION pgbank.api_get_account(token text, id text) RETURNS json
            LANGUAGE sql SECURITY DEFINER AS
            'INSERT INTO pgbank.writes DEFAULT VALUES RETURNING json_build_object(''wrote'', true)';
        CREATE FUNCTION pgbank.api_create_account(token text, body json) RETURNS json
            LANGUAGE sql SECURITY DEFINER AS
            'INSERT INTO pgbank.writes DEFAULT VALUES RETURNING json_build_object(''wrote'', true)';
        CREATE FUNCTION pgbank.api_list_accounts(token text, page_id text, page_size text) RETURNS json
            LANGUAGE sql STABLE SECURITY DEFINER AS
            'SELECT json_build_object(''writes'', count(*)) FROM pgbank.writes';
        GRANT USAGE ON SCHEMA pgbank TO {WEB_ROLE};""", db=RO_DB)
    shim = Shim(PGBANK_POOL_SIZE=1,
                PGBANK_DB=f"host={RUN} port={PGPORT} dbname={RO_DB} user={WEB_ROLE}")
    try:
        st, _, body = request("GET", "/accounts/1", token="t", port=shim.port)
        check("a read-only route's statement cannot write: 25006 read_only_sql_transaction",
              st == 500 and isinstance(body, dict) and body.get("code") == "25006", f"{st} {body}")
        st, _, body = request("POST", "/accounts", body={}, token="t", port=shim.port)
        check("after it, on the same connection, a write route writes (no transaction left open)",
              st == 200 and body == {"wrote": True}, f"{st} {body}")
        st, _, body = request("GET", "/accounts?page_id=1&page_size=5", token="t", port=shim.port)
        check("a read-only route reads (200), and only the write route wrote",
              st == 200 and body == {"writes": 1}, f"{st} {body}")
    finally:
        check("the shim exits 0 on SIGTERM (read-only shim)", shim.stop() == 0, "")
        psql(f"DROP DATABASE IF EXISTS {RO_DB}")


# ----- the fuzzer -----

QUERIES = {"/accounts": ["page_id", "page_size"], "/v1/verify_email": ["email_id", "secret_code"],
           "/v1/games/{game}/results": ["page_id", "page_size", "from", "to"]}
NASTY = [b"", b"0", b"-1", b"1.5", b"99999999999999999999", b"abc", b"%ff", b"%c3%28", b"%ed%a0%80",
         b"%00", b"%2F", b"..", b"%e2%82%ac", b"\xff", b"x" * 300, b"apex", b"2024-02-30", b"1e400",
         b"' OR 1=1 --", b"%0d%0a", b"null", b"true"]
HEADER_VALUES = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"x" * 2000, b"", b"%00", b"\xe2\x82",
                 b"key-1", b"\xf4\x90\x80\x80", b"\t", "\u00e9".encode()]
JSON_VALUES = [0, -1, 1.5, 10 ** 30, 1e308, "", "x" * 3000, "\u0000", "\ud800", None, True, [], {},
               [[[[[]]]]], "2024-01-01", "USD", "\u00e9\u4e2d", -10 ** 19]


class Fuzzer:
    """Random and mutated requests over every route the shim lists."""

    def __init__(self, port, player, rng):
        self.port, self.player, self.rng = port, player, rng
        self.routes = [line.split("\t")[:4] for line in
                       subprocess.check_output([BIN, "--routes"], text=True).splitlines()]
        self.seeds = {
            "/users": user_body(f"fz_{TAG}"), "/users/login": {"username": player.name, "password": "x"},
            "/tokens/renew_access": {"refresh_token": player.refresh},
            "/accounts": {"currency": "EUR"}, "/v1/logout": {"refresh_token": "x"},
            "/transfers": {"from_account_id": player.account, "to_account_id": player.account,
                           "amount": 1, "currency": "USD"},
            "/v1/create_user": user_body(f"fz2_{TAG}"),
            "/v1/login_user": {"username": player.name, "password": "x"},
            "/v1/update_user": {"username": player.name, "full_name": "Fuzzed"},
            "/v1/games/{game}/results": APEX, "/v1/games/{game}/results/{id}": {"kills": 3},
        }

    def value(self):
        r = self.rng
        if r.random() < 0.5:
            return r.choice(NASTY)
        return bytes(r.randrange(256) for _ in range(r.randrange(1, 6))).replace(b"/", b"%2F") \
            .replace(b"?", b"%3F").replace(b"#", b"%23").replace(b" ", b"%20").replace(b"\r", b"") \
            .replace(b"\n", b"")

    def target(self, pattern):
        r = self.rng
        parts = []
        for seg in pattern.split("/")[1:]:
            if seg == "{game}":
                parts.append(r.choice([b"apex", b"fortnite", b"hots", self.value()]))
            elif seg.startswith("{"):
                parts.append(r.choice([b"1", str(self.player.account).encode(), self.value()]))
            else:
                parts.append(seg.encode())
        t = b"/" + b"/".join(parts)
        names = QUERIES.get(pattern, [])
        if names or r.random() < 0.1:
            q = [n.encode() + b"=" + r.choice([b"1", b"5", b"2024-01-01", self.value()])
                 for n in names if r.random() < 0.7]
            if r.random() < 0.2:
                q.append(self.value() + b"=" + self.value())
            t += b"?" + b"&".join(q)
        return t

    def body(self, pattern):
        r = self.rng
        doc = json.loads(json.dumps(self.seeds.get(pattern, {})))
        for _ in range(r.randrange(0, 3)):
            key = r.choice(list(doc) + ["extra", "\u0000", "x" * 100]) if isinstance(doc, dict) else None
            if isinstance(doc, dict):
                doc[key] = r.choice(JSON_VALUES)
        text = json.dumps(doc, ensure_ascii=r.random() < 0.5).encode("utf-8", "surrogatepass")
        roll = r.random()
        if roll < 0.25 and text:        # flip, insert or delete bytes
            b = bytearray(text)
            for _ in range(r.randrange(1, 4)):
                i = r.randrange(len(b))
                op = r.randrange(3)
                if op == 0:
                    b[i] = r.randrange(256)
                elif op == 1:
                    b.insert(i, r.randrange(256))
                elif len(b) > 1:
                    del b[i]
            text = bytes(b)
        elif roll < 0.3:
            depth = r.choice([63, 64, 65, 200, 1900, 20000])   # 20000: past the server's stack
            text = b"[" * depth + b"]" * depth
        elif roll < 0.35:
            text = text[:r.randrange(len(text) + 1)]
        elif roll < 0.4:
            text = b""
        return text

    def headers(self, auth):
        r = self.rng
        h = {"Content-Type": "application/json"}
        roll = r.random()
        if auth and roll < 0.6:
            h["Authorization"] = "Bearer " + self.player.tok
        elif roll < 0.75:
            tok = bytearray(self.player.tok.encode())
            tok[r.randrange(len(tok))] = r.randrange(256)
            h["Authorization"] = b"Bearer " + bytes(tok).replace(b"\r", b"").replace(b"\n", b"")
        elif roll < 0.85:
            h["Authorization"] = r.choice([b"Bearer ", b"Basic x", b"Bearer a b", self.value()])
        for name in ("Idempotency-Key", "User-Agent", "X-Request-Id"):
            if r.random() < 0.3:
                h[name] = r.choice(HEADER_VALUES + [self.value()])
        return h

    def one(self):
        r = self.rng
        method, pattern, auth, flags = r.choice(self.routes)
        if "hashing" in flags and r.random() < 0.8:
            method, pattern, auth, flags = r.choice(self.routes)    # fewer Argon2id runs
        if r.random() < 0.05:
            method = r.choice(["PUT", "OPTIONS", "FOO", "DELETE", "HEAD"])
        body = self.body(pattern) if method in ("POST", "PATCH") or r.random() < 0.05 else b""
        return http_request(method, self.target(pattern), self.headers(auth == "bearer"), body)


def fuzz_worker(fuzzer, count, bad, lock):
    sock = None
    for _ in range(count):
        data = fuzzer.one()
        for attempt in range(2):
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", fuzzer.port), timeout=10)
                sock.sendall(data)
                status, close = read_answer(sock, data.startswith(b"HEAD "))
                break
            except (OSError, ValueError) as e:
                if sock:
                    sock.close()
                sock = None
                status, close = f"no answer: {e}", True
        if not isinstance(status, int) or (status >= 500 and status != 503):
            with lock:
                bad.append((status, data[:300]))
        if close and sock:
            sock.close()
            sock = None
    if sock:
        sock.close()


def read_answer(sock, head_request):
    """(status, whether the server closes) of one answer on a keep-alive
    connection (an answer to HEAD has no body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("closed before an answer")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    n = int(m.group(1)) if m and not head_request else 0
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, re.search(rb"\r\nconnection: *close", head, re.I) is not None


def test_fuzz(port, player):
    seed = int(os.environ.get("PGBANK_FUZZ_SEED") or random.randrange(1 << 30))
    count = int(os.environ.get("PGBANK_FUZZ_REQUESTS") or 4000)
    threads = 4
    bad = []
    lock = threading.Lock()
    start = time.time()
    workers = [threading.Thread(target=fuzz_worker,
                                args=(Fuzzer(port, player, random.Random(seed + i)), count // threads, bad, lock))
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(600)
    took = time.time() - start
    check(f"fuzz: {count} random and mutated requests over every route (seed {seed}, {took:.0f} s): "
          f"none answered with a 5xx but 503, none unanswered",
          not bad, f"{len(bad)} bad, first: {bad[:5]}")


def test_asan():
    """The AddressSanitizer build under hang-ups and the fuzzer: no memory
    error, and LeakSanitizer finds nothing unfreed at exit."""
    shim = Shim(binary=ASAN_BIN, PGBANK_BODY_LIMIT=65536, PGBANK_HASH_WORKERS=4,
                ASAN_OPTIONS="detect_leaks=1:exitcode=23")
    helpers.SHIM = shim
    player = Player("fuzzer")
    store_results(player, 300)
    hang_up_burst(shim.port, player, 300, 50)
    check("ASan build: nothing left with the pool after the hang-ups",
          drained(shim.port) == (1, 0, 0), "")
    test_framing(shim.port)
    test_client_text(shim.port, player)
    test_fuzz(shim.port, player)
    hang_up_burst(shim.port, player, 300, 50)
    drained(shim.port)
    rc = shim.stop(timeout=60)
    reports = [line for line in shim.log_lines() if "Sanitizer" in line or "SUMMARY" in line]
    check("ASan build: exits 0 after SIGTERM with no AddressSanitizer or LeakSanitizer report",
          rc == 0 and not reports, f"exit {rc}: {reports[:10]}")


def main():
    try:
        test_hang_up_memory()
        test_request_deadline()
        test_hashing_bound()
        test_read_only()
        test_asan()
    finally:
        # the fuzzer's failed logins throttle this address; the other
        # files sign in from it too
        psql("SELECT pgbank.login_throttle_clear_address('127.0.0.1')")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
