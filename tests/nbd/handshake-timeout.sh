# SPDX-License-Identifier: GPL-2.0-only
# The NBD handshake deadline against the real daemon, shortened to 1 s
# with TAPDISK_NBD_HANDSHAKE_TIMEOUT_MS: clients that connect and never
# negotiate, or dribble one byte at a time, fill every client slot; they
# are closed once the deadline passes, the slots are free again, a
# negotiated client idle for longer keeps its connection, the timeouts
# are counted in the export's stats and logged a bounded number of times,
# and no fd is left behind.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 nbdinfo

IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 4 9
TAPDISK_NBD_HANDSHAKE_TIMEOUT_MS=1000 nbd_create -a "aio:$IMG"
fds_before=$(fd_count "$PID")

nbd_py - "$NBD_SOCK" "$IMG" <<'PY' || fail "handshake timeout"
import struct, sys, threading, time
import nbd_client as n

path, img = sys.argv[1], sys.argv[2]
disk = open(img, "rb").read()

# Negotiated before the stallers arrive: transmission has no deadline.
keep = n.Client(path)
keep.go()

# 14 silent clients and one dribbling a valid option header byte by byte
# take the remaining 15 slots; one more is refused at once.
silent = [n.Client(path) for _ in range(14)]
for c in silent:
    c.recv(18)
drip = n.Client(path)
drip.greet()
stop = threading.Event()
def dribble():
    for b in struct.pack(">QII", n.IHAVEOPT, n.OPT_GO, 6) + b"\0" * 6:
        if stop.wait(0.1):
            return
        try:
            drip.send(bytes([b]))
        except OSError:
            return
t = threading.Thread(target=dribble)
t.start()
time.sleep(0.1)
extra = n.Client(path)
extra.s.settimeout(2)
assert extra.s.recv(18) == b"", "17th client got a greeting"
extra.close()

# Past the deadline (1 s from accept) every staller is gone, the
# dribbler included, though it sent a byte every 100 ms.
t0 = time.time()
for c in silent + [drip]:
    assert c.closed_by_server(5), "staller kept its slot"
    c.close()
stop.set()
t.join()
assert time.time() - t0 < 5

# The slots are free: 15 new clients negotiate and read.
fresh = [n.Client(path) for _ in range(15)]
for i, c in enumerate(fresh):
    c.go()
    assert c.read(i, 4096 * i, 4096) == disk[4096 * i:4096 * (i + 1)]
# The client negotiated first has been idle well past the deadline.
assert keep.read(99, 0, 8192) == disk[:8192]
for c in fresh + [keep]:
    c.disconnect()
PY

tap-ctl list -m "$MINOR" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["tapdisks"][0]["vbds"][0]
n = v["exports"]["nbd"]
assert n["nbd_handshake_timeouts"] == 15, n
assert n["nbd_clients"] == 0, n
assert n["nbd_refused"] >= 1, n
' || fail "timeout counters"
wait_for '[ "$(fd_count "$PID")" -eq "$fds_before" ]' 5
log=$TAPDISK_RUN_DIR/tapdisk.log
lines=$(grep -c "no handshake after 1000 ms" "$log")
echo "timeout warnings logged: $lines"
[ "$lines" -ge 1 ] && [ "$lines" -le 10 ] ||
	fail "$lines timeout warnings (want 1..10: rate limited)"

# A bad value is ignored with a warning: the 10 s default applies, so a
# client silent for 1.5 s is still connected.
TAPDISK_NBD_HANDSHAKE_TIMEOUT_MS=soon nbd_create -a "aio:$IMG" -R
grep -q "ignoring TAPDISK_NBD_HANDSHAKE_TIMEOUT_MS='soon'" "$log" ||
	fail "bad timeout value not reported"
nbd_py - "$NBD_SOCK" <<'PY' || fail "default timeout"
import sys, time
import nbd_client as n
c = n.Client(sys.argv[1])
c.recv(18)
time.sleep(1.5)
c.send(b"\0\0\0\3")
c.opt(n.OPT_ABORT)
assert c.opt_reply(n.OPT_ABORT)[0] == n.REP_ACK
c.close()
PY
exit 0
