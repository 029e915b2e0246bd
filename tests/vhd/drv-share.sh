#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Two VBDs on two children of one parent in ONE tapdisk process share the
# read-only parent: tap-ctl spawn, then attach + open twice on that pid.
# Stats show the parent (and its base) once per chain with refs=2 / refs=1,
# concurrent writes into both children through their NBD exports while the
# other reads leave each child byte-exact against its model, a pause and
# unpause of one VBD gives the parent back and takes it again, and the
# files are valid afterwards.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk vhd-util python3 nbdcopy qemu-io cmp

BASE=$TD_TMP/base.vhd
MID=$TD_TMP/mid.vhd
CA=$TD_TMP/ca.vhd
CB=$TD_TMP/cb.vhd
M=$((1 << 20))

# Socket of the NBD export of minor $2 of tapdisk $1.
nbd_sock() {
	tap-ctl list -p "$1" -m "$2" --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tapdisks"]:
    for v in t["vbds"]:
        if v["minor"] == int(sys.argv[1]):
            print(v["exports"]["nbd"]["nbd_socket"])' "$2"
}

# "path:refs" of each image in the chain of minor $2, one per line.
chain_refs() {
	tap-ctl stats -p "$1" -m "$2" --json | python3 -c '
import json, os, sys
for i in json.load(sys.stdin)["images"]:
    print("%s:%d" % (os.path.basename(i["path"]), i["refs"]))'
}

# Writes byte $2 over [$3, +$4) of export $1 and of model file $5.
put() {
	qemu-io -f raw -c "write -P $2 $3 $4" "nbd+unix:///?socket=$1" \
		>/dev/null || return 1
	python3 - "$5" "$2" "$3" "$4" <<'PY'
import sys
f, b, off, n = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4])
with open(f, "r+b") as o:
    o.seek(off)
    o.write(bytes([b]) * n)
PY
}

check() {
	rm -f "$TD_TMP/out"
	nbdcopy "nbd+unix:///?socket=$1" "$TD_TMP/out" || fail "copy out ($3)"
	cmp "$2" "$TD_TMP/out" || fail "export differs from its model ($3)"
}

# base (full pattern) <- mid (a few runs) <- {ca, cb}
make_pattern_file "$TD_TMP/src" 16 5
vhd-util create -n "$BASE" -s 16 || fail "create base"
vhd-util snapshot -n "$MID" -p "$BASE" || fail "snapshot mid"
pid=$(tap-ctl spawn) || fail "spawn"
tap-ctl attach -p "$pid" -m 1 || fail "attach 1"
tap-ctl open -p "$pid" -m 1 -a "vhd:$BASE" || fail "open base"
nbdcopy "$TD_TMP/src" "nbd+unix:///?socket=$(nbd_sock "$pid" 1)" ||
	fail "fill base"
tap-ctl close -p "$pid" -m 1 || fail "close base"
tap-ctl open -p "$pid" -m 1 -a "vhd:$MID" || fail "open mid"
cp "$TD_TMP/src" "$TD_TMP/ma"
put "$(nbd_sock "$pid" 1)" 0x5a $((3 * M + 4096)) $((512 << 10)) \
	"$TD_TMP/ma" || fail "write mid"
tap-ctl close -p "$pid" -m 1 || fail "close mid"
cp "$TD_TMP/ma" "$TD_TMP/mb"
vhd-util snapshot -n "$CA" -p "$MID" || fail "snapshot ca"
vhd-util snapshot -n "$CB" -p "$MID" || fail "snapshot cb"

# Both children in the same process.
tap-ctl open -p "$pid" -m 1 -a "vhd:$CA" || fail "open ca"
tap-ctl attach -p "$pid" -m 2 || fail "attach 2"
tap-ctl open -p "$pid" -m 2 -a "vhd:$CB" || fail "open cb"
[ "$(tap-ctl list -p "$pid" | grep -c "pid=$pid minor=")" = 2 ] ||
	fail "not two VBDs in tapdisk $pid: $(tap-ctl list)"
ra=$(chain_refs "$pid" 1 | tr '\n' ' ')
rb=$(chain_refs "$pid" 2 | tr '\n' ' ')
[ "$ra" = "ca.vhd:1 mid.vhd:2 base.vhd:1 " ] ||
	fail "chain of minor 1: '$ra' (parent not shared?)"
[ "$rb" = "cb.vhd:1 mid.vhd:2 base.vhd:1 " ] ||
	fail "chain of minor 2: '$rb'"
SA=$(nbd_sock "$pid" 1)
SB=$(nbd_sock "$pid" 2)

# Concurrent writes into each child while the other one is read whole.
for i in 0 1 2 3; do
	put "$SA" $((0x10 + i)) $((i * 3 * M + 8192)) $((256 << 10)) \
		"$TD_TMP/ma" &
	pa=$!
	nbdcopy "nbd+unix:///?socket=$SB" "$TD_TMP/rb$i" &
	pr=$!
	put "$SB" $((0x20 + i)) $((i * 3 * M + 4096)) $((768 << 10)) \
		"$TD_TMP/mb" || fail "write cb $i"
	wait "$pa" || fail "write ca $i"
	wait "$pr" || fail "read cb during writes $i"
done
check "$SA" "$TD_TMP/ma" "ca after concurrent writes"
check "$SB" "$TD_TMP/mb" "cb after concurrent writes"
stats_fwd=$(tap-ctl stats -p "$pid" -m 2 --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["images"][1]["reads"])')
[ "$stats_fwd" -gt 0 ] || fail "shared parent served no reads"

# Pausing one VBD gives its reference back; unpausing takes it again.
tap-ctl pause -p "$pid" -m 1 || fail "pause 1"
[ "$(chain_refs "$pid" 2 | sed -n 2p)" = "mid.vhd:1" ] ||
	fail "parent refs while minor 1 is paused: $(chain_refs "$pid" 2)"
tap-ctl unpause -p "$pid" -m 1 || fail "unpause 1"
[ "$(chain_refs "$pid" 2 | sed -n 2p)" = "mid.vhd:2" ] ||
	fail "parent not shared again after unpause: $(chain_refs "$pid" 2)"
check "$(nbd_sock "$pid" 1)" "$TD_TMP/ma" "ca after unpause"

tap-ctl close -p "$pid" -m 1 || fail "close ca"
check "$SB" "$TD_TMP/mb" "cb after ca closed"
tap-ctl destroy -p "$pid" -m 2 || fail "destroy cb"
tap-ctl detach -p "$pid" -m 1 2>/dev/null || :
for f in "$CA" "$CB" "$MID" "$BASE"; do
	vhd-util check -n "$f" || fail "vhd-util check $f"
done
echo "ok: one parent shared by two VBDs in tapdisk $pid"
