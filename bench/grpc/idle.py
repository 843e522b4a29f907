#!/usr/bin/python3
"""Open N gRPC connections to the shim (a channel each, with its own
subchannel pool so none is shared), make one grpc.health.v1.Health/Check
call on each (so every connection has been served), and report the shim's
VmRSS from /proc/PID/status before and while they are all open and idle.
The request and response are encoded by hand (an empty HealthCheckRequest;
status 1 is SERVING). Usage: idle.py PORT PID N"""
import resource
import sys
import time

import grpc


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * n + 64)), hard))
    before = rss_kb(pid)
    channels = []
    serving = 0
    for _ in range(n):
        ch = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        check = ch.unary_unary("/grpc.health.v1.Health/Check")
        serving += check(b"", timeout=10) == b"\x08\x01"
        channels.append(ch)
    time.sleep(1)
    during = rss_kb(pid)
    print(f"{n} {serving} {before} {during}")
    for ch in channels:
        ch.close()


if __name__ == "__main__":
    main()
