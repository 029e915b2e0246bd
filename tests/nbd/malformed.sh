# SPDX-License-Identifier: GPL-2.0-only
# Malformed and hostile NBD clients, written with raw sockets: garbage,
# bad magics, unknown options and commands, oversized options and
# requests, offsets past the end, clients vanishing mid-message, a client
# sending one byte at a time and one never reading its replies, too many
# clients. Each gets its NBD error or a closed connection; the daemon and
# the other clients keep going, and no fd is left behind.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 nbdinfo

IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 16 5
nbd_create -a "aio:$IMG"
fds_before=$(fd_count "$PID")

nbd_py - "$NBD_SOCK" "$IMG" <<'PY' || fail "malformed clients"
import socket, struct, sys, threading, time
import nbd_client as n

path, img = sys.argv[1], sys.argv[2]
disk = open(img, "rb").read()
SIZE = len(disk)

def fresh():
    return n.Client(path)

def works():
    """A well-behaved client still gets correct data."""
    c = fresh()
    c.go()
    assert c.read(1, 4096, 8192) == disk[4096:12288]
    c.disconnect()

# Garbage instead of the client flags (an HTTP client, say).
c = fresh(); c.recv(18); c.send(b"GET / HTTP/1.0\r\n\r\n")
assert c.closed_by_server(); c.close()
# Unknown client flags; not fixed newstyle.
for fl in (0x7, 0x0):
    c = fresh(); c.greet(fl); assert c.closed_by_server(); c.close()
# Bad option magic.
c = fresh(); c.greet(); c.send(b"X" * 16); assert c.closed_by_server()
c.close()
works()

# Unknown options, STARTTLS, oversize and malformed options: errors, and
# the same connection then negotiates normally.
c = fresh(); c.greet()
c.opt(99, b"abc"); assert c.opt_reply(99)[0] == n.REP_ERR_UNSUP
c.opt(n.OPT_STARTTLS); assert c.opt_reply(n.OPT_STARTTLS)[0] == n.REP_ERR_POLICY
c.opt(n.OPT_LIST, b"\0"); assert c.opt_reply(n.OPT_LIST)[0] == n.REP_ERR_INVALID
c.opt(n.OPT_GO, b"\0\0\0\x09abc"); assert c.opt_reply(n.OPT_GO)[0] == n.REP_ERR_INVALID
c.opt(n.OPT_GO, struct.pack(">I", 3) + b"zzz" + b"\0\0")
assert c.opt_reply(n.OPT_GO)[0] == n.REP_ERR_UNKNOWN
c.opt(n.OPT_INFO, b"\0" * (1 << 20))
assert c.opt_reply(n.OPT_INFO)[0] == n.REP_ERR_TOO_BIG
c.opt(n.OPT_SET_META, b"\0\0\0\0\0\0\0\1\0\0\0\4base")
assert c.opt_reply(n.OPT_SET_META)[0] == n.REP_ERR_INVALID  # no structured
c.opt(n.OPT_GO, b"\0\0\0\0\0\0")
while True:
    t, _ = c.opt_reply(n.OPT_GO)
    if t != n.REP_INFO:
        assert t == n.REP_ACK, hex(t); break

# Transmission errors.
def err_of(cmd, off, ln, flags=0, data=b""):
    c.request(cmd, 7, off, ln, flags, data)
    return c.simple_reply(7)[0]
assert err_of(n.CMD_READ, SIZE, 512) == n.EINVAL
assert err_of(n.CMD_READ, SIZE - 512, 1024) == n.EINVAL
assert err_of(n.CMD_READ, (1 << 64) - 512, 1024) == n.EINVAL
assert err_of(n.CMD_READ, 1, 512) == n.EINVAL
assert err_of(n.CMD_READ, 0, 64 << 20) == n.EINVAL
assert err_of(n.CMD_WRITE, SIZE - 512, 1024, 0, b"w" * 1024) == n.ENOSPC
assert err_of(n.CMD_WRITE, 0, 40 << 20, 0, b"\0" * (40 << 20)) == n.EINVAL
assert err_of(n.CMD_WRITE, 0, 512, 1 << 9, b"w" * 512) == n.EINVAL
assert err_of(n.CMD_WRITE_ZEROES, SIZE, 512) == n.ENOSPC
assert err_of(n.CMD_TRIM, 0, 512, 1 << 2) == n.EINVAL
assert err_of(n.CMD_FLUSH, 4096, 0) == n.EINVAL
assert err_of(n.CMD_BLOCK_STATUS, 0, 512) == n.EINVAL
assert err_of(5, 0, 512) == n.EINVAL
assert err_of(200, 0, 512) == n.EINVAL
assert c.read(8, 0, 4096) == disk[:4096]
# Bad request magic: framing is lost, the server hangs up.
c.send(b"\xde\xad\xbe\xef" + b"\0" * 24)
assert c.closed_by_server(); c.close()
works()

# Clients vanishing mid-message: in the handshake, in a request header,
# in a write payload.
c = fresh(); c.greet(); c.send(struct.pack(">Q", n.IHAVEOPT) + b"\0\0"); c.close()
c = fresh(); c.go(); c.send(b"\x25\x60\x95\x13\0\0\0\0"); c.close()
c = fresh(); c.go()
c.request(n.CMD_WRITE, 1, 0, 1 << 20, 0, b"x" * 4096); c.close()
works()
# The half-written request was never applied.
assert open(img, "rb").read(8192) == disk[:8192]

# One byte at a time, slowly, while another client is served normally.
slow = fresh(); slow.go()
msg = struct.pack(">IHHQQI", n.REQUEST_MAGIC, 0, n.CMD_READ, 5, 0, 4096)
def dribble():
    for b in msg:
        slow.send(bytes([b])); time.sleep(0.01)
t = threading.Thread(target=dribble); t.start()
t0 = time.time()
for i in range(20):
    works()
assert time.time() - t0 < 5, "a slow client held the others up"
t.join()
err, data, _ = slow.simple_reply(5, 4096)
assert err == 0 and data == disk[:4096]
slow.disconnect()

# A client that never reads its replies does not stall the others.
lazy = fresh(); lazy.go()
for i in range(64):
    lazy.request(n.CMD_READ, 100 + i, 0, 1 << 20)
time.sleep(0.2)
works()
got = set()
for i in range(64):
    err, data, h = lazy.simple_reply(None, 1 << 20)
    assert err == 0 and data == disk[: 1 << 20]
    got.add(h)
assert got == set(range(100, 164))
lazy.disconnect()

# Too many clients: the extra ones are closed, the rest keep working.
held = [fresh() for _ in range(16)]
for h in held:
    h.recv(18)
extra = fresh()
assert extra.closed_by_server(); extra.close()
for h in held:
    h.close()
time.sleep(0.2)
works()
PY

# The daemon is alive and still lists the VBD; nothing leaked.
tap-ctl list -m "$MINOR" >/dev/null || fail "daemon gone"
nbdinfo --size "$URI" | grep -qx 16777216 || fail "nbdinfo after abuse"
wait_for '[ "$(fd_count "$PID")" -eq "$fds_before" ]' 5
exit 0
