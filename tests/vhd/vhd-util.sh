#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# vhd-util round trips: create, snapshot, query, check, set, read, scan,
# coalesce, modify, repair, resize/revert, fill, and their error paths.
. "$top_srcdir/tests/functions.sh"
set -e
VU="$top_builddir/control/vhd-util"
VW="$top_builddir/tests/vhd/vhd-write"
cd "$TD_TMP"

# create: dynamic, fixed, oversized BAT
"$VU" create -n base.vhd -s 64
"$VU" create -n fixed.vhd -s 16 -r
"$VU" create -n big.vhd -s 10 -S 2048
[ "$("$VU" query -n base.vhd -v)" = 64 ] || fail "virtual size"
[ "$("$VU" query -n big.vhd -S)" = 2048 ] || fail "max size for fast resize"
[ "$("$VU" query -n fixed.vhd -v)" = 16 ] || fail "fixed size"
[ "$(stat -c %s fixed.vhd)" = $((16 * 1048576 + 512)) ] || fail "fixed layout"
"$VU" read -n base.vhd -p | grep -q 'Disk type *: Dynamic hard disk' ||
	fail "read -p disk type"
"$VU" read -n fixed.vhd -p | grep -q 'Disk type *: Fixed hard disk' ||
	fail "fixed disk type"
one_line_error "$VU" create -n base.vhd -s 64          # exists
one_line_error "$VU" create -n x.vhd -s 3000000        # above 2040 GiB
one_line_error "$VU" create -n x.vhd                   # no size
"$VU" create --help | grep -q 'usage: vhd-util create' || fail "--help"

# data into the base, then a snapshot with its own data
make_pattern_file p1 3 1
make_pattern_file p2 1 2
"$VW" base.vhd 0 p1
"$VW" base.vhd 40960 p2                 # 20 MiB
"$VU" check -n base.vhd
[ "$("$VU" query -n base.vhd -a)" = 3 ] || fail "allocated blocks"
"$VU" snapshot -n child.vhd -p base.vhd
"$VU" query -n child.vhd -p | grep -q "/base.vhd$" || fail "query -p"
[ "$("$VU" query -n child.vhd -d)" = "chain depth: 2" ] || fail "depth"
[ "$("$VU" query -n base.vhd -p)" = "base.vhd has no parent" ] ||
	fail "no parent"
"$VU" read -n child.vhd -p | grep -q 'Disk type *: Differencing hard disk' ||
	fail "differencing type"
"$VU" read -n child.vhd -p | grep -q 'decoded name : .*base.vhd' ||
	fail "decoded locator"
make_pattern_file p3 1 3
"$VW" child.vhd 2048 p3                 # 1 MiB into block 0
"$VU" check -n child.vhd -p | grep -q "base.vhd is valid" || fail "check -p"

# expected content of the chain, computed independently
python3 - <<'PY'
size = 64 << 20
img = bytearray(size)
def put(f, sec):
    d = open(f, "rb").read()
    img[sec * 512:sec * 512 + len(d)] = d
put("p1", 0); put("p2", 40960); put("p3", 2048)
open("expect.raw", "wb").write(img)
PY
"$VU" read -n child.vhd -r 0 -c 131072 > got.raw
cmp expect.raw got.raw || fail "chain read differs"

# hidden flag and marker
"$VU" set -n base.vhd -f hidden -v 1
[ "$("$VU" query -n base.vhd -f)" = "hidden: 1" ] || fail "hidden"
"$VU" set -n base.vhd -f marker -v 7
[ "$("$VU" query -n base.vhd -m)" = "marker: 7" ] || fail "marker"
one_line_error "$VU" set -n base.vhd -f bogus -v 1
one_line_error "$VU" set -n base.vhd -f hidden -v 2
"$VU" check -n base.vhd

# json
"$VU" query -n child.vhd --json | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["type"] == "differencing" and o["depth"] == 2, o
assert o["parent"].endswith("/base.vhd"), o
assert o["virtual_size"] == 64 << 20'
"$VU" check -n child.vhd -p --json | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert [x["valid"] for x in a] == [True, True], a'

# scan in blktap's format, and as a tree
"$VU" scan -f -m "$TD_TMP/*.vhd" > scan.out
grep -q "^vhd=child.vhd capacity=67108864 size=[0-9]* hidden=0 parent=base.vhd$" \
	scan.out || { cat scan.out; fail "scan line"; }
grep -q "^vhd=base.vhd capacity=67108864 size=[0-9]* hidden=1 parent=none$" \
	scan.out || { cat scan.out; fail "scan base line"; }
"$VU" scan -p -m "$TD_TMP/*.vhd" | grep -q "^   vhd=child.vhd" ||
	fail "scan tree"
"$VU" scan -m "$TD_TMP/*.vhd" --json | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert len(a) == 4, a'

# coalesce the child into the base: the base then holds the chain
cp base.vhd base.orig
# -x: into a copy of the parent under another name (same UUID); the
# parent the locators name is untouched. A wrong image is refused.
cp base.vhd step.vhd
"$VU" coalesce -n child.vhd -x step.vhd > co.out
cmp base.vhd base.orig || fail "-x wrote the locators' parent"
"$VU" read -n step.vhd -r 0 -c 131072 > got.raw
cmp expect.raw got.raw || fail "coalesce -x differs"
"$VU" create -n alien.vhd -s 64
one_line_error "$VU" coalesce -n child.vhd -x alien.vhd
one_line_error "$VU" coalesce -n child.vhd -a alien.vhd  # not an ancestor
one_line_error "$VU" coalesce -n child.vhd -a child.vhd
one_line_error "$VU" coalesce -n child.vhd -a base.vhd -o x.vhd
# SM parses the count: the child owns 1 MiB
"$VU" coalesce -n child.vhd > co.out
[ "$(cat co.out)" = "Coalesced 2048 sectors" ] || fail "coalesce output: $(cat co.out)"
"$VU" check -n base.vhd
"$VU" read -n base.vhd -r 0 -c 131072 > got.raw
cmp expect.raw got.raw || fail "coalesced base differs"
# coalesce into a raw parent (-m snapshot): the child's sectors land in
# the raw file at their offsets, copied in the kernel, the rest untouched.
make_pattern_file rawbase.img 8 5
cp rawbase.img rawexpect.img
"$VU" snapshot -n rawchild.vhd -p rawbase.img -m
"$VW" rawchild.vhd 4100 p3             # 1 MiB, starting mid-block
python3 - <<'PY'
d = open("p3", "rb").read()
img = bytearray(open("rawexpect.img", "rb").read())
img[4100 * 512:4100 * 512 + len(d)] = d
open("rawexpect.img", "wb").write(img)
PY
[ "$("$VU" coalesce -n rawchild.vhd)" = "Coalesced 2048 sectors" ] ||
	fail "coalesce into raw: output"
cmp rawexpect.img rawbase.img || fail "coalesce into a raw parent differs"
# coalesce -o: the whole chain into a new image
cp base.orig base.vhd
"$VU" coalesce -n child.vhd -o flat.vhd
"$VU" read -n flat.vhd -r 0 -c 131072 > got.raw
cmp expect.raw got.raw || fail "coalesce -o differs"

# coalesce -a: the leaf's sectors go into its grandparent and the image
# in between forgets them, so it then reads as the leaf did. The middle
# image has a full block (batmap bit set) that the leaf partly overwrites.
"$VU" create -n a0.vhd -s 16
make_pattern_file q1 4 11
make_pattern_file q2 2 12
make_pattern_file q3 1 13
make_pattern_file q4 1 14
"$VW" a0.vhd 0 q1                       # blocks 0-1
"$VU" snapshot -n a1.vhd -p a0.vhd
"$VW" a1.vhd 4096 q2                    # block 1, full
"$VW" a1.vhd 1024 q4                    # 0.5-1.5 MiB
"$VU" snapshot -n a2.vhd -p a1.vhd
"$VW" a2.vhd 3584 q3                    # 1.75-2.75 MiB: blocks 0 and 1
"$VW" a2.vhd 16384 q3                   # 8 MiB: only in the leaf
python3 - <<'PY'
size = 16 << 20
def put(img, f, sec):
    d = open(f, "rb").read()
    img[sec * 512:sec * 512 + len(d)] = d
base = bytearray(size); put(base, "q1", 0)
mid = bytearray(base); put(mid, "q2", 4096); put(mid, "q4", 1024)
leaf = bytearray(mid); put(leaf, "q3", 3584); put(leaf, "q3", 16384)
anc = bytearray(base); put(anc, "q3", 3584); put(anc, "q3", 16384)
open("leaf.raw", "wb").write(leaf)
open("anc.raw", "wb").write(anc)
PY
"$VU" read -n a2.vhd -r 0 -c 32768 > got.raw
cmp leaf.raw got.raw || fail "3-deep chain read differs"
[ "$("$VU" read -n a1.vhd -j 1)" = "batmap for block 1: 1" ] ||
	fail "middle block 1 not full"
[ "$("$VU" coalesce -n a2.vhd -a a0.vhd)" = "Coalesced 4096 sectors" ] ||
	fail "coalesce -a output"
for run in 1 2; do                      # a rerun (after a crash) is a no-op
	"$VU" check -n a2.vhd -p >/dev/null || fail "check after -a ($run)"
	"$VU" read -n a2.vhd -r 0 -c 32768 > got.raw
	cmp leaf.raw got.raw || fail "leaf changed by coalesce -a ($run)"
	"$VU" read -n a1.vhd -r 0 -c 32768 > got.raw
	cmp leaf.raw got.raw || fail "middle does not read as the leaf ($run)"
	"$VU" read -n a0.vhd -r 0 -c 32768 > got.raw
	cmp anc.raw got.raw || fail "ancestor content after -a ($run)"
	[ $run = 2 ] || "$VU" coalesce -n a2.vhd -a a0.vhd >/dev/null
done
# the middle forgot the leaf's sectors (bitmap and batmap), not its own
[ "$("$VU" read -n a1.vhd -j 1)" = "batmap for block 1: 0" ] ||
	fail "middle block 1 still marked full"
"$VU" read -n a1.vhd -i 4095 -c 3 > bits.out   # 2 MiB - 512 .. 2 MiB + 512
[ "$(cat bits.out)" = "block 0: sec: 4095: 0
block 1: sec: 0: 0
block 1: sec: 1: 0" ] || { cat bits.out; fail "middle bitmap bits"; }
[ "$("$VU" read -n a1.vhd -i 5632)" = "block 1: sec: 1536: 1" ] ||
	fail "middle lost its own sector"

# modify -s: the footer moves so the image ends at SIZE; data unchanged
cp a0.vhd ps.vhd
sz=$(stat -c %s ps.vhd)
"$VU" modify -n ps.vhd -s $((sz + 4194304))
[ "$(stat -c %s ps.vhd)" = $((sz + 4194304)) ] || fail "modify -s grow"
[ "$(tail -c 512 ps.vhd | head -c 8)" = conectix ] || fail "modify -s footer"
"$VU" check -n ps.vhd >/dev/null || fail "check after modify -s"
"$VU" read -n ps.vhd -r 0 -c 32768 > got.raw
cmp anc.raw got.raw || fail "modify -s changed the data"
"$VU" modify -n ps.vhd -s "$sz"
cmp ps.vhd a0.vhd || fail "modify -s back to the physical size"
one_line_error "$VU" modify -n ps.vhd -s $((sz - 512))  # would cut data
one_line_error "$VU" modify -n ps.vhd -s 1000           # not sectors
one_line_error "$VU" modify -n fixed.vhd -s 100000000   # fixed image
cmp ps.vhd a0.vhd || fail "a refused modify -s changed the file"

# modify -p re-points a child; mismatched UUIDs are refused on open
"$VU" create -n other.vhd -s 64
"$VU" modify -n child.vhd -p other.vhd
"$VU" query -n child.vhd -p | grep -q "/other.vhd$" || fail "modify -p"
"$VU" modify -n child.vhd -P base.vhd
"$VU" read -n child.vhd -r 0 -c 131072 > got.raw
cmp expect.raw got.raw || fail "re-parented chain differs"
"$VU" create -n o2.vhd -s 64
"$VU" snapshot -n c2.vhd -p o2.vhd
rm o2.vhd; cp base.vhd o2.vhd
one_line_error "$VU" check -n c2.vhd
one_line_error "$VU" read -n c2.vhd -r 0 -c 1

# fill: the child gets every block, content unchanged
cp child.vhd filled.vhd
"$VU" fill -n filled.vhd
[ "$("$VU" query -n filled.vhd -a)" = 32 ] || fail "fill allocated"
"$VU" read -n filled.vhd -r 0 -c 131072 > got.raw
cmp expect.raw got.raw || fail "filled content differs"

# repair rebuilds a lost tail footer; check -i accepts it missing
cp base.vhd r.vhd
sz=$(stat -c %s r.vhd)
python3 -c "
import sys
f = open('r.vhd', 'r+b'); f.seek($sz - 512); f.write(b'\xc7' * 512)"
one_line_error "$VU" check -n r.vhd
"$VU" check -n r.vhd -i
"$VU" repair -n r.vhd
"$VU" check -n r.vhd

# resize: fast within the BAT, journaled past it, revert undoes
"$VU" resize -n big.vhd -s 100 -f
[ "$("$VU" query -n big.vhd -v)" = 100 ] || fail "fast resize"
cp base.vhd grow.vhd
one_line_error "$VU" resize -n grow.vhd -s 200 -f
"$VU" resize -n grow.vhd -s 200 -j grow.journal
[ "$("$VU" query -n grow.vhd -v)" = 200 ] || fail "journaled resize"
[ ! -e grow.journal ] || fail "journal left behind"
"$VU" check -n grow.vhd
"$VU" read -n grow.vhd -r 0 -c 131072 > got.raw
"$VU" read -n base.vhd -r 0 -c 131072 > want.raw
cmp want.raw got.raw || fail "resized content differs"
one_line_error "$VU" resize -n grow.vhd -s 100 -j j2   # shrink
grep -q "refusing to shrink from 200 MB to 100 MB" "$TD_TMP/err.out" ||
	fail "shrink message"
[ "$("$VU" query -n grow.vhd -v)" = 200 ] || fail "refused shrink changed it"

# an interrupted resize: journal + poison, revert restores the file
cp base.vhd rv.vhd
cp rv.vhd rv.orig
python3 - <<'PY'
import struct
# the journal vhd-util writes: magic, size, region length, tail offset,
# the region, the tail footer (this is what resize saves first)
d = open("rv.vhd", "rb").read()
region = 8192
hdr = b"tdvhdjr1" + struct.pack("=QQQ", len(d), region, len(d) - 512)
open("rv.journal", "wb").write(hdr + d[:region] + d[-512:])
f = open("rv.vhd", "r+b")
f.seek(0); f.write(b"v_poison")          # disabled, as during resize
f.seek(1536); f.write(b"\x00" * 4096)    # half-written new BAT
f.truncate(len(d) + (4 << 20))
PY
one_line_error "$VU" set -n rv.vhd -f hidden -v 1
"$VU" revert -n rv.vhd -j rv.journal
cmp rv.vhd rv.orig || fail "revert did not restore the image"

# corrupt images: precise one-line errors, file untouched
cp base.vhd bad.vhd
python3 -c "
import struct
f = open('bad.vhd', 'r+b'); f.seek(1536 + 4); f.write(struct.pack('>I', 0x7fffff))"
sum1=$(sha256sum bad.vhd)
one_line_error "$VU" set -n bad.vhd -f hidden -v 1 2>&1 |
	grep -q "BAT entry 1 at offset 0x604: bitmap at 0xfffffe00 is past end of file" ||
	fail "BAT error message"
one_line_error "$VU" repair -n bad.vhd
one_line_error "$VU" coalesce -n bad.vhd
[ "$(sha256sum bad.vhd)" = "$sum1" ] || fail "a corrupt file was written"
# repair restores a destroyed batmap header (tap 1.3 images have one)
"$VU" create -n bm.vhd -s 64
"$VW" bm.vhd 4096 p3
"$VU" read -n bm.vhd -r 0 -c 131072 > want.raw
python3 -c "
f = open('bm.vhd', 'r+b'); f.seek(2048); f.write(b'\xee' * 512)"
one_line_error "$VU" check -n bm.vhd
"$VU" repair -n bm.vhd
"$VU" check -n bm.vhd
python3 -c "
f = open('bm.vhd', 'rb'); f.seek(2048)
assert f.read(8) == b'tdbatmap', 'no batmap header after repair'"
"$VU" read -n bm.vhd -r 0 -c 131072 > got.raw
cmp want.raw got.raw || fail "repair changed the data"

# scan -l fails in one line for a volume group LVM does not know
# (vhd-util-lvm.sh scans real volumes)
one_line_error "$VU" scan -f -l no-such-vg-$$ -m "*"

one_line_error "$VU" query -n nonexistent.vhd -v
one_line_error "$VU" bogusverb
exit 0
