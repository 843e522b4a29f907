#!/usr/bin/env python3
"""Crashes under transfer load (load.py): kill -9 of the postmaster (its
backends finish what they run, then exit), and of the postmaster and
every server process at once (statements die mid-transaction, commits
are lost on their way to the client); the cluster restarted by pg_ctl
(crash recovery), the same shim serving throughout. Then kill -9 of the
shim, another started in its place.
After each, the checks of load.verify: every transfer answered 200 exists
exactly once, none is half-written, money is conserved, and the
unanswered ones, retried with their keys, move money exactly once.
"""
import os
import signal
import subprocess
import sys
import time

from load import Load, Ring, check_statuses, verify, helpers, check, start_shim
from helpers import pg_ctl, finish


def postmaster_pid():
    with open(os.path.join(helpers.RUN, "pgdata", "postmaster.pid")) as f:
        return int(f.readline())


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def exists(pid):
    """A zombie counts: the new postmaster's lock file check (kill(pid, 0))
    would take it for the old postmaster still running."""
    return os.path.exists(f"/proc/{pid}")


def wait_for_ok(load, since, timeout=15):
    """Let the load run until a transfer is answered 200 after since, then 1 s more."""
    deadline = time.time() + timeout
    while load.first_ok_after(since) is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1)


def test_postmaster_kill(everything=False):
    """kill -9 of the postmaster; everything: of all the server's processes
    at once too (a power cut: statements die mid-transaction, commits are
    lost on the way to their client)."""
    what = "kill -9 of every server process" if everything else "postmaster kill -9"
    shim = start_shim(PGBANK_POOL_SIZE=8)
    ring = Ring(shim.port, "pa" if everything else "pm")
    load = Load(ring, lambda: shim.port)
    load.start()
    time.sleep(2)
    pm = postmaster_pid()
    kids = children(pm)
    os.kill(pm, signal.SIGKILL)
    for p in kids if everything else []:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed = time.time()
    # the server's processes exit when they notice the postmaster is gone
    deadline = time.time() + 30
    while any(exists(p) for p in kids + [pm]) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1)       # down a while, under load
    down_503 = sum(1 for a in load.attempts if a.status == 503)
    pg_ctl("start")     # crash recovery
    up = time.time()
    wait_for_ok(load, up)
    load.stop()
    back = load.first_ok_after(up)
    print(f"measured: {what}: down {up - killed:.1f}s (503s meanwhile: {down_503}); "
          f"first transfer answered 200 {back if back is None else round(back, 2)}s after pg_ctl start returned")
    check(f"{what}: the shim answered 503 while the cluster was down", down_503 > 0, f"{load.counts()}")
    check_statuses(load, what)
    check(f"{what}: the same shim serves transfers again within seconds, without a restart",
          back is not None and back < 5 and shim.proc.poll() is None,
          f"first 200 {back}s after the restart")
    verify(load, what)
    check(f"the shim exits 0 on SIGTERM ({what})", shim.stop() == 0, "")


def test_shim_kill():
    shim = start_shim(PGBANK_POOL_SIZE=8)
    port = [shim.port]
    ring = Ring(shim.port, "sk")
    load = Load(ring, lambda: port[0])
    load.start()
    time.sleep(2)
    shim.proc.kill()
    shim.proc.wait()
    time.sleep(0.5)
    again = start_shim(PGBANK_POOL_SIZE=8)
    port[0] = again.port
    up = time.time()
    wait_for_ok(load, up)
    load.stop()
    back = load.first_ok_after(up)
    print(f"measured: shim kill -9: first transfer answered 200 "
          f"{back if back is None else round(back, 2)}s after the new shim listened")
    check_statuses(load, "shim kill -9")
    verify(load, "shim kill -9")
    check("the shim exits 0 on SIGTERM (the one started after the kill)", again.stop() == 0, "")


def ensure_running():
    """Whatever failed, leave the local cluster running for the next suites."""
    st = subprocess.run(helpers.as_pg([os.path.join(helpers.BINDIR, "pg_ctl"), "-D",
                                       os.path.join(helpers.RUN, "pgdata"), "status"]),
                        capture_output=True)
    if st.returncode != 0:
        pg_ctl("start")


def main():
    try:
        test_postmaster_kill()
        test_postmaster_kill(everything=True)
        test_shim_kill()
    finally:
        ensure_running()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
