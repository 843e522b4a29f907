"""The pool's coalescing of POST /transfers (shim/pool.c, PGBANK_COALESCE_WORKERS):
concurrent transfer requests that wait while one runs go together into one
statement (pgbank.api_transfer_each), one commit. Each request must still
get exactly the answer it gets alone: the same statuses, the same error
bodies; money moves once per idempotency key; the ledger balances.

The scenario holds a lock on the paying account, so the first request waits
inside PostgreSQL while the others queue behind the coalescing bound, then
lets go. It runs against a shim that coalesces and one that does not
(PGBANK_COALESCE_WORKERS=0), and compares the two.
"""
import os
import re
import subprocess
import sys
import threading
import time

import helpers
from helpers import *  # noqa: F401,F403


class RowLock:
    """A superuser session holding the row lock of an account until released."""

    def __init__(self, account_id):
        self.proc = subprocess.Popen(
            [os.path.join(BINDIR, "psql"), "-X", "-q", "-h", RUN, "-p", PGPORT, "-U", "postgres",
             "-d", DBNAME, "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        self.proc.stdin.write(f"BEGIN; SELECT 1 FROM pgbank.accounts WHERE id = {account_id} FOR UPDATE;\n")
        self.proc.stdin.flush()
        if not until(lambda: psql("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                                  "WHERE a.application_name = 'psql' AND l.locktype = 'transactionid' "
                                  "AND a.query LIKE '%FOR UPDATE%'") != "0", timeout=5, tick=0.05):
            raise RuntimeError("the row lock was not taken")

    def release(self):
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        self.proc.wait(30)


def scenario(label, bank, shim, coalescing):
    """Ten transfers from alice's account while its row is locked: the first
    waits on the lock, the nine others queue. Returns their answers."""
    a, b = bank.alice, bank.bob
    frm, to = bank.acct[a], bank.acct[b]
    key = f"{label}-{TAG}"
    cases = [  # (who, body changes, Idempotency-Key)
        (a, {"amount": 1}, f"{key}-0"),
        (a, {"amount": 2}, f"{key}-1"),
        (a, {"amount": 3}, f"{key}-dup"),
        (a, {"amount": 3}, f"{key}-dup"),           # the same key again: the same transfer
        (a, {"amount": 100000}, f"{key}-over"),     # overdraft: 422 PB004
        (b, {}, f"{key}-theirs"),                   # bob paying from alice's account: 401 PB010
        (a, {"currency": "EUR"}, f"{key}-eur"),     # currency mismatch: 400 PB003
        (a, {"amount": "x"}, f"{key}-bad"),         # malformed amount: 400 22023 amount
        (a, {"amount": 4}, None),                   # no key
        (a, {"amount": 5}, f"{key}-5"),
    ]
    answers = [None] * len(cases)

    def send(i):
        who, change, k = cases[i]
        body = {"from_account_id": frm, "to_account_id": to, "amount": 10, "currency": "USD"}
        body.update(change)
        answers[i] = request("POST", "/transfers", body=body, token=bank.tok[who],
                             headers={"Idempotency-Key": k} if k else None, port=shim.port)

    before = {n: metric(shim.port, n) for n in ("pgbank_pool_coalesced_statements_total",
                                                 "pgbank_pool_coalesced_requests_total")}
    lock = RowLock(frm)
    threads = [threading.Thread(target=send, args=(0,))]
    threads[0].start()
    wait_for_lock_waiters(1)        # the first one is in PostgreSQL, waiting on the lock
    for i in range(1, len(cases)):
        threads.append(threading.Thread(target=send, args=(i,)))
        threads[-1].start()
        time.sleep(0.02)            # in this order
    queued_name = "pgbank_pool_coalesce_queued" if coalescing else "pgbank_pool_queued"
    deadline = time.time() + 10
    queued = None
    while time.time() < deadline:
        queued = metric(shim.port, queued_name)
        if coalescing and queued == len(cases) - 1:
            break
        if not coalescing and metric(shim.port, "pgbank_pool_busy") == 4:
            break
        time.sleep(0.05)
    if coalescing:
        check(f"{label}: nine requests wait behind the coalescing bound", queued == len(cases) - 1,
              f"queued {queued}")
    lock.release()
    for t in threads:
        t.join(30)
    if coalescing:
        stmts = metric(shim.port, "pgbank_pool_coalesced_statements_total") - \
            before["pgbank_pool_coalesced_statements_total"]
        reqs = metric(shim.port, "pgbank_pool_coalesced_requests_total") - \
            before["pgbank_pool_coalesced_requests_total"]
        check(f"{label}: the nine ran as one statement", stmts == 1 and reqs == len(cases) - 1,
              f"statements {stmts}, requests {reqs}")
    return cases, answers


def test_coalescing(bank):
    shims = {"coalesced": Shim(PGBANK_COALESCE_WORKERS=1), "alone": Shim(PGBANK_COALESCE_WORKERS=0)}
    results = {}
    try:
        for label, shim in shims.items():
            balance = int(psql(f"SELECT balance FROM pgbank.accounts WHERE id = {bank.acct[bank.alice]}"))
            cases, answers = scenario(label, bank, shim, label == "coalesced")
            results[label] = answers
            st = [x[0] for x in answers]
            check(f"{label}: statuses as alone", st == [200, 200, 200, 200, 422, 401, 400, 400, 200, 200],
                  f"{st}")
            ok = [x[2] for x in answers if x[0] == 200]
            check(f"{label}: every success answers a TransferTxResult",
                  all(set(x) == {"transfer", "from_account", "to_account", "from_entry", "to_entry"} and
                      set(x["transfer"]) == TRANSFER_KEYS for x in ok), f"{ok}")
            check(f"{label}: the same Idempotency-Key answers the same transfer",
                  answers[2][2]["transfer"]["id"] == answers[3][2]["transfer"]["id"], f"{answers[2:4]}")
            ids = {x["transfer"]["id"] for x in ok}
            moved = sum(c[1].get("amount", 10) for c, x in zip(cases, answers) if x[0] == 200) - 3
            after = int(psql(f"SELECT balance FROM pgbank.accounts WHERE id = {bank.acct[bank.alice]}"))
            check(f"{label}: money moved once per transfer", len(ids) == 5 and after == balance - moved,
                  f"{len(ids)} transfers, {balance} -> {after}, moved {moved}")
            rows = psql(f"SELECT count(*) FROM pgbank.transfers WHERE idempotency_key LIKE '{label}-{TAG}-%'")
            check(f"{label}: one transfer row per key", rows == "4", f"{rows}")
        # the bodies but for the numbers in details (a balance, which the
        # two runs' orders set differently)
        def masked(body):
            return dict(body, details=re.sub(r"[0-9]+", "N", body.get("details") or ""))
        for i, (c, s) in enumerate(zip(results["coalesced"], results["alone"])):
            if c[0] != 200:
                check(f"request {i}: the coalesced error body is the one alone", masked(c[2]) == masked(s[2]),
                      f"{c[2]} != {s[2]}")
        problems = psql("SELECT count(*) FROM pgbank.check_ledger()")
        check("the ledger balances after coalesced transfers", problems == "0", f"{problems} problems")
    finally:
        for shim in shims.values():
            rc = shim.stop()
            check("the shim exits 0 on SIGTERM", rc == 0, f"exit {rc}")


def main():
    helpers.SHIM = Shim()
    try:
        bank = Bank()
        bank.acct = {}
        for n in (bank.alice, bank.bob):
            st, _, acc = request("POST", "/accounts", body={"currency": "USD"}, token=bank.tok[n])
            bank.acct[n] = acc.get("id")
        request("POST", "/deposits", body={"account_id": bank.acct[bank.alice], "amount": 1000,
                                           "reference": "coalesce test"}, token=bank.tok[bank.banker])
        test_coalescing(bank)
    finally:
        stop_front()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
