#!/usr/bin/env python3
"""The web app's session over HTTP (docs/web.md): POST /v1/session sets the
two session cookies (HttpOnly, SameSite=Strict, Secure under
PGBANK_COOKIE_SECURE), the API takes the access cookie instead of the
bearer token, writes it authenticates need this server's Origin (or an
allowed one), GET /v1/session renews the access cookie from the refresh
cookie, DELETE /v1/session revokes the session on the server; GET
/v1/games is the registry; every status these routes answer is in
docs/openapi.json.
"""
import json
import os
import re
import sys

import helpers
from helpers import *  # noqa: F401,F403

SEEN = {}       # (method, path) -> statuses answered here


def call(method, path, cookies=None, origin=True, **kw):
    """A request with the session cookies given and this server's Origin
    (origin=True), another Origin (a string), or none (None)."""
    h = dict(kw.pop("headers", {}) or {})
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if origin is True:
        h["Origin"] = f"http://127.0.0.1:{helpers.SHIM.port}"
    elif origin:
        h["Origin"] = origin
    got = request_all(method, path, headers=h, **kw)
    route = "/v1/session" if path.startswith("/v1/session") else path.split("?")[0]
    SEEN.setdefault((method.lower(), route), set()).add(got[0])
    return got


def set_cookies(headers):
    """{name: (value, {attribute: value})} of the Set-Cookie headers."""
    out = {}
    for k, v in headers:
        if k != "set-cookie":
            continue
        parts = [p.strip() for p in v.split(";")]
        name, _, value = parts[0].partition("=")
        attrs = {}
        for p in parts[1:]:
            a, _, b = p.partition("=")
            attrs[a.lower()] = b
        out[name] = (value, attrs)
    return out


def sign_in(name):
    st, hdrs, body = call("POST", "/v1/session", body={"username": name, "password": "secret1"},
                          headers={"User-Agent": "web-test"})
    c = set_cookies(hdrs)
    return st, body, c, {k: v[0] for k, v in c.items()}


def test_sign_in(bank):
    st, _, body = call("POST", "/v1/session", origin=None, body={"username": bank.alice, "password": "secret1"})
    expect_error("POST /v1/session without an Origin: 403 (cross-site check)", (st, None, body), 403, "42501")
    st, _, body = call("POST", "/v1/session", origin="http://evil.example",
                       body={"username": bank.alice, "password": "secret1"})
    expect_error("POST /v1/session from another origin: 403", (st, None, body), 403, "42501")
    st, _, body = call("POST", "/v1/session", origin="null", body={"username": bank.alice, "password": "secret1"})
    expect_error("POST /v1/session with Origin null: 403", (st, None, body), 403, "42501")
    st, hdrs, body = call("POST", "/v1/session", body={"username": bank.alice, "password": "wrong12"})
    expect_error("POST /v1/session wrong password: 401", (st, None, body), 401, "28P01")
    check("a refused sign-in sets no cookie", not set_cookies(hdrs))
    expect_error("POST /v1/session unknown user: 404",
                 call("POST", "/v1/session", body={"username": f"nobody_{TAG}", "password": "secret1"}), 404, "P0002")
    expect_error("POST /v1/session without a password: 400 naming it",
                 call("POST", "/v1/session", body={"username": bank.alice}), 400, "22023", "password")
    expect_error("POST /v1/session with a body that is not JSON: 400",
                 call("POST", "/v1/session", raw="{"), 400, "22P02")
    st, _, _ = call("POST", "/v1/session", raw='{"username": "' + "x" * 5000 + '"}')
    check("POST /v1/session with a body over the limit: 413", st == 413, str(st))

    st, body, c, jar = sign_in(bank.alice)
    check("POST /v1/session 200: the user and the expiries, no token in the body",
          st == 200 and body["user"]["username"] == bank.alice and
          set(body) == {"user", "access_token_expires_at", "refresh_token_expires_at"} and
          "token" not in json.dumps(body).replace("token_expires_at", ""), f"{st} {body}")
    a, r = c.get("pgbank_access"), c.get("pgbank_refresh")
    check("the access cookie: HttpOnly, SameSite=Strict, Path=/, Max-Age the access token's 15 minutes",
          a and "httponly" in a[1] and a[1].get("samesite") == "Strict" and a[1].get("path") == "/" and
          895 <= int(a[1].get("max-age", 0)) <= 900 and "secure" not in a[1], str(c))
    check("the refresh cookie: HttpOnly, SameSite=Strict, Path=/v1/session, Max-Age 24 hours",
          r and "httponly" in r[1] and r[1].get("samesite") == "Strict" and r[1].get("path") == "/v1/session" and
          86395 <= int(r[1].get("max-age", 0)) <= 86400, str(c))
    check("the cookies hold tokens the API issued (a session row with this user agent)",
          psql(f"SELECT count(*) FROM pgbank.sessions WHERE username = '{bank.alice}' "
               f"AND user_agent = 'web-test'") == "1")
    st, hdrs, _ = call("POST", "/v1/session", body={"username": bank.alice, "password": "secret1"})
    check("a sign-in answer is not cached (no-store)", dict(hdrs).get("cache-control") == "no-store")
    return jar


def test_cookie_auth(bank, jar):
    access = {"pgbank_access": jar["pgbank_access"]}
    st, _, body = call("GET", "/accounts?page_id=1&page_size=5", cookies=access, origin=None)
    check("the access cookie authenticates instead of the bearer token (GET, no Origin needed)",
          st == 200 and isinstance(body, list), f"{st} {body}")
    st, _, body = call("GET", "/accounts?page_id=1&page_size=5", origin=None)
    expect_error("neither cookie nor bearer token: 401", (st, None, body), 401, "28000")
    expect_error("a cookie-authenticated write without an Origin: 403",
                 call("POST", "/accounts", cookies=access, origin=None, body={"currency": "CAD"}), 403, "42501")
    expect_error("a cookie-authenticated write from another origin: 403",
                 call("POST", "/accounts", cookies=access, origin="http://127.0.0.1:1", body={"currency": "CAD"}),
                 403, "42501")
    check("the refused writes wrote nothing",
          psql(f"SELECT count(*) FROM pgbank.accounts WHERE owner = '{bank.alice}' AND currency = 'CAD'") == "0")
    st, _, body = call("POST", "/accounts", cookies=access, body={"currency": "CAD"})
    check("a cookie-authenticated write from this server's pages: 200", st == 200 and body.get("currency") == "CAD",
          f"{st} {body}")
    st, _, body = call("DELETE", f"/v1/games/apex/results/999999", cookies=access, origin=None)
    expect_error("a cookie-authenticated DELETE without an Origin: 403", (st, None, body), 403, "42501")
    st, _, body = call("POST", "/accounts", token=bank.tok[bank.bob], origin=None, body={"currency": "CAD"})
    check("a bearer-token write needs no Origin (API clients)", st == 200, f"{st} {body}")
    st, _, body = call("GET", "/accounts?page_id=1&page_size=5", token=bank.tok[bank.bob], cookies=access)
    check("the Authorization header wins over the cookie",
          st == 200 and {a["owner"] for a in body} == {bank.bob}, f"{st} {body}")
    for bad in ("x", "v4.local." + "A" * 40, "%00"):
        st, _, body = call("GET", "/accounts?page_id=1&page_size=5", cookies={"pgbank_access": bad})
        check(f"a garbage access cookie {bad[:12]!r}: 401", st == 401 or (bad == "%00" and st == 400), f"{st} {body}")


def test_session_and_renewal(bank, jar):
    st, hdrs, body = call("GET", "/v1/session", cookies=jar)
    check("GET /v1/session with a valid access cookie: the user, no new cookie",
          st == 200 and body["user"]["username"] == bank.alice and not set_cookies(hdrs), f"{st} {body}")
    expect_error("GET /v1/session without cookies: 401", call("GET", "/v1/session"), 401, "28000")
    # the access token's end (as 15 minutes would): revoked in the database
    psql(f"UPDATE pgbank.access_tokens SET revoked_at = now() WHERE username = '{bank.alice}' AND revoked_at IS NULL")
    st, _, _ = call("GET", "/accounts?page_id=1&page_size=5", cookies=jar)
    check("an ended access token: the API answers 401", st == 401, str(st))
    st, hdrs, body = call("GET", "/v1/session", cookies=jar)
    c = set_cookies(hdrs)
    check("GET /v1/session renews the access cookie from the refresh cookie",
          st == 200 and "pgbank_access" in c and c["pgbank_access"][0] != jar["pgbank_access"] and
          "pgbank_refresh" not in c and int(c["pgbank_access"][1]["max-age"]) > 800, f"{st} {body} {c}")
    jar = dict(jar, pgbank_access=c["pgbank_access"][0]) if "pgbank_access" in c else jar
    st, _, _ = call("GET", "/accounts?page_id=1&page_size=5", cookies={"pgbank_access": jar["pgbank_access"]})
    check("the renewed cookie authenticates", st == 200, str(st))
    st, _, body = call("GET", "/v1/session", cookies={"pgbank_refresh": jar["pgbank_access"]})
    expect_error("an access token as the refresh cookie: 404 (not a session)", (st, None, body), 404, "P0002")
    expect_error("a malformed refresh cookie: 401", call("GET", "/v1/session", cookies={"pgbank_refresh": "x"}),
                 401, "28000")
    return jar


def test_session_expiry(bank):
    _, _, _, jar = sign_in(bank.bob)
    psql(f"UPDATE pgbank.access_tokens SET revoked_at = now() WHERE username = '{bank.bob}' AND revoked_at IS NULL")
    psql(f"UPDATE pgbank.sessions SET expires_at = now() - interval '1 second' "
         f"WHERE username = '{bank.bob}' AND user_agent = 'web-test'")
    expect_error("past the refresh token's 24 hours: GET /v1/session 401 session_expired",
                 call("GET", "/v1/session", cookies=jar), 401, "PB014")
    _, _, _, jar = sign_in(bank.bob)
    psql(f"DELETE FROM pgbank.sessions WHERE username = '{bank.bob}' AND user_agent = 'web-test'")
    expect_error("a refresh cookie whose session is gone: GET 404", call("GET", "/v1/session", cookies=jar), 404, "P0002")
    expect_error("... and DELETE 404", call("DELETE", "/v1/session", cookies=jar), 404, "P0002")


def test_sign_out(bank, jar):
    expect_error("DELETE /v1/session without an Origin: 403",
                 call("DELETE", "/v1/session", cookies=jar, origin=None), 403, "42501")
    st, hdrs, body = call("DELETE", "/v1/session", cookies=jar)
    c = set_cookies(hdrs)
    check("DELETE /v1/session: revoked, both cookies cleared (Max-Age=0)",
          st == 200 and body == {"revoked": True} and c.get("pgbank_access", ("x", {}))[0] == "" and
          c["pgbank_access"][1].get("max-age") == "0" and c.get("pgbank_refresh", ("x", {}))[0] == "" and
          c["pgbank_refresh"][1].get("path") == "/v1/session", f"{st} {body} {c}")
    st, _, _ = call("GET", "/accounts?page_id=1&page_size=5", cookies=jar)
    check("after sign-out the access cookie is refused (revoked on the server)", st == 401, str(st))
    st, _, _ = call("GET", "/accounts?page_id=1&page_size=5", token=jar["pgbank_access"])
    check("... as a bearer token too", st == 401, str(st))
    expect_error("after sign-out the refresh cookie renews nothing: 401 session_blocked",
                 call("GET", "/v1/session", cookies=jar), 401, "PB011")
    st, hdrs, body = call("DELETE", "/v1/session")
    check("DELETE /v1/session without cookies: 200 revoked false, cookies cleared",
          st == 200 and body == {"revoked": False} and set(set_cookies(hdrs)) == {"pgbank_access", "pgbank_refresh"},
          f"{st} {body}")
    expect_error("DELETE /v1/session with a tampered refresh cookie: 401",
                 call("DELETE", "/v1/session", cookies={"pgbank_refresh": jar["pgbank_refresh"][:-4] + "AAAA"}),
                 401, "28000")


def test_secure_cookie():
    shim = Shim(PGBANK_COOKIE_SECURE="1")
    try:
        name = f"sec_{TAG}"
        request("POST", "/users", body=user_body(name), port=shim.port)
        _, hdrs, _ = request_all("POST", "/v1/session", body={"username": name, "password": "secret1"},
                                 headers={"Origin": f"http://127.0.0.1:{shim.port}"}, port=shim.port)
        c = set_cookies(hdrs)
        check("PGBANK_COOKIE_SECURE=1: both cookies are Secure",
              len(c) == 2 and all("secure" in a for _, a in c.values()), str(c))
    finally:
        shim.stop()


def test_games_registry():
    st, _, body = call("GET", "/v1/games", origin=None)
    want = json.loads(psql("SELECT json_agg(json_build_object('slug', slug, 'name', name, 'fields', fields, "
                           "'placement_field', placement_field, 'breakdown_field', breakdown_field) ORDER BY slug) "
                           "FROM pgbank.games"))
    check("GET /v1/games is the registry pgbank.games (no token needed)", st == 200 and body == {"games": want},
          f"{st} {body}")
    check("... every game's fields, as the forms need them",
          st == 200 and [g["slug"] for g in body["games"]] == ["apex", "fortnite", "hots"] and
          all(all("name" in f and "type" in f for f in g["fields"]) for g in body["games"]))


def test_statuses_documented():
    with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
        doc = json.load(f)
    for path in ("/v1/session", "/v1/games"):
        for method, op in doc["paths"][path].items():
            documented = {int(s) for s in op["responses"]}
            seen = SEEN.get((method, path), set())
            check(f"openapi.json lists exactly the statuses {method.upper()} {path} answers (503, 429 aside)",
                  seen <= documented and documented - {503, 429} <= seen,
                  f"answered {sorted(seen)}, documented {sorted(documented)}")


def main():
    helpers.SHIM = Shim()
    try:
        bank = Bank()
        jar = test_sign_in(bank)
        test_cookie_auth(bank, jar)
        jar = test_session_and_renewal(bank, jar)
        test_session_expiry(bank)
        test_sign_out(bank, jar)
        test_games_registry()
        test_secure_cookie()
        test_statuses_documented()
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
