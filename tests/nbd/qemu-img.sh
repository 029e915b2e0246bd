# SPDX-License-Identifier: GPL-2.0-only
# qemu-img against the NBD export: convert from it (to raw and qcow2) and
# into it, compared byte for byte with qemu-img compare and cmp.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 qemu-img

IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 32 3
nbd_create -a "aio:$IMG"
QURI="nbd+unix:///$MINOR?socket=$NBD_SOCK"

qemu-img info "$QURI" | grep -q "virtual size: 32 MiB" ||
	fail "qemu-img info: $(qemu-img info "$QURI")"
qemu-img convert -f raw -O raw "$QURI" "$TD_TMP/a.raw" ||
	fail "convert to raw"
cmp "$IMG" "$TD_TMP/a.raw" || fail "raw copy differs"
qemu-img convert -f raw -O qcow2 "$QURI" "$TD_TMP/a.qcow2" ||
	fail "convert to qcow2"
qemu-img compare -f raw -F qcow2 "$IMG" "$TD_TMP/a.qcow2" ||
	fail "qcow2 copy differs"

# Into the export: -n keeps the target, qemu writes with its own sizes.
make_pattern_file "$TD_TMP/new.raw" 32 4
qemu-img convert -n -f raw -O raw "$TD_TMP/new.raw" "$QURI" ||
	fail "convert into the export"
qemu-img compare -f raw -F raw "$TD_TMP/new.raw" "$QURI" ||
	fail "export differs after convert"
cmp "$TD_TMP/new.raw" "$IMG" || fail "backing file differs"
exit 0
