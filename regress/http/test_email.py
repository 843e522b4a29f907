#!/usr/bin/env python3
"""Email verification over HTTP: GET /v1/verify_email with the code a new
user was sent, and each way it can be wrong.
"""
import sys

import helpers
from helpers import *  # noqa: F401,F403


def test_verify_email(bank):
    row = psql(f"SELECT id, secret_code FROM pgbank.verify_emails WHERE username = '{bank.bob}' "
               f"ORDER BY id DESC LIMIT 1")
    eid, code = row.split("|")
    wrong = "w" * 32
    expect("GET /v1/verify_email wrong code 400", request(
        "GET", f"/v1/verify_email?email_id={eid}&secret_code={wrong}"), 400, "PB040")
    expect("GET /v1/verify_email missing secret_code 400", request(
        "GET", f"/v1/verify_email?email_id={eid}"), 400, "22023", "secret_code")
    st, _, body = request("GET", f"/v1/verify_email?email_id={eid}&secret_code={code}")
    check("GET /v1/verify_email 200 is_verified", st == 200 and body == {"is_verified": True}, f"{st} {body}")
    expect("GET /v1/verify_email used code 400", request(
        "GET", f"/v1/verify_email?email_id={eid}&secret_code={code}"), 400, "PB041")
    expect("GET /v1/verify_email email_id not a number 400", request(
        "GET", "/v1/verify_email?email_id=x&secret_code=y"), 400, "22023", "email_id")
    expect("GET /v1/verify_email unknown id 404", request(
        "GET", f"/v1/verify_email?email_id=999999999&secret_code={wrong}"), 404, "P0002")


def main():
    helpers.SHIM = front()
    try:
        bank = Bank()
        test_verify_email(bank)
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
