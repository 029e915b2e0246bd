# SPDX-License-Identifier: GPL-2.0-only
# nbdcopy round trips through the NBD export, byte-exact: into the export
# (several connections: multi-conn is advertised) and back out, checked
# against the source and against the backing file itself; a sparse source
# (zero requests) and a copy over TCP.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 nbdcopy

SRC=$TD_TMP/src.raw
IMG=$TD_TMP/disk.raw
OUT=$TD_TMP/out.raw
make_pattern_file "$SRC" 48 7
truncate -s 48M "$IMG"
nbd_create -a "aio:$IMG" --nbd-tcp "127.0.0.1:0"

nbdcopy --connections=4 --requests=32 "$SRC" "$URI" || fail "copy in"
nbdcopy "$URI" "$OUT" || fail "copy out"
cmp "$SRC" "$OUT" || fail "round trip differs"
# nbdcopy flushes at the end: the file itself holds the data.
cmp "$SRC" "$IMG" || fail "backing file differs"

# Larger requests than the defaults, a single connection, over TCP.
make_pattern_file "$SRC" 48 8
nbdcopy --connections=1 --request-size=$((4 << 20)) "$SRC" \
	"nbd://$NBD_TCP" || fail "copy in over TCP"
rm -f "$OUT"
nbdcopy --request-size=$((32 << 20)) "nbd://$NBD_TCP" "$OUT" ||
	fail "copy out over TCP"
cmp "$SRC" "$OUT" || fail "TCP round trip differs"

# A sparse source: nbdcopy zeroes the holes (WRITE_ZEROES / TRIM).
SPARSE=$TD_TMP/sparse.raw
truncate -s 48M "$SPARSE"
printf 'hello' | dd of="$SPARSE" bs=1 seek=$((20 << 20)) conv=notrunc \
	status=none
nbdcopy "$SPARSE" "$URI" || fail "sparse copy in"
rm -f "$OUT"
nbdcopy "$URI" "$OUT" || fail "sparse copy out"
cmp "$SPARSE" "$OUT" || fail "sparse round trip differs"
cmp "$SPARSE" "$IMG" || fail "backing file differs after sparse copy"
exit 0
