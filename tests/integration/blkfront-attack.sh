# SPDX-License-Identifier: GPL-2.0-only
# td-blkfront attack against a real tapdisk: every malformed request is
# refused (on a writable and on a read-only VBD, with and without indirect
# and persistent grants, in each ABI), the data under rejected writes is
# unchanged, and the VBD keeps serving. Then --overrun: a producer index
# past the ring kills that ring only; other queues, other connections and
# another VBD keep serving correct data.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk td-blkfront

create() {
	local dev m p
	dev=$(tap-ctl create "$@") || fail "tap-ctl create $*"
	m=${dev##*tapdev}
	p=$(tap-ctl list -m "$m" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
	[ -n "$p" ] || fail "no pid for minor $m"
	echo "$p $m"
}

truncate -s 32M "$TD_TMP/a.raw" "$TD_TMP/b.raw"
read -r pa ma < <(create -a "aio:$TD_TMP/a.raw")
read -r pb mb < <(create -a "aio:$TD_TMP/b.raw")
read -r pr mr < <(create -R -a "aio:$TD_TMP/b.raw")

run_attack() {
	local out
	out=$(td-blkfront "$@" attack) || { echo "$out"; fail "attack $*"; }
	echo "$out"
	grep -q '^FAIL' <<<"$out" && fail "attack $*: a case failed"
	grep -q '^attack: [1-9][0-9]* passed, 0 failed' <<<"$out" ||
		fail "attack $*: no summary"
	ATTACK_OUT=$out
}

# --- writable VBD, several feature sets ---
run_attack -p "$pa" -m "$ma"
for c in "nr_segments 0" "nr_segments 12 without" "above the advertised max" \
	"indirect pages fewer" "first_sect > last_sect" "last_sect 8" \
	"crossing the disk end" "wraps around 2^64" "unknown op 200" \
	"grant ref at the memfd end" "indirect page grant ref out of range" \
	"secure discard when not advertised"; do
	grep -q "^PASS .*$c" <<<"$ATTACK_OUT" || fail "case '$c' not passed"
done
grep -q '^PASS the VBD still serves correct data' <<<"$ATTACK_OUT" ||
	fail "no final data check"
grep -q '^SKIP write to a read-only VBD: the VBD is writable' \
	<<<"$ATTACK_OUT" || fail "read-only case not skipped with its reason"
run_attack -p "$pa" -m "$ma" -o 4 -q 2 -i 0 -P off -a x86_32
run_attack -p "$pa" -m "$ma" -o 1 -q 3 -i 256 -P on -a x86_64

# --- read-only VBD: writes, barriers are refused; data unchanged ---
run_attack -p "$pr" -m "$mr"
grep -q '^PASS write to a read-only VBD: ERROR' <<<"$ATTACK_OUT" ||
	fail "write to read-only VBD not refused"
grep -q '^PASS barrier write to a read-only VBD: ERROR' <<<"$ATTACK_OUT" ||
	fail "barrier to read-only VBD not refused"
grep -q '^PASS the read-only VBD still serves the same data' \
	<<<"$ATTACK_OUT" || fail "read-only data check missing"

# --- overrun: queue 0 dies, queue 1, a new connection, VBD b serve ---
out=$(td-blkfront -p "$pa" -m "$ma" -q 2 attack --overrun) ||
	{ echo "$out"; fail "attack --overrun"; }
echo "$out"
grep -q '^PASS queue 0: producer index .* consumed nothing' <<<"$out" ||
	fail "overrun: no check that nothing was consumed"
grep -q '^PASS queue 1 of the same connection still serves' <<<"$out" ||
	fail "overrun: other queue not checked"
grep -q '^attack --overrun: OK' <<<"$out" || fail "overrun not OK"
grep -q 'overruns the ring' "$TAPDISK_RUN_DIR/tapdisk.log" 2>/dev/null ||
	echo "note: tapdisk log has no overrun line" >&2
td-blkfront -p "$pb" -m "$mb" verify --size 4m --ops 200 ||
	fail "another VBD after the overrun"
td-blkfront -p "$pa" -m "$ma" -o 2 -i 256 verify --size 4m --ops 200 ||
	fail "the attacked VBD after the overrun"
kill -0 "$pa" || fail "tapdisk $pa died"
exit 0
