#!/usr/bin/env python3
"""Overload: the statement queue is bounded (PGBANK_QUEUE_LIMIT) and so is
a request's wait in it (PGBANK_QUEUE_WAIT); past either the request is
answered 503 with Retry-After at once, not left waiting for a worker that
is stuck on a lock. And a crowd of idle and slow connections (5,000 with
the default settings) does not stop a fresh client being served: the
latency of a fresh client with and without the crowd is printed.
"""
import resource
import socket
import statistics
import sys
import time

from helpers import *  # noqa: F401,F403


def timed(method, path, port, **kw):
    start = time.time()
    got = request(method, path, port=port, **kw)
    return got, time.time() - start


def test_queue_bounds():
    """Two workers, both stuck behind a held username; a queue of three
    that may wait 1.5 s. The three queued requests are answered 503 after
    about 1.5 s (not after the lock's 6 s), the fourth at once."""
    shim = Shim(PGBANK_POOL_SIZE=2, PGBANK_HASH_WORKERS=2, PGBANK_QUEUE_LIMIT=3,
                PGBANK_QUEUE_WAIT=1500)
    name = f"over_{TAG}"
    holder = hold_username(name, 6)
    stuck = [Pending("POST", "/users", body=user_body(name), port=shim.port) for _ in range(2)]
    wait_for_lock_waiters(2)
    queued_at = time.time()
    queued = [Pending("GET", "/readyz", port=shim.port) for _ in range(3)]
    time.sleep(0.3)
    (st, h, body), took = timed("GET", "/readyz", shim.port)
    check("past PGBANK_QUEUE_LIMIT a request is answered 503 at once, with Retry-After and a JSON error",
          st == 503 and took < 0.5 and int(h.get("retry-after", "0")) >= 1 and
          isinstance(body, dict) and body.get("code") == "53000" and "overloaded" in body.get("error", ""),
          f"{st} {h} {body} after {took:.2f}s")
    results = [p.wait(10) for p in queued]
    waited = time.time() - queued_at
    check("past PGBANK_QUEUE_WAIT a queued request is answered 503 with Retry-After, not left waiting",
          all(r[0] == 503 and int(r[1].get("retry-after", "0")) >= 1 and r[2].get("code") == "53000"
              for r in results) and waited < 3.5 and all(p.waiting() for p in stuck),
          f"{[(r[0], r[2]) for r in results]} after {waited:.1f}s; stuck still waiting "
          f"{[p.waiting() for p in stuck]}")
    full = metric(shim.port, 'pgbank_pool_rejected_total{reason="queue_full"}')
    wait = metric(shim.port, 'pgbank_pool_rejected_total{reason="queue_wait"}')
    check("/metrics counts the rejections by reason", full == 1 and wait == 3, f"full {full} wait {wait}")
    holder.wait(30)
    got = [p.wait(30)[0] for p in stuck]
    check("the requests that held the workers finish once the lock is gone", sorted(got) == [200, 403],
          f"{got}")
    st, _, _ = request("GET", "/readyz", port=shim.port)
    check("then the shim serves again (200)", st == 200, f"{st}")
    queued = metric(shim.port, "pgbank_pool_queued")
    check("and nothing is left queued", queued == 0, f"{queued}")
    check("the shim exits 0 on SIGTERM (bounded queue)", shim.stop() == 0, "")


def fresh_latencies(port, path, n):
    out = []
    for _ in range(n):
        (st, _, _), took = timed("GET", path, port)
        if st != 200:
            return out, st
        out.append(took)
    return out, 200


def summary(lat):
    lat = sorted(lat)
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


def test_idle_crowd(crowd=5000, slow=500):
    """A fresh client's GET /readyz, 200 times alone, then with `crowd`
    connections open that send nothing and `slow` that have sent half a
    request line and trickle the rest: with the default settings every
    fresh request is answered 200. Latencies are printed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = crowd + slow + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    shim = Shim()
    base, st0 = fresh_latencies(shim.port, "/readyz", 200)
    socks = []
    slow_socks = []
    opened_at = time.time()
    refused = None
    loaded, st1, open_s, alive = [], None, 0, 0
    try:
        for _ in range(crowd):
            socks.append(socket.create_connection(("127.0.0.1", shim.port), timeout=5))
        for _ in range(slow):
            s = socket.create_connection(("127.0.0.1", shim.port), timeout=5)
            s.sendall(b"GET /readyz HT")
            slow_socks.append(s)
        open_s = time.time() - opened_at
        time.sleep(0.5)
        for s in slow_socks:
            s.sendall(b"T")
        loaded, st1 = fresh_latencies(shim.port, "/readyz", 200)
        for s in slow_socks:
            s.sendall(b"P")
        # the crowd is still there: the shim kept it (nothing was refused)
        alive = 0
        for s in socks[:200]:
            s.setblocking(False)
            try:
                alive += 1 if s.recv(1) != b"" else 0
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
    except OSError as e:
        refused = f"connection {len(socks) + len(slow_socks) + 1} of the crowd: {e}"
    finally:
        for s in socks:
            s.close()
        for s in slow_socks:
            s.close()
    ok = refused is None and st0 == 200 and st1 == 200 and len(base) == 200 and len(loaded) == 200
    detail = refused or f"alone {st0} ({len(base)}), crowd {st1} ({len(loaded)})"
    if ok:
        b50, b99 = summary(base)
        l50, l99 = summary(loaded)
        detail = (f"fresh client GET /readyz alone p50 {b50:.2f} ms p99 {b99:.2f} ms; with {crowd} idle "
                  f"+ {slow} slow connections (opened in {open_s:.1f}s) p50 {l50:.2f} ms p99 {l99:.2f} ms; "
                  f"ratio p50 {l50 / b50:.2f} p99 {l99 / b99:.2f}")
        print("measured: " + detail)
    check(f"{crowd} idle and {slow} slow connections do not stop a fresh client being served",
          ok and alive == 200, detail + f"; idle connections still open {alive}/200")
    check("the shim exits 0 on SIGTERM (idle crowd)", shim.stop() == 0, "")


def main():
    test_queue_bounds()
    test_idle_crowd()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
