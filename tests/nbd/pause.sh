# SPDX-License-Identifier: GPL-2.0-only
# Pausing a VBD pauses its NBD clients: a client stays connected across
# pause/unpause, requests sent while paused get no reply until the VBD
# resumes and then complete in full; unpausing onto a copy of the image
# serves the copy's data to the same connection. Closing the VBD under a
# connected client closes the client, and the socket goes away.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3

IMG=$TD_TMP/disk.raw
COPY=$TD_TMP/copy.raw
make_pattern_file "$IMG" 8 1
make_pattern_file "$COPY" 8 2
nbd_create -a "aio:$IMG"
FIFO=$TD_TMP/ctl
mkfifo "$FIFO.in" "$FIFO.out"

# The client runs in the background and takes orders through fifos, so
# the shell can pause and unpause between its steps.
nbd_py - "$NBD_SOCK" "$IMG" "$COPY" "$FIFO" <<'PY' &
import select, sys
import nbd_client as n

path, img, copy, fifo = sys.argv[1:5]
orig = open(img, "rb").read()
cin = open(fifo + ".in"); cout = open(fifo + ".out", "w")
def say(s):
    cout.write(s + "\n"); cout.flush()
def wait(s):
    line = cin.readline().strip()
    assert line == s, (line, s)

c = n.Client(path, timeout=30)
c.go()
assert c.read(1, 0, 4096) == orig[:4096]
say("connected"); wait("paused")
c.request(n.CMD_WRITE, 2, 8192, 4096, 0, b"P" * 4096)
c.request(n.CMD_READ, 3, 0, 4096)
c.request(n.CMD_FLUSH, 4, 0, 0)
# Nothing may come back while the VBD is paused.
r, _, _ = select.select([c.s], [], [], 1.0)
assert not r, "reply while paused"
say("sent"); wait("resumed")
got = {}
for _ in range(3):
    err, _, h = c.simple_reply()
    assert err == 0, (h, err)
    if h == 3:
        got[h] = c.recv(4096)
    else:
        got[h] = b""
assert sorted(got) == [2, 3, 4], got
assert got[3] == orig[:4096]
assert c.read(5, 8192, 4096) == b"P" * 4096
say("checked"); wait("swapped")
# Same connection, new leaf: the copy's data.
assert c.read(6, 65536, 4096) == open(copy, "rb").read()[65536:69632]
say("copy"); wait("closed")
assert c.closed_by_server(), "still connected after close"
say("done")
PY
client=$!
exec 3>"$FIFO.in" 4<"$FIFO.out"
expect() {
	local line
	read -r -t 30 line <&4 || fail "client did not say '$1'"
	[ "$line" = "$1" ] || fail "client said '$line', expected '$1'"
}

expect connected
tap-ctl pause -p "$PID" -m "$MINOR" || fail "pause"
[ "$(tap-ctl list -m "$MINOR" --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["tapdisks"][0]["vbds"][0]["exports"]["nbd"]["nbd_clients"])')" = 1 ] ||
	fail "client dropped by pause"
echo paused >&3
expect sent
tap-ctl unpause -p "$PID" -m "$MINOR" || fail "unpause"
echo resumed >&3
expect checked
tap-ctl pause -p "$PID" -m "$MINOR" || fail "pause 2"
tap-ctl unpause -p "$PID" -m "$MINOR" -a "aio:$COPY" || fail "unpause -a"
echo swapped >&3
expect copy
tap-ctl close -p "$PID" -m "$MINOR" || fail "close"
echo closed >&3
expect done
wait "$client" || fail "client failed"
[ ! -e "$NBD_SOCK" ] || fail "socket left after close"
# The write made while paused reached the original file.
python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
assert d[8192:12288] == b"P" * 4096
' "$IMG" || fail "paused write lost"
exit 0
