#!/usr/bin/env python3
"""CORS (shim/cors.c, docs/web.md): PGBANK_ALLOWED_ORIGINS' origins get
preflights answered from the route table (each path's methods, the
headers its routes read), credentials allowed, and their answers'
Access-Control-Allow-Origin; any other origin gets none of it, nor does
any origin when the list is empty.
"""
import sys

import helpers
from helpers import *  # noqa: F401,F403

APP = "http://app.example:3000"
DEV = "http://127.0.0.1:5173"
CORS = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods",
        "access-control-allow-headers")


def preflight(path, origin, method, headers="content-type, authorization", port=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    st, hdrs, _ = request_all("OPTIONS", path, headers=h, port=port)
    return st, dict(hdrs)


def names(value):
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def test_preflight():
    st, h = preflight("/transfers", APP, "POST")
    check("preflight of POST /transfers from an allowed origin: 204, that origin, credentials",
          st == 204 and h.get("access-control-allow-origin") == APP and
          h.get("access-control-allow-credentials") == "true" and "origin" in names(h.get("vary")), f"{st} {h}")
    check("... the path's methods and the headers its route reads",
          names(h.get("access-control-allow-methods")) == {"post"} and
          {"authorization", "content-type", "idempotency-key"} <= names(h.get("access-control-allow-headers")) and
          h.get("access-control-max-age") == "600", str(h))
    st, h = preflight("/v1/games/apex/results/7", DEV, "DELETE")
    check("preflight of a path with three methods: GET, PATCH, DELETE (the second allowed origin)",
          st == 204 and h.get("access-control-allow-origin") == DEV and
          names(h.get("access-control-allow-methods")) == {"get", "patch", "delete"} and
          {"authorization", "content-type"} <= names(h.get("access-control-allow-headers")), f"{st} {h}")
    st, h = preflight("/v1/session", APP, "POST")
    check("preflight of the session routes: GET, POST, DELETE",
          st == 204 and names(h.get("access-control-allow-methods")) == {"get", "post", "delete"}, f"{st} {h}")
    for origin in ("http://evil.example", "http://app.example", "http://app.example:3000.evil", "null",
                   "HTTP://APP.EXAMPLE:3000", APP + "/"):
        st, h = preflight("/transfers", origin, "POST")
        check(f"preflight from {origin}: no CORS header", st == 204 and not any(k in h for k in CORS), f"{st} {h}")
    st, h = preflight("/transfers", APP, "PUT")
    check("preflight for a method the path lacks: no Access-Control-Allow-Methods (the browser refuses)",
          st == 204 and "access-control-allow-methods" not in h and "access-control-allow-headers" not in h and
          names(h.get("allow")) == {"post"}, f"{st} {h}")
    st, h = preflight("/nope", APP, "GET")
    check("preflight of a path no route serves: 404, no CORS methods",
          st == 404 and "access-control-allow-methods" not in h, f"{st} {h}")
    st, hdrs, _ = request_all("OPTIONS", "/accounts")
    h = dict(hdrs)
    check("OPTIONS without Origin: 204 with Allow only", st == 204 and names(h.get("allow")) == {"get", "post"} and
          not any(k in h for k in CORS), f"{st} {h}")


def test_actual_requests(bank):
    st, hdrs, _ = request_all("GET", "/v1/games", headers={"Origin": APP})
    h = dict(hdrs)
    check("an allowed origin's request: Access-Control-Allow-Origin, credentials, exposed headers",
          st == 200 and h.get("access-control-allow-origin") == APP and
          h.get("access-control-allow-credentials") == "true" and
          "x-request-id" in names(h.get("access-control-expose-headers")), f"{st} {h}")
    st, hdrs, _ = request_all("GET", "/v1/games", headers={"Origin": "http://evil.example"})
    check("another origin's request: answered, without CORS headers (its script cannot read it)",
          st == 200 and not any(k in dict(hdrs) for k in CORS))
    st, hdrs, _ = request_all("GET", "/nope", headers={"Origin": APP})
    check("errors carry the CORS headers too (the page can read them)",
          st == 404 and dict(hdrs).get("access-control-allow-origin") == APP)
    # with credentials: the session cookie, from an allowed origin
    st, hdrs, _ = request_all("POST", "/v1/session", body={"username": bank.alice, "password": "secret1"},
                              headers={"Origin": APP})
    cookie = [v.split(";")[0] for k, v in hdrs if k == "set-cookie" and v.startswith("pgbank_access=")]
    check("an allowed origin may sign in (the session routes' Origin check accepts it)", st == 200 and cookie, str(st))
    st, _, body = request_all("POST", "/accounts", body={"currency": "EUR"},
                              headers={"Origin": APP, "Cookie": cookie[0] if cookie else ""})
    check("an allowed origin's cookie-authenticated write: 200", st == 200 and body.get("currency") == "EUR",
          f"{st} {body}")
    st, _, body = request_all("POST", "/accounts", body={"currency": "CAD"},
                              headers={"Origin": "http://evil.example", "Cookie": cookie[0] if cookie else ""})
    expect_error("another origin's cookie-authenticated write: 403", (st, None, body), 403, "42501")


def test_no_origins():
    shim = Shim(PGBANK_ALLOWED_ORIGINS="")
    try:
        st, h = preflight("/transfers", APP, "POST", port=shim.port)
        check("PGBANK_ALLOWED_ORIGINS empty: no origin gets CORS headers",
              st == 204 and not any(k in h for k in CORS), f"{st} {h}")
    finally:
        shim.stop()


def main():
    helpers.SHIM = Shim(PGBANK_ALLOWED_ORIGINS=f"{APP}, {DEV}")
    try:
        bank = Bank()
        test_preflight()
        test_actual_requests(bank)
        test_no_origins()
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
