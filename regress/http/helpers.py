"""What the HTTP tests (regress/http/test_*.py) share: settings from the
environment (regress/t/30-http.sh sets them), check() and the summary,
psql and pg_ctl as the superuser, the shim under test (Shim) and requests
to it, and the users most files need (Bank).

Each test file starts its own shims on free loopback ports (18080-18089)
against the local cluster as the API role, prints one "ok"/"FAIL" line per
case and exits non-zero if any case failed (finish()). Superuser work
(roles, expired tokens, locks) goes through psql as postgres.
"""
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

ROOT = os.environ["PGBANK_ROOT"]
RUN = os.environ["PGBANK_RUN"]
PGPORT = os.environ["PGBANK_PGPORT"]
DBNAME = os.environ.get("PGBANK_DBNAME", "pgbank")
WEB_ROLE = os.environ.get("PGBANK_WEB_ROLE", "pgbank_web")
OSUSER = os.environ.get("PGBANK_OSUSER", "postgres")
BINDIR = subprocess.check_output([os.environ.get("PG_CONFIG", "pg_config"), "--bindir"],
                                 text=True).strip()
# The binary under test; PGBANK_SHIM_BIN runs the tests against another build.
BIN = os.environ.get("PGBANK_SHIM_BIN") or os.path.join(ROOT, "shim", "pgbank-http")
ASAN_BIN = os.environ.get("PGBANK_SHIM_ASAN_BIN") or os.path.join(ROOT, "shim", "pgbank-http-asan")
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


def finish():
    """Print the file's summary; the exit status for sys.exit."""
    name = os.path.basename(sys.argv[0])
    print(f"{name}: {len(failures)} failed")
    if failures:
        print("failed: " + "; ".join(failures))
    return 1 if failures else 0


# ----- PostgreSQL -----

def as_pg(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", OSUSER, "--"] + cmd
    return cmd


def psql(sql, check_error=True, db=None):
    # PGBANK_E2E_PSQL: how to reach the database of an already-running
    # server as a superuser (see front).
    external = shlex.split(os.environ.get("PGBANK_E2E_PSQL", ""))
    cmd = external if external and db is None else \
        [os.path.join(BINDIR, "psql"), "-h", RUN, "-p", PGPORT, "-U", "postgres", "-d", db or DBNAME]
    out = subprocess.run(cmd + ["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql],
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
    """A shim on a free port; binary: another build (the ASan one); env:
    settings that differ from the tests' defaults. Its output goes to a log
    of its own under .run/logs, whose end is printed when it exits with
    anything but 0."""

    started = 0

    def __init__(self, binary=None, **env):
        self.port = free_port()
        Shim.started += 1
        self.log_path = os.path.join(RUN, "logs", f"shim-{os.getpid()}-{Shim.started}-{self.port}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        e = dict(os.environ)
        e.update({"PGBANK_DB": f"host={RUN} port={PGPORT} dbname={DBNAME} user={WEB_ROLE}",
                  "PGBANK_LISTEN": f"127.0.0.1:{self.port}", "PGBANK_POOL_SIZE": "4",
                  "PGBANK_BODY_LIMIT": "4096", "PGBANK_GRPC_LISTEN": ""})
        e.update({k: str(v) for k, v in env.items()})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary or BIN], env=e, stdout=self.log, stderr=self.log)
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
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        if rc != 0:
            tail = self.log_lines()[-20:]
            print(f"      shim on port {self.port} exited {rc}; the end of {self.log_path}:")
            for line in tail:
                print(f"      | {line}")
        return rc

    def log_lines(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return [line for line in f.read().splitlines() if line]


class RunningServer:
    """A server someone else started and stops (PGBANK_E2E_URL), on
    loopback, such as the compose stack of regress/t/60-images.sh."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or u.hostname != "127.0.0.1" or not u.port:
            raise SystemExit(f"PGBANK_E2E_URL must be http://127.0.0.1:PORT, not {url}")
        self.port = u.port

    def stop(self, sig=None, timeout=None):
        return None

    def log_lines(self):
        return []


def front():
    """The server a test file's cases talk to: a shim of its own, or, with
    PGBANK_E2E_URL, one already running (test_users, test_accounts,
    test_email and test_games need only its HTTP API, and psql as a
    superuser through PGBANK_E2E_PSQL)."""
    url = os.environ.get("PGBANK_E2E_URL")
    return RunningServer(url) if url else Shim()


def stop_front():
    """Stop the test file's own shim, which must exit 0 on SIGTERM."""
    if isinstance(SHIM, RunningServer):
        return
    rc = SHIM.stop()
    check("the shim exits 0 on SIGTERM", rc == 0, f"exit {rc}")


SHIM = None     # the shim a test file's cases talk to by default


def request_all(method, path, body=None, token=None, headers=None, raw=None, port=None):
    """One request on a new connection: (status, every header as (lower-case
    name, value) pairs, in order, repeated ones too, parsed JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port or SHIM.port, timeout=30)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    hdrs = [(k.lower(), v) for k, v in resp.getheaders()]
    conn.close()
    try:
        return resp.status, hdrs, json.loads(text)
    except ValueError:
        return resp.status, hdrs, text


def request(method, path, body=None, token=None, headers=None, raw=None, port=None):
    """One request on a new connection: (status, headers, parsed JSON or text)."""
    st, hdrs, data = request_all(method, path, body, token, headers, raw, port)
    return st, dict(hdrs), data


def metric(port, series):
    """The value of one series of /metrics (its name, and labels as printed),
    an int when it is whole; None when it is not there."""
    st, _, text = request("GET", "/metrics", port=port)
    for line in text.splitlines() if st == 200 and isinstance(text, str) else []:
        if line.split(" ")[0] == series:
            value = float(line.split()[-1])
            return int(value) if value.is_integer() else value
    return None


def expect(name, got, status, code=None, field=None):
    """Check a status, and for errors the SQLSTATE and the field named."""
    st, _, body = got
    ok = st == status
    if ok and status >= 400:
        ok = isinstance(body, dict) and "error" in body and \
            (code is None or body.get("code") == code) and \
            (field is None or field in (body.get("error") or "") + (body.get("details") or ""))
    return check(name, ok, f"got {st} {body}")


def expect_error(name, got, status, code, field=None):
    """An error answer with this status and SQLSTATE; with a field, the
    details must name exactly it (and a 22023 message must start with it)."""
    st, _, body = got
    ok = st == status and isinstance(body, dict) and body.get("code") == code
    if ok and field is not None:
        ok = body.get("details") == f"Field: {field}." and \
            (code != "22023" or str(body.get("error", "")).startswith(f"invalid {field}: "))
    return check(name, ok, f"got {st} {body}")


def user_body(name):
    return {"username": name, "password": "secret1", "full_name": f"User {name}",
            "email": f"{name}@example.com"}


USER_KEYS = {"username", "full_name", "email", "password_changed_at", "created_at"}
ACCOUNT_KEYS = {"id", "owner", "balance", "currency", "created_at", "available"}
TRANSFER_KEYS = {"id", "from_account_id", "to_account_id", "amount", "created_at", "currency", "reference"}


# ----- users -----

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


def roleless_token(name):
    """A user whose every role was revoked, signed in again: a valid token
    without a role."""
    request("POST", "/users", body=user_body(name))
    psql(f"DELETE FROM pgbank.user_roles WHERE username = '{name}'")
    st, _, body = login(name)
    return body.get("access_token") if st == 200 else None


# ----- requests that wait on a held lock -----

def hold_username(name, seconds):
    """Hold a username with an uncommitted insert for a while: the shim's
    insert of the same key waits for it, then succeeds when it rolls back."""
    holder = subprocess.Popen(
        [os.path.join(BINDIR, "psql"), "-X", "-q", "-h", RUN, "-p", PGPORT, "-U", "postgres", "-d", DBNAME,
         "-c", f"BEGIN; INSERT INTO pgbank.users (username, hashed_password, full_name, email) "
               f"VALUES ('{name}', 'x', 'x', '{name}@hold.example'); SELECT pg_sleep({seconds}); ROLLBACK;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # until its insert is in and it sleeps (a fixed wait raced a slow start)
    until(lambda: holder.poll() is not None or
          psql(f"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
               f"AND query LIKE '%{name}@hold.example%'") != "0")
    return holder


def until(condition, timeout=10, tick=0.02):
    """Poll condition() until it is true (True) or the timeout (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(tick)
    return False


def wait_for_lock_waiters(n=1, timeout=10):
    """Until n backends wait on a lock: the requests have reached PostgreSQL
    and wait behind a holder (a fixed sleep raced them on a loaded machine).
    False if they did not within the timeout; the test's checks then say
    what went wrong."""
    return until(lambda: int(psql("SELECT count(*) FROM pg_stat_activity "
                                  "WHERE wait_event_type = 'Lock'")) >= n, timeout)


class Pending:
    """A request running in its own thread (it may wait on a held lock)."""

    def __init__(self, method, path, body=None, port=None):
        self.result = (None, None, None)

        def run():
            try:
                self.result = request(method, path, body=body, port=port)
            except (OSError, http.client.HTTPException) as e:    # the server went away
                self.result = (None, None, type(e).__name__)
        self.thread = threading.Thread(target=run)
        self.thread.start()

    def waiting(self):
        return self.thread.is_alive()

    def wait(self, timeout=30):
        """(status, headers, body), or Nones if it did not finish."""
        self.thread.join(timeout)
        return self.result
