#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The vhd driver through the real tapdisk: tap-ctl create -a vhd:FILE,
# data in and out through the NBD export. A dynamic base filled by nbdcopy
# (then read back by qemu-img as a peer), two snapshots on top written by
# qemu-io at 4 KiB-aligned offsets (inside a block, across a block
# boundary, a whole block), the 3-deep chain read back byte-exact against
# a model, checked by vhd-util and, where FUSE works, by libvhdi's
# vhdimount; then read-only, and a dynamic disk read as zeros.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk vhd-util python3 nbdcopy qemu-io qemu-img cmp

BASE=$TD_TMP/base.vhd
MID=$TD_TMP/mid.vhd
LEAF=$TD_TMP/leaf.vhd
SRC=$TD_TMP/src.raw
MODEL=$TD_TMP/model.raw
OUT=$TD_TMP/out.raw
M=$((1 << 20))

# Writes byte $1 over [$2, +$3) of the model and, through qemu-io, of the
# export at $URI.
put() {
	qemu-io -f raw -c "write -P $1 $2 $3" "$URI" >/dev/null ||
		fail "qemu-io write $*"
	python3 - "$MODEL" "$1" "$2" "$3" <<'PY'
import sys
f, b, off, n = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4])
with open(f, "r+b") as o:
    o.seek(off)
    o.write(bytes([b]) * n)
PY
}

# Reads the whole export and compares it with the model.
check_export() {
	rm -f "$OUT"
	nbdcopy "$URI" "$OUT" || fail "copy out ($1)"
	cmp "$MODEL" "$OUT" || fail "export differs from the model ($1)"
}

destroy() {
	tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy"
}

# A fresh dynamic disk reads as zeros.
vhd-util create -n "$BASE" -s 48 || fail "create base"
nbd_create -a "vhd:$BASE"
truncate -s 48M "$MODEL"
check_export "empty dynamic disk"

# Fill it; the closed file is valid and qemu reads the same bytes.
make_pattern_file "$SRC" 48 11
nbdcopy --connections=2 --requests=16 "$SRC" "$URI" || fail "copy in"
cp "$SRC" "$MODEL"
check_export "filled base"
destroy
vhd-util check -n "$BASE" || fail "vhd-util check base"
qemu-img convert -f vpc -O raw "$BASE" "$TD_TMP/q.raw" || fail "qemu-img"
cmp "$SRC" "$TD_TMP/q.raw" || fail "qemu-img reads the base differently"

# Middle layer: partial blocks over the base.
vhd-util snapshot -n "$MID" -p "$BASE" || fail "snapshot mid"
nbd_create -a "vhd:$MID"
check_export "fresh snapshot"
put 0xa1 $((64 << 10)) $((64 << 10))          # inside block 0
put 0xa2 $((2 * M - 8192)) 16384              # across blocks 0/1
put 0xa3 $((8 * M)) $((2 * M))                # one whole block
put 0xa4 $((8 * M + 4096)) 4096               # into a full block
check_export "mid written"
destroy
vhd-util check -n "$MID" || fail "vhd-util check mid"

# Leaf: overlapping the middle layer's runs and the base.
vhd-util snapshot -n "$LEAF" -p "$MID" || fail "snapshot leaf"
nbd_create -a "vhd:$LEAF"
put 0xb1 $((96 << 10)) 8192                   # inside mid's run
put 0xb2 $((2 * M - 4096)) 8192               # across, over mid
put 0xb3 $((40 * M)) $((3 * M))               # base only, 2 blocks
check_export "leaf written"
destroy
vhd-util check -n "$LEAF" || fail "vhd-util check leaf"

# Read-only, through the whole chain again.
nbd_create -a "vhd:$LEAF" -R
check_export "read-only chain"
destroy

# libvhdi reads the chain from the files (through FUSE: optional here).
if command -v vhdimount >/dev/null && [ -c /dev/fuse ]; then
	mkdir "$TD_TMP/m"
	if timeout 20 vhdimount "$LEAF" "$TD_TMP/m" >/dev/null 2>&1; then
		if command -v fusermount3 >/dev/null; then
			cleanup_fn "fusermount3 -u '$TD_TMP/m'"
		else
			cleanup_fn "umount '$TD_TMP/m'"
		fi
		cmp "$MODEL" "$TD_TMP/m/vhdi3" ||
			fail "libvhdi reads the chain differently"
		echo "libvhdi: chain matches"
	else
		echo "vhdimount failed: no libvhdi check" >&2
	fi
fi

# A dynamic disk qemu made and wrote (exact size with a partial last
# block, creator "qem2", bitmaps all ones, no batmap) reads the same
# through us as through qemu-img; our writes into it read back in qemu.
Q=$TD_TMP/q.vhd
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$Q" 21M ||
	fail "qemu-img create"
qemu-io -f vpc -c "write -P 0x55 $((1 * M)) 300k" \
	-c "write -P 0x66 $((19 * M)) $((2 * M))" "$Q" >/dev/null ||
	fail "qemu-io write vpc"
MODEL=$TD_TMP/qmodel.raw
qemu-img convert -f vpc -O raw "$Q" "$MODEL" || fail "qemu-img convert"
nbd_create -a "vhd:$Q"
check_export "qemu-made dynamic disk"
put 0x77 $((4 * M - 4096)) 8192               # new block across 1/2
put 0x78 $((1 * M + 4096)) 4096               # into qemu's block
check_export "qemu disk written by us"
destroy
qemu-img convert -f vpc -O raw "$Q" "$TD_TMP/q2.raw" ||
	fail "qemu-img convert after our writes"
cmp "$MODEL" "$TD_TMP/q2.raw" || fail "qemu reads our writes differently"
exit 0
