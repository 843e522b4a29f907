#!/usr/bin/env bash
# Identity under concurrency, on the cluster scripts/setup.sh prepared:
# 1. Many simultaneous wrong-password logins of one user: exactly
#    pgbank.login_max_failures of them get to check the password (28P01),
#    every other one is throttled (PB015), and the counters survive the
#    failed logins' rollbacks. Likewise for one client address spraying
#    many usernames, real or not: exactly the address's limit of them are
#    checked.
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

echo "== throttle: 20 concurrent logins of different users from one address, its limit 4"
ip=203.0.113.9
sql "SELECT pgbank.login_throttle_clear_address('$ip')" >/dev/null
for i in $(seq 1 10); do
	sql "SELECT 1 FROM pgbank.create_user('spr${i}_$run', 'right-password', 'S', 'spr${i}_$run@example.com')" >/dev/null
done
for i in $(seq 1 20); do
	name=spr${i}_$run				# 11 to 20 do not exist
	"${PSQL[@]}" -c "SET pgbank.login_address_max_failures = 4" \
		-c "SELECT pgbank.login('$name', 'wrong-password', NULL, '$ip')" >"$tmp/spr.$i" 2>&1 &
done
wait
checked=$(cat "$tmp"/spr.* | grep -c 'wrong password\|not found' || true)
throttled=$(cat "$tmp"/spr.* | grep -c "too many failed logins from address $ip" || true)
echo "checked: $checked, throttled: $throttled"
[ "$checked" -eq 4 ] || fail "expected 4 logins checked from $ip, got $checked"
[ "$throttled" -eq 16 ] || fail "expected 16 throttled from $ip, got $throttled"
sql "SELECT failures FROM pgbank.login_throttle_addresses() WHERE client_ip = '$ip'" | grep -qx 4 ||
	fail "the throttle does not show 4 failures for $ip"
sql "SELECT pgbank.login_throttle_clear_address('$ip')" >/dev/null
sql "SELECT count(pgbank.login_throttle_clear(username)) FROM pgbank.login_throttle()
	WHERE username LIKE 'spr%\\_$run'" >/dev/null

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
# Only its owner changes a password, so the user itself does, with a token
# of a session that the change then ends too.
current=right-password
for round in 1 2 3; do
	old=pw$round-old
	new=pw$round-new
	token=$(sql "SELECT access_token FROM pgbank.login('$u', '$current', 'changer')")
	sql "SELECT 1 FROM pgbank.update_user('$token', '$u', password => '$old')" >/dev/null
	token=$(sql "SELECT access_token FROM pgbank.login('$u', '$old', 'changer')")
	for i in $(seq 1 6); do
		"${PSQL[@]}" -c "SELECT 1 FROM pgbank.login('$u', '$old', 'old')" >/dev/null 2>&1 &
	done
	"${PSQL[@]}" -v ON_ERROR_STOP=1 \
		-c "SELECT 1 FROM pgbank.update_user('$token', '$u', password => '$new')" >/dev/null &
	wait
	sql "SELECT pgbank.login_throttle_clear('$u')" >/dev/null
	current=$new
done
# every change happened: the last password is the one that works
sql "SELECT 1 FROM pgbank.login('$u', '$current', 'check')" >/dev/null ||
	fail "the password changes did not all happen"
open_old=$(sql "SELECT count(*) FROM pgbank.sessions WHERE username = '$u' AND user_agent = 'old' AND NOT is_blocked")
all_old=$(sql "SELECT count(*) FROM pgbank.sessions WHERE username = '$u' AND user_agent = 'old'")
echo "sessions opened with an old password: $all_old, still open: $open_old"
[ "$open_old" -eq 0 ] || fail "$open_old sessions opened with an old password survived its change"
echo "ok"
