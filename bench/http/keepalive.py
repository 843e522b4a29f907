#!/usr/bin/env python3
"""Open N keep-alive HTTP connections to the shim, send one GET /healthz on
each (so every connection has been served), and report the shim's VmRSS
from /proc/PID/status while they are all open. Usage: keepalive.py PORT PID N"""
import resource
import socket
import sys


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))
    before = rss_kb(pid)
    socks = []
    req = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n"
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        socks.append(s)
    served = 0
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        served += data.startswith(b"HTTP/1.1 200")
    during = rss_kb(pid)
    print(f"keep-alive connections open: {len(socks)} (served {served})")
    print(f"shim VmRSS: {before} kB before, {during} kB with {len(socks)} open connections "
          f"({(during - before) / max(len(socks), 1):.1f} kB each)")
    for s in socks:
        s.close()
    return 0 if served == n else 1


if __name__ == "__main__":
    sys.exit(main())
