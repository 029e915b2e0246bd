#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# vhd-util on LVM, as XenServer's storage manager uses it: scan -l VG
# reads the VHDs of inactive (and active) logical volumes through the
# physical volume; modify -s moves the footer to the end of a block
# device. Needs root, loop devices and lvm2. Without device-mapper in the
# kernel only the active-volume checks cannot run: everything else does,
# then the test exits 77 saying why.
. "$top_srcdir/tests/functions.sh"
set -e
requires_root
requires losetup pvcreate vgcreate lvcreate lvs vgs vgremove python3
VU="$top_builddir/control/vhd-util"
VW="$top_builddir/tests/vhd/vhd-write"
cd "$TD_TMP"
export LVM_SUPPRESS_FD_WARNINGS=1

# a '-' in the VG name exercises device-mapper name escaping
VG="td-vhd$$"
truncate -s 128M pv.img
if ! LOOP=$(losetup -f --show pv.img 2>loop.err); then
	echo "SKIP: loop devices unavailable: $(cat loop.err)" >&2
	exit 77
fi
cleanup_fn "losetup -d $LOOP"
LVMOPT=()
DM=1
if ! dmsetup version >/dev/null 2>&1; then
	# LVM can still write metadata and create inactive volumes
	DM=0
	LVMOPT=(--driverloaded n)
fi
pvcreate -q "${LVMOPT[@]}" "$LOOP" >/dev/null 2>&1 || fail "pvcreate"
vgcreate -q "${LVMOPT[@]}" "$VG" "$LOOP" >/dev/null 2>&1 || fail "vgcreate"
cleanup_fn "vgremove -q -ff ${LVMOPT[*]} $VG >/dev/null 2>&1"

lv() { # NAME MB: an inactive volume
	lvcreate -q "${LVMOPT[@]}" -an -Zn -L "$2"M -n "$1" "$VG" \
		>/dev/null 2>&1 || fail "lvcreate $1"
}
# Writes file $2 at the start of volume $1 through the PV, found with
# LVM's own report (independently of vhd-util's reading of it).
put() {
	local range pe_start ext first
	range=$(lvs --noheadings -o seg_pe_ranges "$VG/$1" 2>/dev/null |
		tr -d ' ')
	first=${range##*:}; first=${first%-*}
	pe_start=$(pvs --noheadings --units b --nosuffix -o pe_start \
		"$LOOP" 2>/dev/null | tr -d ' ')
	ext=$(vgs --noheadings --units b --nosuffix -o vg_extent_size \
		"$VG" 2>/dev/null | tr -d ' ')
	dd if="$2" of="$LOOP" bs=512 seek=$(((pe_start + first * ext) / 512)) \
		conv=notrunc,fsync status=none
}

# images laid out as LVHD has them: a parent named by its device-mapper
# node (what blktap and we write for /dev/VG/LV parents), one by a plain
# /dev/VG/LV path, one on a raw volume
mkdir -p dev/mapper "dev/$VG"
DMVG=${VG//-/--}
"$VU" create -n "dev/mapper/$DMVG-VHD--base" -s 16
make_pattern_file p1 1 1
"$VW" "dev/mapper/$DMVG-VHD--base" 0 p1
"$VU" set -n "dev/mapper/$DMVG-VHD--base" -f hidden -v 1
"$VU" snapshot -n "dev/$VG/VHD-child" -p "dev/mapper/$DMVG-VHD--base"
"$VW" "dev/$VG/VHD-child" 2048 p1
cp "dev/mapper/$DMVG-VHD--base" "dev/$VG/VHD-base"
"$VU" snapshot -n "dev/$VG/VHD-plain" -p "dev/$VG/VHD-base"
truncate -s 8M "dev/$VG/raw-lv"
"$VU" snapshot -n "dev/$VG/VHD-onraw" -p "dev/$VG/raw-lv" -m
head -c 1M /dev/zero > junk

lv VHD-base 8; lv VHD-child 8; lv VHD-plain 12; lv raw-lv 8
lv VHD-onraw 8; lv VHD-junk 4; lv other 4
put VHD-base "dev/mapper/$DMVG-VHD--base"
put VHD-child "dev/$VG/VHD-child"
put VHD-plain "dev/$VG/VHD-plain"
put VHD-onraw "dev/$VG/VHD-onraw"
put VHD-junk junk
M=1048576

expect_scan() { # FILE: the lines SM parses, in any order
	sort "$1" > got.sorted
	sort > want.sorted
	diff -u want.sorted got.sorted || fail "scan output differs ($1)"
}

# -f -c -m PATTERN -l VG: SM's getAllVHDs (parent from the header name)
"$VU" scan -f -c -m "VHD-*" -l "$VG" > s1.out
grep -v VHD-junk s1.out > s1.vhds || :
expect_scan s1.vhds <<EOF
vhd=VHD-base capacity=$((16 * M)) size=$((8 * M)) hidden=1 parent=none
vhd=VHD-child capacity=$((16 * M)) size=$((8 * M)) hidden=0 parent=VHD-base
vhd=VHD-plain capacity=$((16 * M)) size=$((12 * M)) hidden=0 parent=VHD-base
vhd=VHD-onraw capacity=$((8 * M)) size=$((8 * M)) hidden=0 parent=raw-lv
EOF
# the junk volume is reported in blktap's error format; without -c the
# scan fails, with it it does not
grep -q "^vhd=VHD-junk scan-error=-22 error-message='.*bad cookie" s1.out ||
	{ cat s1.out; fail "junk volume error line"; }
! "$VU" scan -f -m "VHD-*" -l "$VG" > /dev/null || fail "scan without -c"
# without -f the parent comes from the locator (relative dm path)
"$VU" scan -m "VHD-[cp]*" -l "$VG" > s2.out
expect_scan s2.out <<EOF
vhd=VHD-child capacity=$((16 * M)) size=$((8 * M)) hidden=0 parent=VHD-base
vhd=VHD-plain capacity=$((16 * M)) size=$((12 * M)) hidden=0 parent=VHD-base
EOF
# -a: SM's getParentChain; a raw parent is a hidden, parentless node
"$VU" scan -f -m VHD-child -l "$VG" -a > s3.out
expect_scan s3.out <<EOF
vhd=VHD-child capacity=$((16 * M)) size=$((8 * M)) hidden=0 parent=VHD-base
vhd=VHD-base capacity=$((16 * M)) size=$((8 * M)) hidden=1 parent=none
EOF
"$VU" scan -f -m VHD-onraw -l "$VG" -a > s4.out
expect_scan s4.out <<EOF
vhd=VHD-onraw capacity=$((8 * M)) size=$((8 * M)) hidden=0 parent=raw-lv
vhd=raw-lv capacity=$((8 * M)) size=$((8 * M)) hidden=1 parent=none
EOF
# -p: the tree, children indented under their parent
"$VU" scan -p -m "VHD-[bc]*" -l "$VG" > s5.out
[ "$(head -1 s5.out)" = "vhd=VHD-base capacity=$((16 * M)) size=$((8 * M)) hidden=1 parent=none" ] &&
	grep -q "^   vhd=VHD-child " s5.out || { cat s5.out; fail "scan -p"; }
"$VU" scan -m "VHD-child" -l "$VG" --json | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert a == [{"path": "VHD-child", "capacity": 16 << 20, "size": 8 << 20,
              "hidden": 0, "marker": 0, "parent": "VHD-base"}], a'
# fresh data is read, not a cached earlier state of the volume
"$VU" set -n "dev/$VG/VHD-child" -f hidden -v 1
put VHD-child "dev/$VG/VHD-child"
"$VU" scan -f -m VHD-child -l "$VG" | grep -q "hidden=1 parent=VHD-base$" ||
	fail "scan read a stale footer"
"$VU" scan -f -m "nomatch*" -l "$VG" > s6.out
[ ! -s s6.out ] || fail "no match prints nothing"
one_line_error "$VU" scan -f -m "*" -l "no-such-vg-$$"

# modify -s on a block device: the footer goes to its last sector, and
# later footer writes follow it there (blktap's rule for devices)
truncate -s 8M blk.img
dd if="dev/$VG/VHD-child" of=blk.img conv=notrunc status=none
BLK=$(losetup -f --show blk.img) || fail "losetup blk.img"
cleanup_fn "losetup -d $BLK"
"$VU" read -n "$BLK" -r 0 -c 32768 > before.raw
"$VU" modify -n "$BLK" -s $((8 * M))
python3 - "$BLK" <<'EOF'
import sys
f = open(sys.argv[1], "rb"); f.seek((8 << 20) - 512)
assert f.read(8) == b"conectix", "no footer at the end of the device"
EOF
"$VU" check -n "$BLK" | grep -q "is valid" || fail "check after modify -s"
"$VU" set -n "$BLK" -f hidden -v 0
[ "$("$VU" query -n "$BLK" -f)" = "hidden: 0" ] || fail "hidden on device"
python3 - "$BLK" <<'EOF'
import sys
f = open(sys.argv[1], "rb"); f.seek((8 << 20) - 512)
d = f.read(512)
assert d[:8] == b"conectix" and d[85] == 0, "device footer not updated"
EOF
"$VU" read -n "$BLK" -r 0 -c 32768 | cmp - before.raw ||
	fail "modify -s changed the data"
one_line_error "$VU" modify -n "$BLK" -s $((16 * M))   # past the device
one_line_error "$VU" modify -n "$BLK" -s 4096          # below the data

if [ "$DM" = 0 ]; then
	echo "SKIP: active-volume checks: the kernel has no device-mapper" \
	     "($(dmsetup version 2>&1 | head -n 1))" >&2
	exit 77
fi

# active volumes: the same answers, and a parent set on /dev/VG/LV is
# named by its device-mapper node
ACT=(--config 'activation { udev_sync = 0 udev_rules = 0 }')
vgchange -q "${ACT[@]}" -ay "$VG" >/dev/null 2>&1 || fail "vgchange -ay"
cleanup_fn "vgchange -q ${ACT[*]@Q} -an $VG >/dev/null 2>&1"
vgscan -q --mknodes "${ACT[@]}" >/dev/null 2>&1 || :
[ -e "/dev/$VG/VHD-plain" ] || fail "no /dev/$VG/VHD-plain after activation"
"$VU" scan -f -c -m "VHD-*" -l "$VG" | grep -v VHD-junk > a1.out
expect_scan a1.out <<EOF
vhd=VHD-base capacity=$((16 * M)) size=$((8 * M)) hidden=1 parent=none
vhd=VHD-child capacity=$((16 * M)) size=$((8 * M)) hidden=1 parent=VHD-base
vhd=VHD-plain capacity=$((16 * M)) size=$((12 * M)) hidden=0 parent=VHD-base
vhd=VHD-onraw capacity=$((8 * M)) size=$((8 * M)) hidden=0 parent=raw-lv
EOF
"$VU" modify -n "/dev/$VG/VHD-plain" -p "/dev/$VG/VHD-base"
"$VU" read -n "/dev/$VG/VHD-plain" -p |
	grep -q "decoded name : .*mapper/$DMVG-VHD--base" ||
	fail "parent not named by its device-mapper node"
"$VU" scan -m VHD-plain -l "$VG" | grep -q "parent=VHD-base$" ||
	fail "scan of a re-parented active volume"
exit 0
