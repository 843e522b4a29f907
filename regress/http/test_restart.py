#!/usr/bin/env python3
"""PostgreSQL going away and the shim stopping: 503 while the cluster is
down and recovery after it restarts, graceful shutdown during a request
held by a lock, the shutdown deadline (the held statement cancelled and
answered, queued requests refused), a shutdown stuck on a frozen backend
(kept-alive requests answered 200 or 503 throughout, the shim exiting
anyway), PGBANK_STATEMENT_TIMEOUT, and no head-of-line blocking on the
pool.
"""
import http.client
import json
import os
import signal
import socket
import sys
import time

import helpers
from helpers import *  # noqa: F401,F403


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
    wait_for_lock_waiters(1)
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
    wait_for_lock_waiters(1)
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
    wait_for_lock_waiters(1)
    start = time.time()
    rc = shim.stop()
    took = time.time() - start
    st, _, body = slow.wait()
    holder.wait(30)
    check("past PGBANK_SHUTDOWN_TIMEOUT the running statement is cancelled and answered",
          st == 500 and isinstance(body, dict) and body.get("code") == "57014", f"{st} {body}")
    check("the shim exits 0 soon after the shutdown deadline", rc == 0 and took < 4,
          f"exit {rc} after {took:.1f}s")


def test_shutdown_frozen_backend():
    """SIGTERM while a statement's backend is frozen (SIGSTOP: as a server
    that stopped answering, it does not even hear the cancel). Requests
    that keep-alive connections bring during the whole shutdown are
    answered 200 (before the deadline) or 503 57P01 with Retry-After (past
    it: refused by the pool, then turned away before the pool), never a
    500 or a hang, and the shim exits 0 once the grace periods are over,
    leaving the frozen statement behind."""
    shim = Shim(PGBANK_POOL_SIZE=2, PGBANK_SHUTDOWN_TIMEOUT=1)
    name = f"frozen_{TAG}"
    holder = hold_username(name, 10)
    slow = Pending("POST", "/users", body=user_body(name), port=shim.port)
    wait_for_lock_waiters(1)
    pid = int(psql("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND application_name = 'pgbank-http' LIMIT 1"))
    conns = []
    for _ in range(14):
        c = http.client.HTTPConnection("127.0.0.1", shim.port, timeout=10)
        c.request("GET", "/readyz")
        c.getresponse().read()
        conns.append(c)
    answers = []
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.time()
        shim.proc.send_signal(signal.SIGTERM)
        for i, c in enumerate(conns):
            time.sleep(max(0.0, start + 0.4 * (i + 1) - time.time()))
            at = round(time.time() - start, 1)
            try:
                c.request("GET", "/readyz")
                r = c.getresponse()
                body = r.read()
                answers.append((at, r.status, r.getheader("Retry-After"),
                                (json.loads(body) if body else {}).get("code")))
            except (OSError, http.client.HTTPException) as e:
                answers.append((at, type(e).__name__))
            c.close()
        rc = shim.proc.wait(20)
        took = time.time() - start
    finally:
        os.kill(pid, signal.SIGCONT)
    holder.wait(30)
    slow.wait()
    answered = [a for a in answers if len(a) == 4]
    check("during a shutdown stuck on a frozen backend, kept-alive requests get 200, or 503 57P01 "
          "with Retry-After (past the deadline), never anything else",
          all(a[1] == 200 or (a[1] == 503 and a[2] and a[3] == "57P01") for a in answered) and
          any(a[1] == 503 for a in answered), f"{answers}")
    check("... and the shim exits 0 once the grace periods are over, saying what it left behind",
          rc == 0 and took < 10 and any("exiting without them" in line for line in shim.log_lines()),
          f"exit {rc} after {took:.1f}s")


def test_graceful_shutdown():
    shim = Shim(PGBANK_SHUTDOWN_TIMEOUT=20)
    name = f"slow_{TAG}"
    holder = hold_username(name, 3)
    slow = Pending("POST", "/users", body=user_body(name), port=shim.port)
    wait_for_lock_waiters(1)
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


def listening_inode(port):
    """The inode of the socket listening on a loopback port (/proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].split(":")[1], 16) == port:
                return cols[9]
    return None


def test_listen_socket_kept():
    """microhttpd.h: in threaded modes the socket MHD_quiesce_daemon hands
    back must not be closed before MHD_stop_daemon (an MHD thread may still
    use it, and a closed descriptor's number gets reused). During a graceful
    shutdown with a request in flight, new connections are refused, yet the
    listening socket's descriptor is still open."""
    shim = Shim(PGBANK_SHUTDOWN_TIMEOUT=20)
    inode = listening_inode(shim.port)
    name = f"listen_{TAG}"
    holder = hold_username(name, 3)
    slow = Pending("POST", "/users", body=user_body(name), port=shim.port)
    wait_for_lock_waiters(1)
    shim.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    fd_dir = f"/proc/{shim.proc.pid}/fd"
    targets = set()
    for fd in os.listdir(fd_dir):
        try:
            targets.add(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass
    try:
        socket.create_connection(("127.0.0.1", shim.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    check("during shutdown new connections are refused, and the listening socket stays open "
          "until MHD_stop_daemon", inode is not None and f"socket:[{inode}]" in targets and refused and
          slow.waiting(), f"inode {inode}, open {sorted(t for t in targets if t.startswith('socket'))}, "
          f"refused {refused}, request waiting {slow.waiting()}")
    st, _, body = slow.wait()
    holder.wait(30)
    rc = shim.stop()
    check("then the in-flight request completes (200) and the shim exits 0", st == 200 and rc == 0,
          f"{st} {body} exit {rc}")


def main():
    helpers.SHIM = Shim()
    try:
        test_database_restart()
    finally:
        rc = helpers.SHIM.stop()
    check("the shim exits 0 on SIGTERM", rc == 0, f"exit {rc}")
    test_graceful_shutdown()
    test_listen_socket_kept()
    test_shutdown_deadline()
    test_statement_timeout()
    test_no_head_of_line_blocking()
    test_shutdown_refuses_queued()
    test_shutdown_frozen_backend()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
