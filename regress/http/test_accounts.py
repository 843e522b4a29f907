#!/usr/bin/env python3
"""Accounts and transfers over HTTP: creating and reading accounts, pages,
who may read what, and every transfer rule with its status, idempotency
keys included.
"""
import sys

import helpers
from helpers import *  # noqa: F401,F403


def test_accounts(bank):
    a, b = bank.alice, bank.bob
    st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=bank.tok[a])
    check("POST /accounts 200, owner is the caller", st == 200 and set(acc) == ACCOUNT_KEYS and
          acc["owner"] == a and acc["balance"] == 0, f"{st} {acc}")
    bank.alice_usd = acc.get("id")
    expect("POST /accounts same currency again 403", request("POST", "/accounts", body={"currency": "USD"},
                                                            token=bank.tok[a]), 403, "23505")
    expect("POST /accounts unknown currency 400", request("POST", "/accounts", body={"currency": "XYZ"},
                                                         token=bank.tok[a]), 400, "22023", "currency")
    expect("POST /accounts missing currency 400", request("POST", "/accounts", body={},
                                                         token=bank.tok[a]), 400, "22023", "currency")
    st, _, acc = request("POST", "/accounts", body={"currency": "EUR"}, token=bank.tok[a])
    bank.alice_eur = acc.get("id")
    st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=bank.tok[b])
    bank.bob_usd = acc.get("id")
    # money to move: a banker's deposit from the house account
    st, _, body = request("POST", "/deposits", body={"account_id": bank.alice_usd, "amount": 1000,
                                                     "reference": "opening"}, token=bank.tok[bank.banker])
    check("POST /deposits 200 (a banker)", st == 200 and body["account"]["balance"] == 1000, f"{st} {body}")

    st, _, body = request("GET", f"/accounts/{bank.alice_usd}", token=bank.tok[a])
    check("GET /accounts/{id} own 200", st == 200 and body.get("id") == bank.alice_usd and
          body.get("balance") == 1000, f"{st} {body}")
    expect("GET /accounts/{id} another user's 401", request("GET", f"/accounts/{bank.alice_usd}",
                                                            token=bank.tok[b]), 401, "PB010")
    st, _, body = request("GET", f"/accounts/{bank.alice_usd}", token=bank.tok[bank.banker])
    check("GET /accounts/{id} a banker reads any 200", st == 200 and body.get("owner") == a, f"{st} {body}")
    expect("GET /accounts/{id} missing 404", request("GET", "/accounts/999999999", token=bank.tok[a]),
           404, "P0002")
    expect("GET /accounts/{id} not a number 400", request("GET", "/accounts/abc", token=bank.tok[a]),
           400, "22023", "id")
    expect("GET /accounts/{id} zero 400", request("GET", "/accounts/0", token=bank.tok[a]), 400, "22023", "id")

    st, _, body = request("GET", "/accounts?page_id=1&page_size=5", token=bank.tok[a])
    check("GET /accounts 200 the caller's accounts only", st == 200 and isinstance(body, list) and
          [x["id"] for x in body] == sorted([bank.alice_usd, bank.alice_eur]) and
          all(x["owner"] == a for x in body), f"{st} {body}")
    st, _, body = request("GET", "/accounts?page_id=2&page_size=5", token=bank.tok[a])
    check("GET /accounts past the last page: []", st == 200 and body == [], f"{st} {body}")
    expect("GET /accounts page_size 11 400", request("GET", "/accounts?page_id=1&page_size=11",
                                                     token=bank.tok[a]), 400, "22023", "page_size")
    expect("GET /accounts page_size 4 400", request("GET", "/accounts?page_id=1&page_size=4",
                                                    token=bank.tok[a]), 400, "22023", "page_size")
    expect("GET /accounts missing page_id 400", request("GET", "/accounts?page_size=5", token=bank.tok[a]),
           400, "22023", "page_id")


def transfer(bank, who, frm, to, amount, currency="USD", key=None):
    h = {"Idempotency-Key": key} if key else None
    body = {"from_account_id": frm, "to_account_id": to, "amount": amount}
    if currency is not None:
        body["currency"] = currency
    return request("POST", "/transfers", body=body, token=bank.tok[who], headers=h)


def test_transfers(bank):
    a = bank.alice
    st, _, body = transfer(bank, a, bank.alice_usd, bank.bob_usd, 100)
    ok = st == 200 and set(body) == {"transfer", "from_account", "to_account", "from_entry", "to_entry"}
    check("POST /transfers 200 TransferTxResult", ok and
          set(body["transfer"]) == TRANSFER_KEYS and
          set(body["from_entry"]) == {"id", "account_id", "amount", "created_at"} and
          body["from_account"]["balance"] == 900 and body["to_entry"]["amount"] == 100, f"{st} {body}")
    check("POST /transfers shows of the receiving account (another user's) only id and currency",
          ok and body["to_account"] == {"id": bank.bob_usd, "currency": "USD"} and
          set(body["from_account"]) == ACCOUNT_KEYS, f"{st} {body}")
    expect("transfer from another user's account 401", transfer(bank, bank.bob, bank.alice_usd,
                                                                bank.bob_usd, 1), 401, "PB010")
    expect("transfer overdraft 422", transfer(bank, a, bank.alice_usd, bank.bob_usd, 100000), 422, "PB004")
    expect("transfer amount 0 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 0), 400, "PB001")
    expect("transfer without currency 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 1, None),
           400, "22023", "currency")
    expect("transfer currency mismatch 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 1, "EUR"),
           400, "PB003")
    expect("transfer between currencies 400", transfer(bank, a, bank.alice_usd, bank.alice_eur, 1),
           400, "PB003")
    expect("transfer to a missing account 404", transfer(bank, a, bank.alice_usd, 999999999, 1), 404, "P0002")
    expect("transfer from a missing account 404", transfer(bank, a, 999999999, bank.bob_usd, 1), 404, "P0002")
    expect("transfer amount not an integer 400", transfer(bank, a, bank.alice_usd, bank.bob_usd, 1.5),
           400, "22023", "amount")
    expect("transfer without token 401", request("POST", "/transfers", body={}), 401, "28000")
    key = f"key-{TAG}"
    st1, _, r1 = transfer(bank, a, bank.alice_usd, bank.bob_usd, 7, key=key)
    st2, _, r2 = transfer(bank, a, bank.alice_usd, bank.bob_usd, 7, key=key)
    check("Idempotency-Key: a retry answers the first transfer", st1 == 200 and st2 == 200 and
          r1["transfer"]["id"] == r2["transfer"]["id"] and r2["from_account"]["balance"] == 893,
          f"{st1} {st2} {r1} {r2}")
    expect("Idempotency-Key reused with another amount 409",
           transfer(bank, a, bank.alice_usd, bank.bob_usd, 8, key=key), 409, "PB005")


# ----- the ledger: deposits, statements, transfers by id and key, holds, batches -----

def test_ledger(bank):
    a, b, banker = bank.alice, bank.bob, bank.banker
    tok = bank.tok
    st, _, body = request("POST", "/deposits", body={"account_id": bank.alice_usd, "amount": 500,
                                                     "reference": "cash"}, token=tok[banker])
    check("POST /deposits: a transfer from the house account, with its reference",
          st == 200 and body["transfer"]["from_account_id"] < 0 and body["transfer"]["reference"] == "cash" and
          body["entry"]["amount"] == 500 and set(body["account"]) == ACCOUNT_KEYS, f"{st} {body}")
    expect("POST /deposits by a depositor 403", request("POST", "/deposits", body={
        "account_id": bank.alice_usd, "amount": 5, "reference": "x"}, token=tok[a]), 403, "42501")
    expect("POST /deposits without a reference 400", request("POST", "/deposits", body={
        "account_id": bank.alice_usd, "amount": 5}, token=tok[banker]), 400, "22023", "reference")
    expect("POST /deposits with a control character 400", request("POST", "/deposits", body={
        "account_id": bank.alice_usd, "amount": 5, "reference": "a\u0007b"}, token=tok[banker]), 400, "22023", "reference")
    expect("POST /deposits to a missing account 404", request("POST", "/deposits", body={
        "account_id": 999999999, "amount": 5, "reference": "x"}, token=tok[banker]), 404, "P0002")
    expect("POST /deposits past the bigint range 422", request("POST", "/deposits", body={
        "account_id": bank.alice_usd, "amount": 9223372036854775807, "reference": "x"}, token=tok[banker]),
        422, "PB007")
    st, _, body = request("POST", "/withdrawals", body={"account_id": bank.alice_usd, "amount": 100,
                                                        "reference": "atm"}, token=tok[banker])
    check("POST /withdrawals: a transfer to the house account", st == 200 and
          body["transfer"]["to_account_id"] < 0 and body["entry"]["amount"] == -100, f"{st} {body}")
    expect("POST /withdrawals overdraft 422", request("POST", "/withdrawals", body={
        "account_id": bank.alice_usd, "amount": 10 ** 12, "reference": "x"}, token=tok[banker]), 422, "PB004")

    key = f"ledger-{TAG}"
    st, _, t = request("POST", "/transfers", body={"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd,
                                                  "amount": 25, "currency": "USD", "reference": "lunch"},
                       token=tok[a], headers={"Idempotency-Key": key})
    check("POST /transfers stores and returns its reference", st == 200 and t["transfer"]["reference"] == "lunch",
          f"{st} {t}")
    tid = t["transfer"]["id"]
    for who, label in ((a, "the payer"), (b, "the receiver"), (banker, "a banker")):
        st, _, body = request("GET", f"/transfers/{tid}", token=tok[who])
        check(f"GET /transfers/{{id}} by {label} 200, accounts by id only", st == 200 and
              set(body) == TRANSFER_KEYS and body["reference"] == "lunch", f"{st} {body}")
    expect("GET /transfers/{id} missing 404", request("GET", "/transfers/999999999", token=tok[a]), 404, "P0002")
    expect("GET /transfers/{id} not a number 400", request("GET", "/transfers/x", token=tok[a]), 400, "22023", "id")
    st, _, body = request("GET", f"/accounts/{bank.alice_usd}/transfer_by_key?idempotency_key={key}", token=tok[a])
    check("GET /accounts/{id}/transfer_by_key 200", st == 200 and body.get("id") == tid, f"{st} {body}")
    expect("transfer_by_key of another user's account 401", request(
        "GET", f"/accounts/{bank.alice_usd}/transfer_by_key?idempotency_key={key}", token=tok[b]), 401, "PB010")
    expect("transfer_by_key unknown key 404", request(
        "GET", f"/accounts/{bank.alice_usd}/transfer_by_key?idempotency_key=nope", token=tok[a]), 404, "P0002")
    expect("transfer_by_key without a key 400", request(
        "GET", f"/accounts/{bank.alice_usd}/transfer_by_key", token=tok[a]), 400, "22023", "idempotency_key")

    st, _, p1 = request("GET", f"/accounts/{bank.alice_usd}/entries?page_size=2", token=tok[a])
    ok = st == 200 and len(p1["entries"]) == 2 and p1["next_before_entry_id"] is not None
    check("GET /accounts/{id}/entries: newest first, with a cursor", ok and
          p1["entries"][0]["reference"] == "lunch" and p1["entries"][0]["amount"] == -25 and
          p1["entries"][0]["counterparty_account_id"] == bank.bob_usd and
          set(p1["entries"][0]) == {"entry_id", "transfer_id", "counterparty_account_id", "amount",
                                    "balance_after", "reference", "created_at"}, f"{st} {p1}")
    transfer(bank, a, bank.alice_usd, bank.bob_usd, 1)  # a new entry arrives
    st, _, p2 = request("GET", f"/accounts/{bank.alice_usd}/entries?page_size=2&before_entry_id="
                        f"{p1['next_before_entry_id']}", token=tok[a])
    check("the next page from the cursor is not shifted by the new entry", st == 200 and ok and
          p2["entries"][0]["entry_id"] < p1["entries"][1]["entry_id"] and
          p2["entries"][0]["balance_after"] == p1["entries"][1]["balance_after"] - p1["entries"][1]["amount"],
          f"{st} {p2}")
    expect("entries of another user's account 401", request(
        "GET", f"/accounts/{bank.alice_usd}/entries", token=tok[b]), 401, "PB010")
    st, _, body = request("GET", f"/accounts/{bank.alice_usd}/entries", token=tok[banker])
    check("a banker reads any statement", st == 200 and len(body["entries"]) > 2, f"{st} {body}")
    expect("entries page_size 101 400", request(
        "GET", f"/accounts/{bank.alice_usd}/entries?page_size=101", token=tok[a]), 400, "22023", "page_size")
    expect("entries bad cursor 400", request(
        "GET", f"/accounts/{bank.alice_usd}/entries?before_entry_id=x", token=tok[a]), 400, "22023", "before_entry_id")
    st, _, body = request("GET", f"/accounts/{bank.bob_usd}/transfers?page_size=1", token=tok[b])
    check("GET /accounts/{id}/transfers: newest first", st == 200 and len(body["transfers"]) == 1 and
          body["transfers"][0]["amount"] == 1 and body["next_before_transfer_id"] is not None, f"{st} {body}")
    st, _, body = request("GET", f"/accounts/{bank.alice_usd}/balance?at=2000-01-01T00:00:00Z", token=tok[a])
    check("GET /accounts/{id}/balance before the account: 0", st == 200 and body.get("balance") == 0, f"{st} {body}")
    st, _, acc = request("GET", f"/accounts/{bank.alice_usd}", token=tok[a])
    st2, _, body = request("GET", f"/accounts/{bank.alice_usd}/balance?at=2999-01-01T00:00:00Z", token=tok[a])
    check("GET /accounts/{id}/balance now: the balance", st2 == 200 and body.get("balance") == acc.get("balance"),
          f"{st2} {body} {acc}")
    expect("balance at a malformed time 400", request(
        "GET", f"/accounts/{bank.alice_usd}/balance?at=yesterday", token=tok[a]), 400, "22023", "at")

    st, _, h = request("POST", "/holds", body={"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd,
                                               "amount": 40, "currency": "USD", "reference": "keys"}, token=tok[a])
    check("POST /holds 200 pending", st == 200 and h.get("status") == "pending", f"{st} {h}")
    st, _, acc2 = request("GET", f"/accounts/{bank.alice_usd}", token=tok[a])
    check("a hold leaves the balance, lowers the available", acc2["balance"] == acc["balance"] and
          acc2["available"] == acc2["balance"] - 40, f"{acc} {acc2}")
    st, _, body = request("GET", f"/holds/{h['id']}", token=tok[b])
    check("GET /holds/{id} by the receiver 200", st == 200 and body.get("amount") == 40, f"{st} {body}")
    expect("POST /holds/{id}/post by the receiver 401", request("POST", f"/holds/{h['id']}/post", body={},
                                                               token=tok[b]), 401, "PB010")
    expect("POST /holds/{id}/post more than held 422", request("POST", f"/holds/{h['id']}/post",
                                                              body={"amount": 41}, token=tok[a]), 422, "PB022")
    st, _, body = request("POST", f"/holds/{h['id']}/post", body={"amount": 30}, token=tok[a])
    check("POST /holds/{id}/post 200: less than held", st == 200 and body["transfer"]["amount"] == 30 and
          body["transfer"]["reference"] == "keys" and
          body["from_account"]["available"] == body["from_account"]["balance"], f"{st} {body}")
    expect("posting twice 409", request("POST", f"/holds/{h['id']}/post", token=tok[a]), 409, "PB020")
    expect("voiding a posted hold 409", request("POST", f"/holds/{h['id']}/void", token=tok[a]), 409, "PB020")
    st, _, h2 = request("POST", "/holds", body={"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd,
                                                "amount": 5, "currency": "USD", "timeout_seconds": 60}, token=tok[a])
    st, _, body = request("POST", f"/holds/{h2['id']}/void", token=tok[a])
    check("POST /holds/{id}/void 200", st == 200 and body.get("status") == "voided", f"{st} {body}")
    expect("POST /holds overdraft 422", request("POST", "/holds", body={
        "from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd, "amount": 10 ** 12, "currency": "USD"},
        token=tok[a]), 422, "PB004")
    expect("POST /holds timeout 0 400", request("POST", "/holds", body={
        "from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd, "amount": 1, "currency": "USD",
        "timeout_seconds": 0}, token=tok[a]), 400, "22023", "timeout_seconds")
    expect("GET /holds/{id} missing 404", request("GET", "/holds/999999999", token=tok[a]), 404, "P0002")

    items = [{"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd, "amount": n, "currency": "USD"}
             for n in (1, 2, 3)]
    st, _, body = request("POST", "/transfers/batch", body={"transfers": items}, token=tok[a])
    check("POST /transfers/batch 200: the transfers in item order", st == 200 and
          [x["amount"] for x in body["transfers"]] == [1, 2, 3], f"{st} {body}")
    st, _, before = request("GET", f"/accounts/{bank.alice_usd}", token=tok[a])
    bad = items + [dict(items[0], amount=10 ** 12)]
    st, _, body = request("POST", "/transfers/batch", body={"transfers": bad}, token=tok[a])
    expect("a batch with an overdraft 422 naming the item", (st, _, body), 422, "PB004")
    check("the error names the failing item", "item 3" in body.get("error", ""), f"{body}")
    st, _, after = request("GET", f"/accounts/{bank.alice_usd}", token=tok[a])
    check("a refused batch moves nothing", after.get("balance") == before.get("balance"), f"{before} {after}")
    expect("a batch from another user's account 401", request("POST", "/transfers/batch", body={"transfers": [
        dict(items[0], from_account_id=bank.bob_usd, to_account_id=bank.alice_usd)]}, token=tok[a]), 401, "PB010")
    expect("an empty batch 400", request("POST", "/transfers/batch", body={"transfers": []}, token=tok[a]),
           400, "PB023")
    expect("a batch item without its currency 400", request("POST", "/transfers/batch", body={"transfers": [
        {"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd, "amount": 1}]}, token=tok[a]),
        400, "22023", "currency")
    problems = psql("SELECT count(*) FROM pgbank.check_ledger()").strip()
    check("the ledger's invariants hold after the HTTP tests", problems == "0", problems)


def test_roleless(bank):
    """Every bank route checks the role it needs: a user without roles is
    refused (403) and nothing changes; it may still sign in and out."""
    tok = roleless_token(f"norole_{TAG}")
    check("a user without roles still signs in", tok is not None, "")
    for label, method, path, body in [
            ("POST /accounts", "POST", "/accounts", {"currency": "USD"}),
            ("GET /accounts", "GET", "/accounts?page_id=1&page_size=5", None),
            ("GET /accounts/{id}", "GET", f"/accounts/{bank.alice_usd}", None),
            ("POST /transfers", "POST", "/transfers",
             {"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd, "amount": 1, "currency": "USD"}),
            ("PATCH /v1/update_user", "PATCH", "/v1/update_user",
             {"username": f"norole_{TAG}", "full_name": "No Role"}),
            ("POST /deposits", "POST", "/deposits", {"account_id": bank.alice_usd, "amount": 1, "reference": "x"}),
            ("POST /withdrawals", "POST", "/withdrawals", {"account_id": bank.alice_usd, "amount": 1, "reference": "x"}),
            ("POST /transfers/batch", "POST", "/transfers/batch", {"transfers": []}),
            ("GET /transfers/{id}", "GET", "/transfers/1", None),
            ("GET /accounts/{id}/transfer_by_key", "GET", f"/accounts/{bank.alice_usd}/transfer_by_key?idempotency_key=k", None),
            ("GET /accounts/{id}/entries", "GET", f"/accounts/{bank.alice_usd}/entries", None),
            ("GET /accounts/{id}/transfers", "GET", f"/accounts/{bank.alice_usd}/transfers", None),
            ("GET /accounts/{id}/balance", "GET", f"/accounts/{bank.alice_usd}/balance?at=2024-01-01T00:00:00Z", None),
            ("POST /holds", "POST", "/holds", {"from_account_id": bank.alice_usd, "to_account_id": bank.bob_usd,
                                               "amount": 1, "currency": "USD"}),
            ("GET /holds/{id}", "GET", "/holds/1", None),
            ("POST /holds/{id}/post", "POST", "/holds/1/post", {}),
            ("POST /holds/{id}/void", "POST", "/holds/1/void", None)]:
        expect(f"{label} without a role 403", request(method, path, body=body, token=tok), 403, "42501")
    check("a user without roles opened no account",
          psql(f"SELECT count(*) FROM pgbank.accounts WHERE owner = 'norole_{TAG}'") == "0", "")


def main():
    helpers.SHIM = front()
    try:
        bank = Bank()
        test_accounts(bank)
        test_transfers(bank)
        test_ledger(bank)
        test_roleless(bank)
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
