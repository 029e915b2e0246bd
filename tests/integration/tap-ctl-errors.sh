# SPDX-License-Identifier: GPL-2.0-only
# Every error path of tap-ctl gives one line "tap-ctl VERB: ..." on stderr
# and a non-zero status (the errno value, as blktap's tap-ctl), while the
# daemon keeps serving its other VBDs. Includes an unprivileged caller,
# refused by the file modes and, with those opened, by tapdisk itself.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk python3 setpriv
requires_root

RUN=$TAPDISK_RUN_DIR
IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 2 1

# Runs a command that must fail with exit status $1 and one stderr line
# starting with "tap-ctl $2:".
expect_err() {
	local want=$1 verb=$2 rc n
	shift 2
	"$@" >/dev/null 2>"$TD_TMP/err.out" && fail "expected failure: $*"
	rc=$?
	n=$(wc -l <"$TD_TMP/err.out")
	cat "$TD_TMP/err.out" >&2
	[ "$n" -eq 1 ] || fail "error not one line ($n): $*"
	grep -q "^tap-ctl $verb: " "$TD_TMP/err.out" ||
		fail "error does not start with 'tap-ctl $verb:': $*"
	[ "$rc" -eq "$want" ] || fail "status $rc, expected $want: $*"
}
# errno values (Linux)
ENOENT=2 ESRCH=3 EACCES=13 EBUSY=16 EEXIST=17 EINVAL=22

# The VBD that must survive everything below.
dev=$(tap-ctl create -a ram:8M) || fail "create"
keep_minor=${dev##*tapdev}
keep_pid=$(tap-ctl list -m "$keep_minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
[ -n "$keep_pid" ] || fail "no pid for the kept VBD"

# A second tapdisk for the errors, with one attached minor.
pid=$(tap-ctl spawn) || fail "spawn"
tap-ctl attach -p "$pid" -m 40 || fail "attach"

# --- missing image, bad type, not TYPE:PATH ---
expect_err $ENOENT open tap-ctl open -p "$pid" -m 40 -a "aio:$TD_TMP/missing.img"
grep -q "missing.img" "$TD_TMP/err.out" || fail "error does not name the path"
expect_err $EINVAL open tap-ctl open -p "$pid" -m 40 -a "qcow9:$IMG"
grep -q "unknown image type" "$TD_TMP/err.out" || fail "bad type message"
expect_err $EINVAL open tap-ctl open -p "$pid" -m 40 -a "$IMG"
expect_err $EINVAL open tap-ctl open -p "$pid" -m 40 -a "aio:"
# create of a missing image leaves neither a minor file nor a tapdisk.
before=$(ls "$RUN")
expect_err $ENOENT create tap-ctl create -a "aio:$TD_TMP/missing.img"
wait_for "[ \"\$(ls $RUN)\" = \"$before\" ]" 5

# --- spawn options tap-ctl checks before starting anything ---
expect_err $EINVAL spawn tap-ctl spawn --poll-us abc
expect_err $EINVAL spawn tap-ctl spawn --poll-us 10001
grep -q "0..10000" "$TD_TMP/err.out" || fail "--poll-us error gives no range"
# tapdisk itself refuses what tap-ctl would not pass.
timeout 10 tapdisk --poll-us -1 --run-dir "$TD_TMP/rd" 2>"$TD_TMP/td.err" &&
	fail "tapdisk accepted --poll-us -1"
grep -q "bad --poll-us" "$TD_TMP/td.err" || fail "tapdisk --poll-us message"

# --- unknown pid / minor ---
expect_err $ESRCH attach tap-ctl attach -p 999999 -m 1
grep -q "999999" "$TD_TMP/err.out" || fail "error does not name the pid"
expect_err $ESRCH list tap-ctl list -p 999999
expect_err $ENOENT close tap-ctl close -p "$pid" -m 41
grep -q "minor 41" "$TD_TMP/err.out" || fail "error does not name the minor"
expect_err $ENOENT stats tap-ctl stats -p "$pid" -m 41
expect_err $ENOENT pause tap-ctl pause -p "$pid" -m 41
expect_err $ENOENT destroy tap-ctl destroy -p "$pid" -m 41
expect_err $ENOENT free tap-ctl free -m 4095

# --- wrong state: double attach, double open, detach while open ---
expect_err $EEXIST attach tap-ctl attach -p "$pid" -m 40
tap-ctl open -p "$pid" -m 40 -a "aio:$IMG" || fail "open"
expect_err $EBUSY open tap-ctl open -p "$pid" -m 40 -a "aio:$IMG"
grep -q "minor 40" "$TD_TMP/err.out" || fail "double open message"
expect_err $EBUSY detach tap-ctl detach -p "$pid" -m 40
expect_err $EINVAL unpause tap-ctl unpause -p "$pid" -m 40

# --- bad command lines ---
expect_err $EINVAL open tap-ctl open -p "$pid" -m 40
expect_err $EINVAL attach tap-ctl attach -p abc -m 1
expect_err $EINVAL attach tap-ctl attach -p "$pid" -m -5
expect_err $EINVAL attach tap-ctl attach -p "$pid" -m 1 -x
expect_err $EINVAL attach tap-ctl attach -p "$pid" -m 1 --json
expect_err $EINVAL attach tap-ctl attach -p "$pid" -m 1 extra
expect_err $EINVAL pause tap-ctl pause -p "$pid" -m 40 -t
expect_err $EINVAL pause tap-ctl pause -p "$pid" -m 40 -t soon
tap-ctl frobnicate >/dev/null 2>"$TD_TMP/err.out" && fail "unknown verb"
[ "$(wc -l <"$TD_TMP/err.out")" -eq 1 ] || fail "unknown verb: not one line"

# --- an unprivileged caller ---
mkdir -p "$TD_TMP/bin"
cp "$(command -v tap-ctl)" "$TD_TMP/bin/tap-ctl"
chmod 0711 "$TD_TMP"
chmod 0755 "$TD_TMP/bin"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# The 0700 run directory stops it before any socket.
expect_err $EACCES list nobody "$TD_TMP/bin/tap-ctl" list
expect_err $EACCES stats nobody "$TD_TMP/bin/tap-ctl" stats -p "$keep_pid" -m "$keep_minor"
# With the modes opened, tapdisk checks the peer's uid itself.
chmod 0755 "$RUN"
chmod 0666 "$RUN/tapdisk-$keep_pid.sock"
expect_err $EACCES stats nobody "$TD_TMP/bin/tap-ctl" stats -p "$keep_pid" -m "$keep_minor"
grep -q "uid 65534" "$TD_TMP/err.out" || fail "refusal does not name the uid"
chmod 0600 "$RUN/tapdisk-$keep_pid.sock"
chmod 0700 "$RUN"

# --- the daemons are still serving, the kept VBD untouched ---
tap-ctl list -p "$keep_pid" | grep -qx "pid=$keep_pid minor=$keep_minor state=0 args=ram:8M" ||
	fail "kept VBD changed: $(tap-ctl list)"
tap-ctl stats -p "$keep_pid" -m "$keep_minor" >/dev/null || fail "stats after errors"
tap-ctl list -p "$pid" -m 40 | grep -q "state=0 args=aio:$IMG" ||
	fail "second tapdisk lost its VBD"
tap-ctl destroy -p "$pid" -m 40 || fail "destroy"
tap-ctl destroy -p "$keep_pid" -m "$keep_minor" || fail "destroy kept"
echo "PASS"
