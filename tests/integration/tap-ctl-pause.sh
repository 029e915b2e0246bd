# SPDX-License-Identifier: GPL-2.0-only
# pause/unpause with the real binaries: on the same leaf, onto a copy of
# the file (the snapshot/migration pattern of SM), and onto a leaf of
# another size, which must be refused while the VBD stays paused.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk python3

IMG=$TD_TMP/disk.raw
COPY=$TD_TMP/copy.raw
BIG=$TD_TMP/big.raw
make_pattern_file "$IMG" 4 1
cp "$IMG" "$COPY"
make_pattern_file "$BIG" 8 2

dev=$(tap-ctl create -a "aio:$IMG") || fail "create"
minor=${dev##*tapdev}
pid=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
[ -n "$pid" ] || fail "created VBD not listed"

state() {
	tap-ctl list -p "$pid" -m "$minor" |
		sed -n 's/.* state=\(0x[0-9a-f]*\|0\).*/\1/p'
}
args() {
	tap-ctl list -p "$pid" -m "$minor" | sed -n 's/.* args=//p'
}

# Same leaf.
tap-ctl pause -p "$pid" -m "$minor" || fail "pause"
[ "$(state)" = 0x20 ] || fail "paused state is '$(state)', not 0x20"
tap-ctl stats -p "$pid" -m "$minor" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["state"] == "paused" and s["images"] == [], s
' || fail "stats of a paused VBD"
# Pausing a paused VBD is fine (SM may retry).
tap-ctl pause -p "$pid" -m "$minor" -t 5 || fail "second pause"
tap-ctl unpause -p "$pid" -m "$minor" || fail "unpause"
[ "$(state)" = 0 ] || fail "resumed state is '$(state)'"
[ "$(args)" = "aio:$IMG" ] || fail "args after plain unpause: $(args)"

# Onto a copy: a new leaf of the same size.
tap-ctl pause -p "$pid" -m "$minor" -t 10 || fail "pause -t"
tap-ctl unpause -p "$pid" -m "$minor" -a "aio:$COPY" || fail "unpause -a"
[ "$(state)" = 0 ] || fail "state after unpause -a: '$(state)'"
[ "$(args)" = "aio:$COPY" ] || fail "args after unpause -a: $(args)"
tap-ctl stats -p "$pid" -m "$minor" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["images"][0]["path"] == sys.argv[1], s
' "$COPY" || fail "stats after unpause -a"

# Onto a leaf of another size: refused, one line, still paused.
tap-ctl pause -p "$pid" -m "$minor" || fail "pause before bad unpause"
one_line_error tap-ctl unpause -p "$pid" -m "$minor" -a "aio:$BIG"
grep -q "^tap-ctl unpause: .*minor $minor" "$TD_TMP/err.out" ||
	fail "unpause error does not name the minor"
[ "$(state)" = 0x20 ] || fail "after a refused unpause state is '$(state)'"
[ "$(args)" = "aio:$COPY" ] || fail "refused unpause changed args: $(args)"
# A missing new leaf: same.
one_line_error tap-ctl unpause -p "$pid" -m "$minor" -a "aio:$TD_TMP/nope"
[ "$(state)" = 0x20 ] || fail "state after missing leaf '$(state)'"
# And then the original leaf is still fine.
tap-ctl unpause -p "$pid" -m "$minor" || fail "unpause after refusal"
[ "$(state)" = 0 ] || fail "final state '$(state)'"

# Unpausing a running VBD is an error.
one_line_error tap-ctl unpause -p "$pid" -m "$minor"

tap-ctl destroy -p "$pid" -m "$minor" || fail "destroy"
wait_for "! kill -0 $pid 2>/dev/null"
echo "PASS"
