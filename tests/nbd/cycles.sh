# SPDX-License-Identifier: GPL-2.0-only
# 1,000 connect/disconnect cycles against the export, in every way a
# client can leave (at once, mid-handshake, after ABORT, after GO + DISC,
# mid-request with requests in flight), then the daemon's fd count must be
# back where it started and its resident memory must not have grown by
# more than a few connections' worth.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 nbdinfo

IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 8 6
cp "$IMG" "$TD_TMP/orig.raw"
nbd_create -a "aio:$IMG" --nbd-tcp "127.0.0.1:0"
# One warm-up connection, so one-time allocations are not counted.
nbdinfo --size "$URI" >/dev/null || fail "warm-up"
fds_before=$(fd_count "$PID")
rss_before=$(rss_kb "$PID")

nbd_py - "$NBD_SOCK" "$NBD_TCP" <<'PY' || fail "cycles"
import struct, sys
import nbd_client as n

path, tcp = sys.argv[1], sys.argv[2]
for i in range(1000):
    c = n.Client(tcp=tcp) if i % 10 == 9 else n.Client(path)
    kind = i % 5
    if kind == 0:
        pass                                  # close at once
    elif kind == 1:
        c.greet(); c.send(b"\x49\x48")        # mid option header
    elif kind == 2:
        c.greet(); c.opt(n.OPT_ABORT)
        assert c.opt_reply(n.OPT_ABORT)[0] == n.REP_ACK
    elif kind == 3:
        c.go(structured=bool(i & 1))
        c.request(n.CMD_DISC, 0, 0, 0)
        assert c.closed_by_server()
    else:
        c.go()
        for h in range(8):                    # requests in flight
            c.request(n.CMD_READ, h, h << 16, 65536)
        c.request(n.CMD_WRITE, 99, 0, 65536, 0, b"x" * 1000)
    c.close()
PY

wait_for '[ "$(fd_count "$PID")" -eq "$fds_before" ]' 10
rss_after=$(rss_kb "$PID")
echo "fds: $fds_before -> $(fd_count "$PID"), rss: $rss_before -> $rss_after KiB"
# ASan keeps freed memory in quarantine (and checks leaks itself).
if ! grep -q asan "/proc/$PID/maps"; then
	[ $((rss_after - rss_before)) -lt $((32 * 1024)) ] ||
		fail "resident memory grew from $rss_before to $rss_after KiB"
fi
tap-ctl list -m "$MINOR" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["tapdisks"][0]["vbds"][0]
n = v["exports"]["nbd"]
assert n["nbd_clients"] == 0, n
assert n["nbd_accepted"] >= 1001, n
' || fail "client counters"
# The image was never written by the half-sent writes.
nbdcopy "$URI" "$TD_TMP/out.raw" && cmp "$TD_TMP/orig.raw" "$TD_TMP/out.raw" ||
	fail "image changed"
exit 0
