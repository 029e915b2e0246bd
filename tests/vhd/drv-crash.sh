#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# tapdisk killed (SIGKILL) in the middle of a stream of allocating writes
# into a differencing VHD: the file left behind must pass vhd-util check
# as it is (no repair: the tail footer is kept valid while open), and,
# reopened through tapdisk, hold every write qemu-io saw acknowledged,
# the base's data everywhere else (no stale or lost sectors), and only
# old-or-new sectors in the writes that were in flight.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk vhd-util python3 nbdcopy qemu-io stdbuf

BASE=$TD_TMP/base.vhd
LEAF=$TD_TMP/leaf.vhd
SRC=$TD_TMP/src.raw
OUT=$TD_TMP/out.raw
CMDS=$TD_TMP/cmds
LOG=$TD_TMP/qemu-io.log

vhd-util create -n "$BASE" -s 64 || fail "create base"
make_pattern_file "$SRC" 64 21
nbd_create -a "vhd:$BASE"
nbdcopy "$SRC" "$URI" || fail "fill base"
tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy base"
vhd-util snapshot -n "$LEAF" -p "$BASE" || fail "snapshot"

# 1500 writes of 16 KiB into distinct 64 KiB slots, byte i % 250 + 1.
python3 - "$CMDS" <<'PY'
import random, sys
r = random.Random(5)
slots = r.sample(range(1024), 1024)
with open(sys.argv[1], "w") as f:
    for i in range(1500):
        s = slots[i % 1024]
        off = s * 65536 + (i // 1024) * 16384
        f.write("write -P %d %d 16384\n" % (i % 250 + 1, off))
PY

nbd_create -a "vhd:$LEAF"
stdbuf -oL qemu-io -f raw "$URI" <"$CMDS" >"$LOG" 2>&1 &
QPID=$!
# let some writes through, then kill tapdisk under it
for ((i = 0; i < 100; i++)); do
	n=$(grep -c 'wrote' "$LOG" 2>/dev/null)
	[ "${n:-0}" -ge 200 ] && break
	sleep 0.05
done
kill -9 "$PID"
wait "$QPID" 2>/dev/null
n=$(grep -c 'wrote' "$LOG")
echo "acknowledged writes before the kill: $n of 1500"
[ "$n" -ge 1 ] && [ "$n" -lt 1500 ] || fail "kill did not land mid-stream ($n)"

# The file as the crash left it: valid, without repair.
vhd-util check -n "$LEAF" || fail "vhd-util check after the crash"

# Reopen (the driver trims leaked space) and read the whole disk back.
nbd_create -a "vhd:$LEAF"
nbdcopy "$URI" "$OUT" || fail "copy out"
tap-ctl destroy -p "$PID" -m "$MINOR" || fail "destroy"
vhd-util check -n "$LEAF" || fail "vhd-util check after reopen"

python3 - "$SRC" "$OUT" "$CMDS" "$LOG" <<'PY' || fail "content check"
import re, sys
src = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "rb").read()
cmds = [l.split() for l in open(sys.argv[3])]
acked = set()
for l in open(sys.argv[4]):
    m = re.search(r"wrote \d+/\d+ bytes at offset (\d+)", l)
    if m:
        acked.add(int(m.group(1)))
exp = bytearray(src)
maybe = {}
for i, c in enumerate(cmds):
    b, off, n = int(c[2]), int(c[3]), int(c[4])
    if off in acked:
        exp[off:off + n] = bytes([b]) * n
    else:
        maybe[off] = (b, n)
bad = 0
for s in range(0, len(out), 512):
    got, want = out[s:s + 512], bytes(exp[s:s + 512])
    if got == want:
        continue
    base = s - s % 16384
    if base in maybe and got == bytes([maybe[base][0]]) * 512:
        continue  # unacknowledged write that landed: allowed
    bad += 1
    if bad <= 5:
        print("sector %d: stale or lost data" % (s // 512))
print("acked %d, unacked %d, bad sectors %d" % (len(acked), len(maybe), bad))
sys.exit(1 if bad else 0)
PY
exit 0
