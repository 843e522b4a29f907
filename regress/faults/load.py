"""What the fault suites (regress/faults/*.py, run by regress/t/70-faults.sh)
share: a ring of accounts with money in them, a transfer load over HTTP
with an idempotency key on every transfer, and the checks after a fault.

Load: CLIENTS threads, each paying the next account of the ring small
amounts on its own keep-alive connection, each transfer with a key of its
own. Every attempt ends one of three ways: answered 200 (the transfer's
id is kept), unanswered (connection refused or broken, or 503: it may or
may not have happened), or wrong (any other status, or a 503 without
Retry-After); a fault may cause the first two, never the third.

After the fault (verify): the unanswered transfers are sent again with
their keys until each is answered 200; then every key has exactly one
transfer, with its amount, those answered 200 the very transfer that
answer named; each account's balance is its opening plus what the load
paid in less what it paid out, as the client counted it (so money moved
exactly once per key); the ring's total is unchanged; and
pgbank.check_ledger() finds nothing (no transfer half-written).
"""
import atexit
import http.client
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
import helpers  # noqa: E402
from helpers import check, psql, request, user_body, TAG  # noqa: E402

CLIENTS = int(os.environ.get("FAULTS_CLIENTS", "8"))
OPENING = 1_000_000
_shims = []


def start_shim(**env):
    """helpers.Shim, killed at exit if a failed case left it running."""
    shim = helpers.Shim(**env)
    _shims.append(shim)
    return shim


@atexit.register
def _kill_shims():
    for shim in _shims:
        if shim.proc.poll() is None:
            shim.proc.kill()


class Ring:
    """CLIENTS depositors with a USD account each, opened by a banker's deposit."""

    def __init__(self, port, name, sql=psql):
        self.name = name
        self.users, self.tokens, self.accounts = [], [], []
        for i in range(CLIENTS):
            u = f"{name}{i}_{TAG}"
            request("POST", "/users", body=user_body(u), port=port)
            st, _, body = request("POST", "/users/login", body={"username": u, "password": "secret1"},
                                  port=port)
            tok = body.get("access_token")
            st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=tok, port=port)
            self.users.append(u)
            self.tokens.append(tok)
            self.accounts.append(acc["id"])
        banker = f"{name}bk_{TAG}"
        request("POST", "/users", body=user_body(banker), port=port)
        sql(f"INSERT INTO pgbank.user_roles (username, role) VALUES ('{banker}', 'banker')")
        st, _, body = request("POST", "/users/login", body={"username": banker, "password": "secret1"},
                              port=port)
        btok = body.get("access_token")
        for a in self.accounts:
            st, _, body = request("POST", "/deposits", body={"account_id": a, "amount": OPENING,
                                                             "reference": "opening"}, token=btok, port=port)
            if st != 200:
                raise RuntimeError(f"deposit failed: {st} {body}")


class Attempt:
    __slots__ = ("client", "key", "amount", "status", "transfer_id", "retry_after")

    def __init__(self, client, key, amount):
        self.client, self.key, self.amount = client, key, amount
        self.status, self.transfer_id, self.retry_after = None, None, None


class Load:
    """The transfer load; target() gives the port to send to (a restarted
    shim may listen elsewhere)."""

    def __init__(self, ring, target):
        self.ring, self.target = ring, target
        self.attempts = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(CLIENTS)]
        self.timeline = []      # (time, status) of every attempt, in order of answer

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)

    def send(self, conn, att):
        """One attempt on conn (a keep-alive connection, or None): the
        connection to use next."""
        ring = self.ring
        frm = ring.accounts[att.client]
        to = ring.accounts[(att.client + 1) % CLIENTS]
        body = json.dumps({"from_account_id": frm, "to_account_id": to, "amount": att.amount,
                           "currency": "USD"})
        headers = {"Authorization": f"Bearer {ring.tokens[att.client]}", "Content-Type": "application/json",
                   "Idempotency-Key": att.key}
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.target(), timeout=20)
            conn.request("POST", "/transfers", body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read()
            att.status = resp.status
            att.retry_after = resp.getheader("Retry-After")
            if resp.status == 200:
                att.transfer_id = json.loads(text)["transfer"]["id"]
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ValueError):
            att.status = "unanswered"
            if conn is not None:
                conn.close()
            conn = None
        with self.lock:
            self.timeline.append((time.time(), att.status))
        return conn

    def client(self, i):
        rnd = random.Random(i)
        conn = None
        n = 0
        while not self.stopping.is_set():
            att = Attempt(i, f"{self.ring.name}-{TAG}-{i}-{n}", rnd.randint(1, 100))
            n += 1
            with self.lock:
                self.attempts.append(att)
            conn = self.send(conn, att)
            if att.status != 200:
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    def counts(self):
        out = {}
        for a in self.attempts:
            out[a.status] = out.get(a.status, 0) + 1
        return out

    def first_ok_after(self, t):
        """Seconds from t to the first 200 answered after it."""
        with self.lock:
            for when, st in self.timeline:
                if when >= t and st == 200:
                    return when - t
        return None


def check_statuses(load, what):
    """During the fault: 200, or unanswered, or 503 with Retry-After."""
    wrong = [(a.status, a.retry_after) for a in load.attempts
             if not (a.status in (200, "unanswered") or (a.status == 503 and a.retry_after))]
    c = load.counts()
    print(f"measured: {what}: attempts {len(load.attempts)}: {c}")
    check(f"{what}: every transfer answered 200, or 503 with Retry-After, or not at all (never 500)",
          not wrong and c.get(200, 0) > 0, f"{wrong[:10]} of {c}")


def verify(load, what, psql=psql):
    """Retry the unanswered with their keys, then check every key and the money."""
    ring = load.ring
    retry = [a for a in load.attempts if a.status != 200]
    before = {a.key: a.status for a in retry}
    retried_at = psql("SELECT clock_timestamp()")
    deadline = time.time() + 20
    while retry and time.time() < deadline:
        conn = None
        for a in retry:
            conn = load.send(conn, a)
        if conn is not None:
            conn.close()
        retry = [a for a in retry if a.status != 200]
        if retry:
            time.sleep(0.5)
    check(f"{what}: each unanswered transfer, retried with its key, is answered 200",
          not retry, f"{len(retry)} still not: {[(a.key, a.status) for a in retry[:5]]}")
    ids = ",".join(str(a) for a in ring.accounts)
    rows = psql(f"SELECT idempotency_key, id, amount, from_account_id, "
                f"(created_at < '{retried_at}')::int FROM pgbank.transfers "
                f"WHERE from_account_id IN ({ids}) AND idempotency_key IS NOT NULL")
    db = {}
    dup = []
    earlier = set()     # keys whose transfer was there before the retries
    for line in rows.splitlines():
        key, tid, amount, frm, old = line.split("|")
        if key in db:
            dup.append(key)
        db[key] = (int(tid), int(amount), int(frm))
        if old == "1":
            earlier.add(key)
    attempts = {a.key: a for a in load.attempts}
    missing = [k for k, a in attempts.items() if a.status == 200 and k not in db]
    wrong = [k for k, a in attempts.items() if k in db and
             (db[k][0] != a.transfer_id or db[k][1] != a.amount or db[k][2] != ring.accounts[a.client])]
    extra = [k for k in db if k not in attempts]
    check(f"{what}: every transfer answered 200 exists exactly once, as answered (none lost, none doubled)",
          not missing and not wrong and not dup and not extra and len(db) == len(attempts),
          f"missing {missing[:5]} wrong {wrong[:5]} duplicated {dup[:5]} unknown {extra[:5]}; "
          f"{len(db)} rows for {len(attempts)} keys")
    expected = [OPENING] * CLIENTS
    for a in load.attempts:
        expected[a.client] -= a.amount
        expected[(a.client + 1) % CLIENTS] += a.amount
    got = [int(b) for b in psql(f"SELECT balance FROM pgbank.accounts WHERE id IN ({ids}) "
                                f"ORDER BY array_position(ARRAY[{ids}]::bigint[], id)").split()]
    check(f"{what}: each balance moved exactly once per key (as the client counted), the total is conserved",
          got == expected and sum(got) == OPENING * CLIENTS, f"got {got} want {expected}")
    problems = psql("SELECT problem || ' ' || coalesce(id::text, '') || ' ' || coalesce(detail, '') "
                    "FROM pgbank.check_ledger()")
    check(f"{what}: pgbank.check_ledger() finds nothing (no transfer half-written)", problems == "", problems)
    done = sum(1 for k in before if k in earlier)
    print(f"measured: {what}: {len(attempts)} transfers, {len(before)} unanswered at first and retried "
          f"with their keys: {done} had happened (the retry answered it), {len(before) - done} had not "
          f"(the retry made it)")
