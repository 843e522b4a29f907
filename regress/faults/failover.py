#!/usr/bin/env python3
"""Failover under transfer load (load.py). Two clusters of their own on
PGBANK_PGPORT+10 (primary) and +11 (standby), data under .run/: the
primary a pg_basebackup of the local cluster (its database, roles,
extension, keys file and settings), the standby a pg_basebackup -R of the
primary, streaming, and synchronous (synchronous_standby_names = '*' on
the primary: an acknowledged commit is flushed on both).

The shim gets one multi-host connection string with
target_session_attrs=read-write. The primary is stopped (-m immediate)
under load and the standby promoted: writes recover without a shim
restart (the seconds are printed), 503 with Retry-After meanwhile (never
500), no acknowledged transfer is lost and the unanswered ones retried
with their keys move money exactly once; on the new primary pg_cron runs
the outbox job. Both clusters are stopped at the end, whatever happens.
"""
import atexit
import os
import shutil
import socket
import subprocess
import sys
import time

from load import Load, Ring, check_statuses, verify, helpers, check, start_shim
from helpers import finish, as_pg, BINDIR, RUN, DBNAME, WEB_ROLE

PGPORT = int(helpers.PGPORT)
PRIMARY = {"port": PGPORT + 10, "dir": os.path.join(RUN, "fo-primary")}
STANDBY = {"port": PGPORT + 11, "dir": os.path.join(RUN, "fo-standby")}


def sql_at(node, db=DBNAME):
    def run(sql, check_error=True):
        out = subprocess.run([os.path.join(BINDIR, "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
                              "-h", RUN, "-p", str(node["port"]), "-U", "postgres", "-d", db, "-c", sql],
                             capture_output=True, text=True)
        if check_error and out.returncode != 0:
            raise RuntimeError(f"psql on port {node['port']} failed: {out.stderr}")
        return out.stdout.strip()
    return run


def pg(*args):
    return subprocess.run(as_pg([os.path.join(BINDIR, args[0])] + list(args[1:])),
                          capture_output=True, text=True, check=True)


def ctl(node, *args):
    return pg("pg_ctl", "-D", node["dir"], "-w", *args)


def stop_all():
    for node in (PRIMARY, STANDBY):
        if os.path.exists(os.path.join(node["dir"], "postmaster.pid")):
            subprocess.run(as_pg([os.path.join(BINDIR, "pg_ctl"), "-D", node["dir"], "-w",
                                  "-m", "immediate", "stop"]), capture_output=True)


def local_conf(node, extra=""):
    """pgbank_local.conf: included last by the postgresql.conf that
    scripts/setup.sh wrote, so it overrides the copied port."""
    with open(os.path.join(node["dir"], "pgbank_local.conf"), "w") as f:
        f.write(f"port = {node['port']}\n{extra}")
    shutil.chown(os.path.join(node["dir"], "pgbank_local.conf"), helpers.OSUSER)


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def set_up():
    busy = [n["port"] for n in (PRIMARY, STANDBY) if not port_free(n["port"])]
    if busy:
        raise SystemExit(f"FAIL: port {busy} is taken (PGBANK_PGPORT+10 and +11 are this suite's)")
    for node in (PRIMARY, STANDBY):
        shutil.rmtree(node["dir"], ignore_errors=True)
    atexit.register(stop_all)
    start = time.time()
    pg("pg_basebackup", "-h", RUN, "-p", helpers.PGPORT, "-U", "postgres", "-D", PRIMARY["dir"],
       "-X", "stream", "-c", "fast")
    local_conf(PRIMARY, "synchronous_standby_names = '*'\n")
    ctl(PRIMARY, "-l", PRIMARY["dir"] + ".log", "start")
    pg("pg_basebackup", "-h", RUN, "-p", str(PRIMARY["port"]), "-U", "postgres", "-D", STANDBY["dir"],
       "-X", "stream", "-c", "fast", "-R")
    # the copy of the primary's pgbank_local.conf: this one's own port, and
    # no synchronous standby of its own (after promotion it has none)
    local_conf(STANDBY)
    ctl(STANDBY, "-l", STANDBY["dir"] + ".log", "start")
    p, s = sql_at(PRIMARY), sql_at(STANDBY)
    state = ""
    for _ in range(100):
        state = p("SELECT sync_state FROM pg_stat_replication")
        if state == "sync":
            break
        time.sleep(0.1)
    print(f"measured: primary and standby set up in {time.time() - start:.1f}s")
    check("the standby streams from the primary, synchronously", state == "sync" and
          s("SELECT pg_is_in_recovery()") == "t", f"sync_state {state!r}")
    same = [p(f"SHOW {g}") == s(f"SHOW {g}") != "" for g in
            ("shared_preload_libraries", "pgbank.token_key", "cron.database_name")]
    check("the standby has the preloaded libraries, the token key and pg_cron's database of the primary",
          all(same) and "pgbank" in s("SHOW shared_preload_libraries"), f"{same}")
    return p, s


def multi_host(*nodes):
    return (f"host={','.join(RUN for _ in nodes)} port={','.join(str(n['port']) for n in nodes)} "
            f"dbname={DBNAME} user={WEB_ROLE} target_session_attrs=read-write")


def single(node):
    return f"host={RUN} port={node['port']} dbname={DBNAME} user={WEB_ROLE}"


def test_read_pool(p, s):
    """PGBANK_DB_READ on the standby, with its replay paused: a transfer
    commits on the primary (the standby has flushed it, not applied it);
    GET /accounts/{id} is answered from the standby (the balance before
    the transfer), GET /transfers/{id} and transfer_by_key (ROUTE_PRIMARY:
    read-your-writes) from the primary; replay resumed, the standby's
    answer catches up."""
    shim = start_shim(PGBANK_POOL_SIZE=2, PGBANK_DB=single(PRIMARY), PGBANK_DB_READ=single(STANDBY),
                PGBANK_READ_POOL_SIZE=2)
    ring = Ring(shim.port, "rp", sql=p)
    a0, a1, tok = ring.accounts[0], ring.accounts[1], ring.tokens[0]
    for _ in range(100):
        if s(f"SELECT count(*) FROM pgbank.accounts WHERE id = {a0} AND balance > 0") == "1":
            break
        time.sleep(0.05)
    s("SELECT pg_wal_replay_pause()")
    try:
        key = f"rp-{helpers.TAG}"
        st, _, body = helpers.request("POST", "/transfers", token=tok, port=shim.port,
                                      headers={"Idempotency-Key": key},
                                      body={"from_account_id": a0, "to_account_id": a1, "amount": 7,
                                            "currency": "USD"})
        tid = body.get("transfer", {}).get("id") if st == 200 else None
        check("read pool: a transfer commits on the primary while the standby's replay is paused",
              st == 200 and body["from_account"]["balance"] == 1_000_000 - 7, f"{st} {body}")
        st, _, acc = helpers.request("GET", f"/accounts/{a0}", token=tok, port=shim.port)
        check("read pool: GET /accounts/{id} is answered by the standby (the balance before the transfer)",
              st == 200 and acc.get("balance") == 1_000_000, f"{st} {acc}")
        st1, _, t = helpers.request("GET", f"/transfers/{tid}", token=tok, port=shim.port)
        st2, _, k = helpers.request("GET", f"/accounts/{a0}/transfer_by_key?idempotency_key={key}",
                                    token=tok, port=shim.port)
        check("read pool: GET /transfers/{id} and transfer_by_key stay on the primary (read-your-writes)",
              st1 == 200 and t.get("id") == tid and st2 == 200 and
              (k.get("transfer") or k).get("id") == tid, f"{st1} {t}; {st2} {k}")
        st, _, text = helpers.request("GET", "/metrics", port=shim.port)
        line = [x for x in text.splitlines() if x.startswith("pgbank_pool_read_connected ")]
        check("read pool: /metrics shows its connections", line and int(line[0].split()[1]) > 0, f"{line}")
    finally:
        s("SELECT pg_wal_replay_resume()")
    got = None
    for _ in range(100):
        st, _, acc = helpers.request("GET", f"/accounts/{a0}", token=tok, port=shim.port)
        got = acc.get("balance")
        if got == 1_000_000 - 7:
            break
        time.sleep(0.05)
    check("read pool: once replay resumes, the standby's answer has the transfer", got == 1_000_000 - 7,
          f"{got}")
    check("the shim exits 0 on SIGTERM (read pool)", shim.stop() == 0, "")


def test_failover(p, s):
    shim = start_shim(PGBANK_POOL_SIZE=8, PGBANK_DB=multi_host(PRIMARY, STANDBY))
    ring = Ring(shim.port, "fo", sql=p)
    load = Load(ring, lambda: shim.port)
    load.start()
    time.sleep(2)
    stopped = time.time()
    ctl(PRIMARY, "-m", "immediate", "stop")
    time.sleep(1)       # the primary is gone, the standby not promoted yet
    promoting = time.time()
    ctl(STANDBY, "promote")
    promoted = time.time()
    deadline = time.time() + 30
    while load.first_ok_after(promoted) is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(2)
    load.stop()
    after_promote = load.first_ok_after(promoted)
    outage = [a for a in load.attempts if a.status == 503]
    print(f"measured: failover: primary stopped, standby promoted {promoting - stopped:.1f}s later "
          f"(pg_ctl promote took {promoted - promoting:.2f}s); first transfer answered 200 "
          f"{after_promote and round(after_promote, 2)}s after the promotion: writes were down "
          f"{after_promote and round(promoted + after_promote - stopped, 2)}s in all; 503s meanwhile: "
          f"{len(outage)}")
    check("failover: writes recover within seconds of the promotion, with the same shim",
          after_promote is not None and after_promote < 10 and shim.proc.poll() is None,
          f"first 200 {after_promote}s after the promotion")
    check_statuses(load, "failover")
    verify(load, "failover", psql=s)
    check("the shim exits 0 on SIGTERM (failover)", shim.stop() == 0, "")
    return promoted


def test_cron_on_new_primary(s, promoted):
    """pg_cron's launcher waits on a standby; promoted, it runs the jobs
    (the outbox every minute): a run of pgbank-outbox that started after
    the promotion."""
    since = s(f"SELECT to_timestamp({promoted})")
    deadline = time.time() + 75
    runs = "0"
    while time.time() < deadline:
        runs = s(f"SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid) "
                 f"WHERE j.jobname = 'pgbank-outbox' AND d.start_time > '{since}'")
        if runs != "0":
            break
        time.sleep(1)
    waited = time.time() - promoted
    print(f"measured: the outbox job's first run on the new primary {waited:.0f}s after the promotion")
    check("the outbox job runs on the new primary (pg_cron after the promotion)", runs != "0",
          s("SELECT status, start_time FROM cron.job_run_details ORDER BY runid DESC LIMIT 3"))


def main():
    try:
        p, s = set_up()
        test_read_pool(p, s)
        promoted = test_failover(p, s)
        test_cron_on_new_primary(s, promoted)
    finally:
        stop_all()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
