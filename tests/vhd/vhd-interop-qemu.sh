#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop with qemu (-f vpc): images we create read byte-exact through
# qemu-img convert; images qemu creates (dynamic and fixed, with and
# without force_size) pass our check and read byte-exact through our
# library. qemu cannot judge differencing disks, so none are used here.
. "$top_srcdir/tests/functions.sh"
requires qemu-img qemu-io
set -e
VU="$top_builddir/control/vhd-util"
VW="$top_builddir/tests/vhd/vhd-write"
cd "$TD_TMP"

make_pattern_file p1 3 11
head -c 4096 p1 > p4k
head -c 512 p1 > p512

# expected image of the writes below: 3 MiB at 0, 4 KiB at 21 MiB + 512,
# one sector at the last sector of a 48 MiB disk
expect() {
	python3 - "$1" <<'PY'
import sys
size = int(sys.argv[1])
img = bytearray(size)
def put(f, off):
    d = open(f, "rb").read()
    img[off:off + len(d)] = d
put("p1", 0); put("p4k", (21 << 20) + 512); put("p512", size - 512)
open("expect.raw", "wb").write(img)
PY
}

for kind in dynamic fixed; do
	rm -f ours.vhd
	if [ $kind = fixed ]; then
		"$VU" create -n ours.vhd -s 48 -r
	else
		"$VU" create -n ours.vhd -s 48
	fi
	"$VW" ours.vhd 0 p1
	"$VW" ours.vhd $(((21 << 11) + 1)) p4k
	"$VW" ours.vhd $(((48 << 11) - 1)) p512
	"$VU" check -n ours.vhd
	expect $((48 << 20))
	qemu-img convert -f vpc -O raw ours.vhd q.raw
	cmp expect.raw q.raw || fail "qemu reads our $kind image differently"
	[ "$(qemu-img info -f vpc --output=json ours.vhd |
	     python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" = \
	  $((48 << 20)) ] || fail "qemu sees another size for our $kind image"
done

for kind in dynamic fixed; do
	for force in off on; do
		rm -f q.vhd
		qemu-img create -q -f vpc -o subformat=$kind,force_size=$force \
			q.vhd 48M
		qemu-io -f vpc -c 'write -P 0xa1 0 4k' \
			-c 'write -P 0xb2 3M 1536k' -c 'write -P 0xc3 20M 513k' \
			-c 'write -P 0xd4 47M 512' q.vhd >/dev/null
		"$VU" check -n q.vhd ||
			fail "our check rejects qemu's $kind force_size=$force"
		qemu-img convert -f vpc -O raw q.vhd q.raw
		# qemu without force_size rounds the size to CHS; read it all
		nsec=$(($(stat -c %s q.raw) / 512))
		[ "$("$VU" query -n q.vhd -v)" = $((nsec / 2048)) ] ||
			fail "size of qemu's $kind force_size=$force"
		"$VU" read -n q.vhd -r 0 -c $nsec > ours.raw
		cmp q.raw ours.raw ||
			fail "we read qemu's $kind force_size=$force differently"
		# and qemu reads what our library writes into its image
		"$VW" q.vhd 4096 p1
		"$VU" check -n q.vhd
		qemu-img convert -f vpc -O raw q.vhd q.raw
		"$VU" read -n q.vhd -r 0 -c $nsec > ours.raw
		cmp q.raw ours.raw ||
			fail "qemu reads our writes into its $kind image wrongly"
		cmp -n $((3 << 20)) p1 <(tail -c +$(((2 << 20) + 1)) q.raw) ||
			fail "our write into qemu's $kind image is wrong"
	done
done
exit 0
