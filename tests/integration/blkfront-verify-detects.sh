# SPDX-License-Identifier: GPL-2.0-only
# Negative control for td-blkfront verify: while it runs, a second VBD on
# the same image file overwrites the tested range, so verify must see data
# it did not write, fail, and report the mismatches with byte offsets.
# Without this, a verify that checks nothing would pass every test.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk td-blkfront

IMG=$TD_TMP/disk.raw
truncate -s 32M "$IMG"
vbd() {
	local dev m
	dev=$(tap-ctl create -a "aio:$IMG") || fail "tap-ctl create"
	m=${dev##*tapdev}
	echo "$(tap-ctl list -m "$m" | sed -n 's/^pid=\([0-9]*\) .*/\1/p') $m"
}
read -r p1 m1 < <(vbd)
read -r p2 m2 < <(vbd)

td-blkfront -p "$p2" -m "$m2" --seed 99 bench --rw randwrite --size 4m \
	--iodepth 4 --runtime 8 >/dev/null &
writer=$!
cleanup_fn "kill $writer 2>/dev/null; wait $writer 2>/dev/null"
sleep 0.3
if td-blkfront -p "$p1" -m "$m1" verify --size 4m --ops 5000 \
	>"$TD_TMP/out" 2>"$TD_TMP/err"; then
	cat "$TD_TMP/out"
	fail "verify passed although another writer changed its data"
fi
cat "$TD_TMP/out"
head -5 "$TD_TMP/err"
grep -Eq '^verify: mismatch: read of sectors [0-9]+\.\.[0-9]+ .* bad bytes, first at byte offset [0-9]+$' \
	"$TD_TMP/err" || fail "no mismatch report with byte offsets"
grep -Eq '^verify: FAILED: .* [1-9][0-9]* mismatching reads' "$TD_TMP/out" ||
	fail "summary does not count the mismatches"
exit 0
