#!/usr/bin/env python3
"""Users and sessions over HTTP: sign-up, login and its throttle, token
renewal, tokens (bad, tampered, expired, revoked), logout, the gateway's
update_user.
"""
import sys
import time

import helpers
from helpers import *  # noqa: F401,F403


def test_create_user():
    name = f"u_{TAG}"
    st, _, body = request("POST", "/users", body=user_body(name))
    check("POST /users 200 with the user's fields, no hash",
          st == 200 and isinstance(body, dict) and set(body) == USER_KEYS and body["username"] == name,
          f"{st} {body}")
    expect_error("POST /users duplicate username 403, the details name the field",
                 request("POST", "/users", body=user_body(name)), 403, "23505", "username")
    dup = user_body(f"v_{TAG}")
    dup["email"] = f"{name}@example.com"
    expect_error("POST /users duplicate email 403, the details name the field",
                 request("POST", "/users", body=dup), 403, "23505", "email")
    b = user_body(f"w_{TAG}")
    del b["username"]
    expect("POST /users missing username 400 names it", request("POST", "/users", body=b),
           400, "22023", "username")
    b = user_body(f"w_{TAG}")
    b["email"] = "not-an-email"
    expect("POST /users bad email 400 names it", request("POST", "/users", body=b), 400, "22023", "email")
    b = user_body(f"w_{TAG}")
    b["password"] = 123456
    expect("POST /users non-string password 400 names it", request("POST", "/users", body=b),
           400, "22023", "password")
    expect("POST /users malformed JSON 400", request("POST", "/users", raw='{"username":'), 400, "22P02")
    expect("POST /users JSON array body 400", request("POST", "/users", raw='[1]'), 400, "22023", "body")
    expect("POST /users no body 400 names body", request("POST", "/users"), 400, "22023", "body")
    st, _, body = request("POST", "/v1/create_user", body=user_body(f"g_{TAG}"))
    check("POST /v1/create_user 200 {user}", st == 200 and set(body) == {"user"} and
          set(body["user"]) == USER_KEYS, f"{st} {body}")


def test_login(bank):
    st, _, body = login(bank.alice)
    keys = {"session_id", "access_token", "access_token_expires_at", "refresh_token",
            "refresh_token_expires_at", "user"}
    check("POST /users/login 200 with tokens and user", st == 200 and set(body) == keys and
          set(body["user"]) == USER_KEYS and body["user"]["username"] == bank.alice, f"{st} {body}")
    st, _, body = login(bank.alice, path="/v1/login_user")
    check("POST /v1/login_user 200", st == 200 and set(body) == keys, f"{st} {body}")
    expect("login wrong password 401", login(bank.alice, "wrong-password"), 401, "28P01")
    expect("login unknown user 404", login(f"nobody_{TAG}"), 404, "P0002")
    expect("login missing password 400", request("POST", "/users/login", body={"username": bank.alice}),
           400, "22023", "password")
    victim = f"victim_{TAG}"
    request("POST", "/users", body=user_body(victim))
    statuses = [login(victim, "wrong-password")[0] for _ in range(30)]
    check("repeated wrong passwords are throttled: 429", 429 in statuses, f"{statuses}")
    expect("throttled even with the right password", login(victim), 429, "PB015")

    st, _, body = request("POST", "/tokens/renew_access", body={"refresh_token": bank.refresh[bank.alice]})
    check("POST /tokens/renew_access 200", st == 200 and
          set(body) == {"access_token", "access_token_expires_at"}, f"{st} {body}")
    expect("renew with a garbage token 401", request("POST", "/tokens/renew_access",
                                                     body={"refresh_token": "garbage"}), 401, "28000")
    # as in the simple bank: a valid token whose id names no session is 404
    expect("renew with an access token 404", request("POST", "/tokens/renew_access",
                                                     body={"refresh_token": bank.tok[bank.alice]}), 404, "P0002")
    expect("renew without refresh_token 400", request("POST", "/tokens/renew_access", body={}),
           400, "22023", "refresh_token")


def test_tokens(bank):
    expect("bad token 401", request("GET", "/accounts?page_id=1&page_size=5", token="v4.local.garbage"),
           401, "28000")
    tampered = bank.tok[bank.alice][:-4] + ("AAAA" if not bank.tok[bank.alice].endswith("AAAA") else "BBBB")
    expect("tampered token 401", request("GET", "/accounts?page_id=1&page_size=5", token=tampered),
           401, "28000")
    expired = psql(f"SET pgbank.access_token_duration = '1s'; "
                   f"SELECT access_token FROM pgbank.login('{bank.alice}', 'secret1')").splitlines()[-1]
    time.sleep(2.1)
    expect("expired token 401", request("GET", "/accounts?page_id=1&page_size=5", token=expired),
           401, "28000")
    # a revoked session: after logout its refresh token cannot renew
    st, _, body = login(bank.bob)
    refresh, access = body["refresh_token"], body["access_token"]
    st, _, out = request("POST", "/v1/logout", body={"refresh_token": refresh})
    check("POST /v1/logout 200", st == 200, f"{st} {out}")
    expect("renew after logout 401", request("POST", "/tokens/renew_access",
                                             body={"refresh_token": refresh}), 401)
    expect("access token of a revoked session 401",
           request("GET", "/accounts?page_id=1&page_size=5", token=access), 401, "28000")
    expect("logout without refresh_token 400", request("POST", "/v1/logout", body={}),
           400, "22023", "refresh_token")


def test_v1_user(bank):
    st, _, body = request("PATCH", "/v1/update_user", token=bank.tok[bank.alice],
                          body={"username": bank.alice, "full_name": "Alice Updated"})
    check("PATCH /v1/update_user 200 {user}", st == 200 and body.get("user", {}).get("full_name") ==
          "Alice Updated", f"{st} {body}")
    expect("PATCH /v1/update_user another user 403", request(
        "PATCH", "/v1/update_user", token=bank.tok[bank.alice],
        body={"username": bank.bob, "full_name": "Hacked"}), 403, "42501")
    st, _, body = request("PATCH", "/v1/update_user", token=bank.tok[bank.banker],
                          body={"username": bank.bob, "full_name": "Bob By Banker"})
    check("PATCH /v1/update_user a banker updates anyone", st == 200, f"{st} {body}")
    expect("PATCH /v1/update_user bad email 400", request(
        "PATCH", "/v1/update_user", token=bank.tok[bank.alice],
        body={"username": bank.alice, "email": "nope"}), 400, "22023", "email")
    expect("PATCH /v1/update_user no token 401", request("PATCH", "/v1/update_user", body={}), 401, "28000")


def test_no_store(bank):
    """Answers that carry tokens must not be stored by a cache on the way."""
    st, h, body = login(bank.alice)
    check("POST /users/login answers Cache-Control: no-store", st == 200 and
          h.get("cache-control") == "no-store", f"{st} {h}")
    st, h, _ = login(bank.alice, path="/v1/login_user")
    check("POST /v1/login_user answers Cache-Control: no-store", st == 200 and
          h.get("cache-control") == "no-store", f"{st} {h}")
    st, h, _ = request("POST", "/tokens/renew_access", body={"refresh_token": body.get("refresh_token")})
    check("POST /tokens/renew_access answers Cache-Control: no-store", st == 200 and
          h.get("cache-control") == "no-store", f"{st} {h}")
    st, h, _ = login(bank.alice, "wrong-password")
    check("their errors too (401)", st == 401 and h.get("cache-control") == "no-store", f"{st} {h}")
    st, h, _ = request("GET", "/healthz")
    st2, h2, _ = request("POST", "/users", body=user_body(f"cache_{TAG}"))
    check("answers without tokens have no Cache-Control (GET /healthz, POST /users)",
          st == 200 and st2 == 200 and "cache-control" not in h and "cache-control" not in h2, f"{h} {h2}")


def main():
    helpers.SHIM = front()
    try:
        test_create_user()
        bank = Bank()
        test_login(bank)
        test_tokens(bank)
        test_no_store(bank)
        test_v1_user(bank)
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
