# SPDX-License-Identifier: GPL-2.0-only
# nbdinfo against the NBD export of a VBD: export details and flags, the
# export list, --map on raw (a written file is all data; a sparse one shows
# its holes and data extents exactly, from SEEK_DATA/SEEK_HOLE) and on a
# dynamic VHD (holes), read-only exports, TCP, and -N.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 nbdinfo nbdcopy qemu-img qemu-io

IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 16 1
nbd_create -a "aio:$IMG" --nbd-tcp ":0"
[ -S "$NBD_SOCK" ] || fail "no NBD socket at '$NBD_SOCK'"
case "$NBD_SOCK" in
"$TAPDISK_RUN_DIR/tapdisk-$PID-$MINOR.nbd") ;;
*) fail "unexpected socket name $NBD_SOCK" ;;
esac

nbdinfo --json "$URI" >"$TD_TMP/info.json" || fail "nbdinfo"
python3 - "$TD_TMP/info.json" "$MINOR" <<'PY' || fail "nbdinfo details"
import json, sys
j = json.load(open(sys.argv[1]))
e = j["exports"][0]
assert j["protocol"] == "newstyle-fixed", j
assert j["TLS"] is False and j["structured"] is True, j
assert e["export-size"] == 16 << 20, e
for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_multi_conn",
          "can_df"):
    assert e[k] is True, (k, e)
assert e["is_read_only"] is False, e
assert e["block_size_minimum"] == 512, e
assert e["block_size_preferred"] == 4096, e
assert e["block_size_maximum"] == 32 << 20, e
assert "base:allocation" in e["contexts"], e
assert e["description"] == "tapdisk vbd %s" % sys.argv[2], e
PY

nbdinfo --list --json "$URI" | python3 -c '
import json, sys
names = [e["export-name"] for e in json.load(sys.stdin)["exports"]]
assert names == [sys.argv[1]], names
' "$MINOR" || fail "export list"
# The listed name works as well as the default "".
nbdinfo --size "nbd+unix:///$MINOR?socket=$NBD_SOCK" | grep -qx 16777216 ||
	fail "export by name"
must_fail nbdinfo "nbd+unix:///nosuch?socket=$NBD_SOCK"

# A raw file written in full is one data extent.
map=$(nbdinfo --map "$URI") || fail "nbdinfo --map"
echo "$map" | awk '{print $1, $2, $3}' | grep -qx "0 16777216 0" ||
	fail "raw map: $map"

# TCP (port 0 asks for any free port; the bound one is listed).
case "$NBD_TCP" in
127.0.0.1:[1-9]*) ;;
*) fail "nbd_tcp is '$NBD_TCP'" ;;
esac
nbdinfo --size "nbd://$NBD_TCP" | grep -qx 16777216 || fail "TCP export"

# Read-only: advertised, and writes fail with EPERM.
RO=$TD_TMP/ro.raw
make_pattern_file "$RO" 4 2
DEVRW=$DEV PIDRW=$PID
nbd_create -a "aio:$RO" -R
nbdinfo --json "$URI" | python3 -c '
import json, sys
e = json.load(sys.stdin)["exports"][0]
assert e["is_read_only"] is True and e["can_trim"] is False, e
' || fail "read-only flags"
nbd_py - "$NBD_SOCK" <<'PY' || fail "read-only write"
import sys, nbd_client as n
c = n.Client(sys.argv[1])
c.go()
assert c.flags & 2, c.flags
assert c.write(1, 0, b"x" * 512) == n.EPERM
c.disconnect()
PY
must_fail nbdcopy "$IMG" "$URI"

# A dynamic VHD: holes where nothing was written.
if qemu-img --help | grep -qw vpc; then
	VHD=$TD_TMP/dyn.vhd
	qemu-img create -q -f vpc -o subformat=dynamic "$VHD" 64M ||
		fail "qemu-img create vpc"
	qemu-io -f vpc -c "write -P 0xab 4M 1M" "$VHD" >/dev/null ||
		fail "qemu-io write"
	nbd_create -a "vhd:$VHD" -R
	nbdinfo --map --json "$URI" >"$TD_TMP/map.json" || fail "vhd map"
	size=$(nbdinfo --size "$URI") || fail "vhd size"
	python3 - "$TD_TMP/map.json" "$size" <<'PY' || fail "vhd map content"
import json, sys
m = json.load(open(sys.argv[1]))
def state(off):
    for e in m:
        if e["offset"] <= off < e["offset"] + e["length"]:
            return e["type"]
    raise SystemExit("no extent at %d in %s" % (off, m))
assert state(0) & 1 and state(0) & 2, m            # hole, zero
assert state(4 << 20) == 0, m                       # data
assert state((5 << 20) - 512) == 0, m
# qemu allocates whole 2 MiB VHD blocks: the next block is a hole again
assert state(6 << 20) & 1, m
assert state((64 << 20) - 512) & 1, m
assert sum(e["length"] for e in m) == int(sys.argv[2]), m
PY
	# Its data reads back through the export as qemu reads the file.
	qemu-img convert -f vpc -O raw "$VHD" "$TD_TMP/vhd-qemu.raw" ||
		fail "qemu-img convert vpc"
	nbdcopy "$URI" "$TD_TMP/vhd-nbd.raw" || fail "nbdcopy from vhd"
	cmp "$TD_TMP/vhd-qemu.raw" "$TD_TMP/vhd-nbd.raw" ||
		fail "vhd data through NBD differs from qemu's reading"
fi

# A sparse raw file: data at [1 MiB, +64 KiB) and [6 MiB, +4 KiB), the
# rest holes (SEEK_DATA/SEEK_HOLE in the aio driver), extents exactly.
SPARSE=$TD_TMP/sparse.raw
python3 - "$SPARSE" <<'PY' || fail "make sparse file"
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
os.ftruncate(fd, 16 << 20)
os.pwrite(fd, b"\xa5" * (64 << 10), 1 << 20)
os.pwrite(fd, b"\x5a" * 4096, 6 << 20)
os.fsync(fd)
os.close(fd)
PY
nbd_create -a "aio:$SPARSE" -R
nbdinfo --map --json "$URI" >"$TD_TMP/smap.json" || fail "sparse map"
python3 - "$TD_TMP/smap.json" <<'PY' || fail "sparse map content"
import json, sys
m = [(e["offset"], e["length"], e["type"]) for e in json.load(open(sys.argv[1]))]
M = 1 << 20
want = [(0, M, 3), (M, 64 << 10, 0), (M + (64 << 10), 5 * M - (64 << 10), 3),
        (6 * M, 4096, 0), (6 * M + 4096, 10 * M - 4096, 3)]
assert m == want, m
PY
# ... and those holes read as zeros, the data as written.
nbdcopy "$URI" "$TD_TMP/sparse-nbd.raw" || fail "nbdcopy sparse"
cmp "$SPARSE" "$TD_TMP/sparse-nbd.raw" || fail "sparse data differs"
tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy sparse"

# -N: no NBD export at all.
nbd_create -a "aio:$RO" -R -N
[ -z "$NBD_SOCK" ] || fail "-N still exported $NBD_SOCK"
ls "$TAPDISK_RUN_DIR"/tapdisk-*-"$MINOR".nbd 2>/dev/null &&
	fail "-N left a socket"

# Closing the VBD removes its socket.
tap-ctl destroy -p "$PIDRW" -m "${DEVRW##*tapdev}" || fail "destroy"
ls "$TAPDISK_RUN_DIR"/tapdisk-*-"${DEVRW##*tapdev}".nbd 2>/dev/null &&
	fail "socket left after destroy"
exit 0
