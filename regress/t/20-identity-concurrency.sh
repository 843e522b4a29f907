#!/usr/bin/env bash
# Identity under concurrency, on the cluster scripts/setup.sh prepared:
# 1. Many simultaneous wrong-password logins of one user: exactly
#    pgbank.login_max_failures of them get to check the password (28P01),
#    every other one is throttled (PB015), and the counters survive the
#    failed logins' rollbacks.
# 2. Renewals racing a logout of the same session: afterwards no access
#    token of the blocked session is still valid.
# 3. Logins with the old password racing a password change: afterwards no
#    session opened with the old password is still open.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

PSQL=("$(pg_bindir)/psql" -X -q -tA)
fail() { echo "FAIL: $*"; exit 1; }
sql() { "${PSQL[@]}" -v ON_ERROR_STOP=1 -c "$1"; }
run=$$_$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

max=$(sql "SHOW pgbank.login_max_failures")
echo "== throttle: 20 concurrent wrong logins, login_max_failures=$max"
u=thr_$run
sql "SELECT 1 FROM pgbank.create_user('$u', 'right-password', 'T', '$u@example.com')" >/dev/null
for i in $(seq 1 20); do
	"${PSQL[@]}" -c "SELECT pgbank.login('$u', 'wrong-password')" >"$tmp/thr.$i" 2>&1 &
done
wait
wrong=$(cat "$tmp"/thr.* | grep -c 'wrong password' || true)
throttled=$(cat "$tmp"/thr.* | grep -c 'too many failed logins' || true)
echo "wrong password: $wrong, throttled: $throttled"
[ "$wrong" -eq "$max" ] || fail "expected $max password checks, got $wrong"
[ "$throttled" -eq $((20 - max)) ] || fail "expected $((20 - max)) throttled, got $throttled"
out=$("${PSQL[@]}" -c "SELECT pgbank.login('$u', 'right-password')" 2>&1 || true)
echo "$out" | grep -q 'too many failed logins' || fail "right password not throttled: $out"
sql "SELECT failures FROM pgbank.login_throttle() WHERE username = '$u'" | grep -qx "$max" ||
	fail "throttle does not show $max failures"
sql "SELECT pgbank.login_throttle_clear('$u')" >/dev/null

echo "== renewals racing logout"
for round in 1 2 3 4 5; do
	refresh=$(sql "SELECT refresh_token FROM pgbank.login('$u', 'right-password')")
	for i in $(seq 1 8); do
		"${PSQL[@]}" -c "SELECT 1 FROM pgbank.renew_access_token('$refresh')" >/dev/null 2>&1 &
	done
	"${PSQL[@]}" -c "SELECT pgbank.logout('$refresh')" >/dev/null &
	wait
done
live=$(sql "SELECT count(*) FROM pgbank.access_tokens t JOIN pgbank.sessions s ON s.id = t.session_id
	WHERE s.username = '$u' AND s.is_blocked AND t.revoked_at IS NULL")
blocked=$(sql "SELECT count(*) FROM pgbank.sessions WHERE username = '$u' AND is_blocked")
echo "blocked sessions: $blocked, their live access tokens: $live"
[ "$blocked" -eq 5 ] || fail "expected 5 blocked sessions"
[ "$live" -eq 0 ] || fail "$live access tokens of blocked sessions survived the logout"

echo "== logins with the old password racing a password change"
admin=adm_$run
sql "SELECT 1 FROM pgbank.create_user('$admin', 'admin-password', 'A', '$admin@example.com')" >/dev/null
sql "SELECT pgbank.make_admin('$admin')" >/dev/null
admin_token=$(sql "SELECT access_token FROM pgbank.login('$admin', 'admin-password')")
for round in 1 2 3; do
	old=pw$round-old
	new=pw$round-new
	sql "SELECT 1 FROM pgbank.update_user('$admin_token', '$u', password => '$old')" >/dev/null
	for i in $(seq 1 6); do
		"${PSQL[@]}" -c "SELECT 1 FROM pgbank.login('$u', '$old', 'old')" >/dev/null 2>&1 &
	done
	"${PSQL[@]}" -v ON_ERROR_STOP=1 \
		-c "SELECT 1 FROM pgbank.update_user('$admin_token', '$u', password => '$new')" >/dev/null &
	wait
	sql "SELECT pgbank.login_throttle_clear('$u')" >/dev/null
done
open_old=$(sql "SELECT count(*) FROM pgbank.sessions WHERE username = '$u' AND user_agent = 'old' AND NOT is_blocked")
all_old=$(sql "SELECT count(*) FROM pgbank.sessions WHERE username = '$u' AND user_agent = 'old'")
echo "sessions opened with an old password: $all_old, still open: $open_old"
[ "$open_old" -eq 0 ] || fail "$open_old sessions opened with an old password survived its change"
echo "ok"
