#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The vhd driver on a BLOCK DEVICE (a loop device standing in for an LVHD
# logical volume): the footer lives in the device's last sector and never
# moves, new blocks go at the end of data, nothing is truncated, and an
# allocation that would reach the footer fails with ENOSPC while the VBD
# keeps serving reads and the image stays valid. Growing the device and
# pausing/unpausing the VBD (what the storage manager does) makes room.
# The device is filled with garbage first: sectors of allocated blocks
# that were never written must still read as zeros.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires_root
requires tap-ctl tapdisk vhd-util python3 nbdcopy qemu-io losetup cmp

M=$((1 << 20))
BLK=$((2 * M))
IMG=$TD_TMP/dev.img
MODEL=$TD_TMP/model.raw
OUT=$TD_TMP/out.raw

truncate -s $((12 * M)) "$IMG" || fail "truncate"
python3 - "$IMG" <<'PY' || fail "garbage fill"
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(b"\xee" * (12 << 20))
PY
if ! LOOP=$(losetup -f --show "$IMG" 2>"$TD_TMP/loop.err"); then
	echo "SKIP: losetup cannot create a loop device here:" \
		"$(cat "$TD_TMP/loop.err")" >&2
	exit 77
fi
cleanup_fn "losetup -d $LOOP"
[ -b "$LOOP" ] || fail "$LOOP is not a block device"

# vhd-util create on an existing device (as LVHD does on a logical
# volume): written in place over the garbage, footer in the last sector.
vhd-util create -n "$LOOP" -s 64 || fail "create on $LOOP"
vhd-util check -n "$LOOP" || fail "check after create on $LOOP"
[ "$(vhd-util query -n "$LOOP" -v)" = 64 ] || fail "virtual size on $LOOP"
[ "$(dd if="$LOOP" bs=512 skip=$((12 * M / 512 - 1)) count=1 status=none |
	head -c 8)" = conectix ] || fail "footer not in the last sector"
must_fail vhd-util create -n "$LOOP" -s 4 -r
[ -b "$LOOP" ] || fail "a failed create removed $LOOP"
# Back to a device of garbage for what follows.
python3 - "$LOOP" <<'PY' || fail "garbage fill of $LOOP"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"\xee" * (12 << 20))
os.fsync(fd)
os.close(fd)
PY

# A 64 MiB dynamic VHD (32 blocks of 2 MiB) made in a file and copied onto
# the device: only its offset-0 footer copy is valid there.
vhd-util create -n "$TD_TMP/src.vhd" -s 64 || fail "create"
dd if="$TD_TMP/src.vhd" of="$LOOP" conv=notrunc,fsync status=none ||
	fail "dd onto $LOOP"
truncate -s $((64 * M)) "$MODEL"

# Image stat $1 of the VBD.
stat_of() {
	tap-ctl stats -p "$PID" -m "$MINOR" --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["images"][0][sys.argv[1]])' "$1"
}

# Writes byte $1 over [$2, +$3) of the export and of the model.
put() {
	qemu-io -f raw -c "write -P $1 $2 $3" "$URI" >"$TD_TMP/put.out" 2>&1 ||
		return 1
	grep -q '^wrote' "$TD_TMP/put.out" || return 1
	python3 - "$MODEL" "$1" "$2" "$3" <<'PY'
import sys
f, b, off, n = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4])
with open(f, "r+b") as o:
    o.seek(off)
    o.write(bytes([b]) * n)
PY
}

# A write that must fail with ENOSPC and change nothing.
put_enospc() {
	qemu-io -f raw -c "write -P $1 $2 $3" "$URI" >"$TD_TMP/put.out" 2>&1
	grep -q 'No space left on device' "$TD_TMP/put.out" ||
		{ cat "$TD_TMP/put.out" >&2; return 1; }
}

check_export() {
	rm -f "$OUT"
	nbdcopy "$URI" "$OUT" || fail "copy out ($1)"
	cmp "$MODEL" "$OUT" || fail "export differs from its model ($1)"
}

# The footer in the last sector of $LOOP, and the device size unchanged.
check_footer() {
	python3 - "$LOOP" "$1" <<'PY' || fail "footer placement ($2)"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.lseek(fd, 0, os.SEEK_END)
want = int(sys.argv[2])
if size != want:
    sys.exit("device is %d bytes, expected %d" % (size, want))
os.lseek(fd, size - 512, os.SEEK_SET)
tail = os.read(fd, 512)
if tail[:8] != b"conectix":
    sys.exit("no footer in the last sector: %r" % tail[:8])
PY
}

# Parses the BAT on $LOOP: prints "used next_slot_end" in bytes, where
# next_slot_end is where the next block (bitmap + 2 MiB, data 4 KiB-aligned
# as blktap places it) would end.
bat_room() {
	python3 - "$LOOP" <<'PY'
import os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
def rd(off, n):
    os.lseek(fd, off, os.SEEK_SET)
    return os.read(fd, n)
foot = rd(0, 512)
hoff = struct.unpack(">Q", foot[16:24])[0]
hdr = rd(hoff, 1024)
toff = struct.unpack(">Q", hdr[16:24])[0]
nbat = struct.unpack(">I", hdr[28:32])[0]
bsz = struct.unpack(">I", hdr[32:36])[0]
spb = bsz // 512
bm = (spb // 8 + 511) // 512
bat = struct.unpack(">%dI" % nbat, rd(toff, nbat * 4))
used = [b for b in bat if b != 0xffffffff]
end = max([b + bm + spb for b in used] +
          [(toff + nbat * 4 + 511) // 512])
end += (8 - (end + bm) % 8) % 8
print(len(used), (end + bm + spb) * 512)
PY
}

nbd_create -a "vhd:$LOOP"
[ "$(stat_of vhd_storage)" = block-device ] || fail "not seen as a device"
[ "$(stat_of vhd_footer_offset)" = $((12 * M - 512)) ] ||
	fail "footer not in the last sector: $(stat_of vhd_footer_offset)"
check_footer $((12 * M)) "after open"

# Partial writes into three blocks (unwritten sectors hold 0xee garbage).
put 0x11 4096 $((64 << 10)) || fail "write block 0"
put 0x22 $((BLK + 512)) 1536 || fail "write block 1"
put 0x33 $((5 * BLK + 7 * 4096)) $((300 << 10)) || fail "write block 5"
put 0x44 $((5 * BLK)) 4096 || fail "write block 5 head"
put 0x55 $((BLK + 512)) 512 || fail "overwrite in block 1"
check_export "after writes"
[ "$(stat_of vhd_allocations)" = 3 ] || fail "allocations: $(stat_of vhd_allocations)"
[ "$(stat_of vhd_footer_moves)" = 0 ] || fail "footer moved on a device"
vhd-util check -n "$LOOP" || fail "check while open"

tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy"
vhd-util check -n "$LOOP" || fail "check after close"
check_footer $((12 * M)) "after close"

# Reopen: byte-exact.
nbd_create -a "vhd:$LOOP"
check_export "after reopen"

# Fill: one small write per new block until the device is full.
full=""
for ((k = 8; k < 32; k++)); do
	if ! put $((0x60 + k)) $((k * BLK + 8192)) 4096; then
		put_enospc 1 $((k * BLK + 8192)) 4096 ||
			fail "block $k: not ENOSPC"
		full=$k
		break
	fi
done
[ -n "$full" ] || fail "the device never filled up"
echo "device full at block $full"
# every later allocation fails too; nothing of them is stored
put_enospc 2 $(((full + 1) * BLK)) $BLK || fail "next block not ENOSPC"
put_enospc 3 $((31 * BLK + BLK - 512)) 512 || fail "last block not ENOSPC"
# the VBD keeps serving: reads, and writes into allocated blocks
put 0x77 $((5 * BLK + 4096)) 8192 || fail "write into an allocated block"
check_export "after ENOSPC"
n=$(stat_of vhd_enospc)
[ "$n" -ge 3 ] || fail "vhd_enospc = $n"
grep -q "device full: block" "$TAPDISK_RUN_DIR/tapdisk.log" ||
	fail "no 'device full' log line"
vhd-util check -n "$LOOP" || fail "check while full"

# The refusal was not premature: the next block really would not fit.
read -r used next_end <<<"$(bat_room)"
echo "blocks used $used, next block would end at $next_end"
[ "$used" = $((3 + full - 8)) ] || fail "BAT has $used blocks"
[ "$next_end" -gt $((12 * M - 512)) ] ||
	fail "block refused though it fits before the footer"

# Grow the volume, pause/unpause: the footer moves to the new end, and
# the refused write now succeeds.
tap-ctl pause -p "$PID" -m "$MINOR" || fail "pause"
truncate -s $((20 * M)) "$IMG" || fail "grow backing file"
losetup -c "$LOOP" || fail "losetup -c"
tap-ctl unpause -p "$PID" -m "$MINOR" || fail "unpause"
[ "$(stat_of vhd_footer_offset)" = $((20 * M - 512)) ] ||
	fail "footer not moved to the new end: $(stat_of vhd_footer_offset)"
check_footer $((20 * M)) "after growing"
put 0x7e $((full * BLK + 8192)) 4096 || fail "write after growing"
check_export "after growing"
vhd-util check -n "$LOOP" || fail "check after growing"

tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy 2"
vhd-util check -n "$LOOP" || fail "final check"
check_footer $((20 * M)) "final"
nbd_create -a "vhd:$LOOP"
check_export "final reopen"
tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy 3"
exit 0
