#!/usr/bin/env python3
"""The server itself over HTTP: settings and --help, the SQLSTATE table
against docs/errors.md, the built-in routes and openapi.json, routing
(404, 405), the body limit, the Authorization header, request ids and
the log line, /metrics.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import time

import helpers
from helpers import *  # noqa: F401,F403


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
    table = dict(line.split("\t")[:2] for line in
                 subprocess.check_output([BIN, "--errors"], text=True).splitlines())
    with open(os.path.join(ROOT, "docs", "errors.md")) as f:
        rows = [r for r in f.read().splitlines() if re.match(r"^\| [0-9A-Z]{2}", r)]
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for code in re.findall(r"\b([0-9A-Z]{5}|08)(?:xxx)?\b", cells[0]):
            documented[code] = cells[-2]
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


def test_body_limit():
    big = json.dumps({"username": "x" * 5000})
    expect("413 by Content-Length", request("POST", "/users", raw=big), 413)
    # chunked: no Content-Length, so the limit is enforced while reading
    conn = http.client.HTTPConnection("127.0.0.1", helpers.SHIM.port, timeout=30)
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
    lines = helpers.SHIM.log_lines()
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


def make_counted_traffic():
    """Two 403s on POST /users for test_metrics to find counted."""
    name = f"m_{TAG}"
    request("POST", "/users", body=user_body(name))
    request("POST", "/users", body=user_body(name))
    dup = user_body(f"mm_{TAG}")
    dup["email"] = f"{name}@example.com"
    request("POST", "/users", body=dup)


def test_metrics():
    # A request is counted when it completes, just after its answer was sent:
    # the client may read its answer before the count is made, so look again.
    for _ in range(20):
        st, h, text = request("GET", "/metrics")
        m = re.search(r'^pgbank_http_requests_total\{method="POST",route="/users",status="403"\} (\d+)$',
                      text, re.M)
        if m is not None and int(m.group(1)) >= 2:
            break
        time.sleep(0.1)
    ok = st == 200 and h.get("content-type", "").startswith("text/plain")
    check("GET /metrics 200 text", ok, f"{st} {h}")
    check("requests counted by route and status", m is not None and int(m.group(1)) >= 2,
          "\n".join(re.findall(r'^pgbank_http_requests_total\{method="POST",route="/users".*$', text, re.M)))
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


def main():
    helpers.SHIM = Shim()
    try:
        test_config()
        test_error_table()
        test_builtin()
        test_routing()
        test_body_limit()
        test_auth_header()
        test_request_id_and_log()
        make_counted_traffic()
        test_metrics()
    finally:
        rc = helpers.SHIM.stop()
    check("the shim exits 0 on SIGTERM", rc == 0, f"exit {rc}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
