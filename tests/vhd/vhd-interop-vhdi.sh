#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop with libvhdi: vhdiinfo accepts our fixed, dynamic and
# differencing images, and vhdimount (FUSE) reads our three-image chain
# byte-exact. All child writes are 4 KiB-aligned: libvhdi 20210425
# misreads 0 bits that follow a 1 bit inside one bitmap byte.
. "$top_srcdir/tests/functions.sh"
requires vhdiinfo vhdimount
[ -c /dev/fuse ] || { echo "SKIP: /dev/fuse unavailable" >&2; exit 77; }
set -e
VU="$top_builddir/control/vhd-util"
VW="$top_builddir/tests/vhd/vhd-write"
cd "$TD_TMP"

unmount() {
	if command -v fusermount3 >/dev/null; then
		fusermount3 -u "$1"
	else
		umount "$1"
	fi
}

"$VU" create -n fixed.vhd -s 8 -r
vhdiinfo fixed.vhd | grep -q 'Disk type.*Fixed' || fail "vhdiinfo fixed"

make_pattern_file p1 3 21
make_pattern_file p2 1 22
head -c 65536 p2 > p64k
head -c 4096 p2 | tail -c 4096 > p4k
tail -c 8192 p1 > p8k

"$VU" create -n base.vhd -s 32
"$VW" base.vhd 0 p1
"$VU" snapshot -n mid.vhd -p base.vhd
"$VW" mid.vhd 2048 p64k                  # 1 MiB
"$VW" mid.vhd 40960 p4k                  # 20 MiB
"$VU" snapshot -n leaf.vhd -p mid.vhd
"$VW" leaf.vhd 2056 p8k                  # 1 MiB + 4 KiB
"$VW" leaf.vhd 49152 p2                  # 24 MiB
vhdiinfo base.vhd | grep -q 'Disk type.*Dynamic' || fail "vhdiinfo dynamic"
vhdiinfo leaf.vhd > info.out
grep -q 'Disk type.*Differential' info.out || fail "vhdiinfo differencing"
grep -q 'Parent filename.*mid.vhd' info.out || fail "vhdiinfo parent name"
uuid=$("$VU" query -n mid.vhd --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
grep -q "Parent identifier.*$uuid" info.out || fail "vhdiinfo parent uuid"

python3 - <<'PY'
size = 32 << 20
def img(writes):
    b = bytearray(size)
    for f, sec in writes:
        d = open(f, "rb").read()
        b[sec * 512:sec * 512 + len(d)] = d
    return b
base = [("p1", 0)]
mid = base + [("p64k", 2048), ("p4k", 40960)]
leaf = mid + [("p8k", 2056), ("p2", 49152)]
open("base.raw", "wb").write(img(base))
open("mid.raw", "wb").write(img(mid))
open("leaf.raw", "wb").write(img(leaf))
PY
"$VU" read -n leaf.vhd -r 0 -c 65536 > ours.raw
cmp leaf.raw ours.raw || fail "our own chain read differs"

mkdir m
vhdimount leaf.vhd m >/dev/null
cleanup_fn unmount "$TD_TMP/m"
cmp base.raw m/vhdi1 || fail "libvhdi reads our base differently"
cmp mid.raw m/vhdi2 || fail "libvhdi reads our middle image differently"
cmp leaf.raw m/vhdi3 || fail "libvhdi reads our leaf differently"
exit 0
