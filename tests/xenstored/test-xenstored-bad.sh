#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# td-xenstored against hostile clients speaking the raw wire protocol: bad
# lengths, unknown types, missing NULs, bad paths and transaction ids, half
# messages, random messages, a client that never reads its events, many
# clients at once. Each gets an XS_ERROR or a closed connection; the daemon
# keeps serving other clients and exits cleanly at the end.
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/xenstored/xs-lib.sh"
requires python3

xs_start

xs_py - <<'PY' || fail "malformed-message checks"
import random, socket, struct, time
from xs_raw import *

good = Conn()
good.write("/t/x", b"1")

# Length over XENSTORE_PAYLOAD_MAX: closed (no way to resynchronise).
c = Conn()
c.send_raw(Conn.pack(READ, b"/t/x\0", 1, 0, length=PAYLOAD_MAX + 1))
c.expect_closed()
c = Conn()
c.send_raw(Conn.pack(WRITE, b"", 1, 0, length=0xffffffff))
c.expect_closed()

c = Conn()
# Unknown types and types only the daemon may send.
for t in (20, 23, 999, 0xffff, 0xffffffff):
    c.expect_error("ENOSYS", t, b"/t/x\0")
c.expect_error("EINVAL", WATCH_EVENT, b"/t/x\0tok\0")
c.expect_error("EINVAL", ERROR, b"EINVAL\0")
# Missing NUL, missing or extra arguments.
c.expect_error("EINVAL", READ, b"/t/x")
c.expect_error("EINVAL", READ, b"")
c.expect_error("EINVAL", READ, b"/t/x\0/t/y\0")
c.expect_error("EINVAL", WRITE, b"/t/x")
c.expect_error("EINVAL", WRITE, b"")
c.expect_error("EINVAL", MKDIR, b"/t/y")
c.expect_error("EINVAL", RM, b"")
c.expect_error("EINVAL", WATCH, b"/t\0")
c.expect_error("EINVAL", WATCH, b"/t\0tok")
c.expect_error("EINVAL", UNWATCH, b"/t")
c.expect_error("EINVAL", SET_PERMS, b"/t/x\0")
c.expect_error("EINVAL", SET_PERMS, b"/t/x\0n0")
c.expect_error("EINVAL", SET_PERMS, b"/t/x\0x0\0")
c.expect_error("EINVAL", SET_PERMS, b"/t/x\0r\0")
c.expect_error("EINVAL", DIRECTORY_PART, b"/t\0")
c.expect_error("EINVAL", DIRECTORY_PART, b"/t\0zz\0")
c.expect_error("EINVAL", GET_DOMAIN_PATH, b"abc\0")
c.expect_error("EINVAL", GET_DOMAIN_PATH, b"-1\0")
c.expect_error("EINVAL", INTRODUCE, b"1\0")
# Bad paths.
for p in (b"/t//x", b"/t/", b"/t x", b"/t/\xff", b"//", b"",
          b"/" + b"a" * 3072, b"b" * 2049, b"@x\0"):
    c.expect_error("EINVAL", READ, p + b"\0")
c.expect_error("EINVAL", RM, b"/\0")
c.expect_error("ENOENT", READ, b"/nope\0")
c.expect_error("ENOENT", RM, b"/nope/deeper\0")
c.expect_error("ENOENT", UNWATCH, b"/t\0tok\0")
# Watch token too long for its events to fit a message.
c.expect_error("E2BIG", WATCH, b"/t\0" + b"k" * 1100 + b"\0")
# Transaction ids that do not exist, or belong to someone else.
c.expect_error("ENOENT", READ, b"/t/x\0", tx_id=12345)
c.expect_error("ENOENT", TRANSACTION_END, b"T\0", tx_id=12345)
c.expect_error("ENOENT", TRANSACTION_END, b"T\0")
t, tid = good.call(TRANSACTION_START, b"\0")
assert t == TRANSACTION_START, t
tid = int(tid.rstrip(b"\0"))
c.expect_error("ENOENT", WRITE, b"/t/x\0v", tx_id=tid)
good.expect_error("EINVAL", TRANSACTION_END, b"X\0", tx_id=tid)
assert good.call(TRANSACTION_END, b"F\0", tid) == (TRANSACTION_END, b"OK\0")
# The connection that got all those errors still works.
assert c.read("/t/x") == b"1"

# RESET_WATCHES drops the client's watches.
k = Conn()
assert k.call(WATCH, b"/rw\0t\0") == (WATCH, b"OK\0")
assert k.recv()[::3] == (WATCH_EVENT, b"/rw\0t\0")
assert k.call(RESET_WATCHES, b"") == (RESET_WATCHES, b"OK\0")
good.write("/rw/x", b"1")
k.s.settimeout(0.3)
try:
    raise AssertionError("event after reset: %r" % (k.recv(),))
except socket.timeout:
    pass
k.close()

# Every type with an empty body: an answer, never a hang or a crash.
for t in range(0, 30):
    c.send(t, b"")
    m = c.recv_reply()
    assert m[1] == c.req_id, m

# Pipelined requests in one send, and one request a byte at a time.
c.send_raw(b"".join(Conn.pack(READ, b"/t/x\0", 100 + i) for i in range(50)))
for i in range(50):
    t, r, _, body = c.recv()
    assert (t, r, body) == (READ, 100 + i, b"1"), (t, r, body)
for b in Conn.pack(WRITE, b"/t/slow\0abc", 7):
    c.send_raw(bytes([b]))
    time.sleep(0.001)
assert c.recv()[::3] == (WRITE, b"OK\0")
assert good.read("/t/slow") == b"abc"

# Half a header, half a body, then hang up.
for data in (Conn.pack(READ, b"/t/x\0")[:7],
             Conn.pack(WRITE, b"/t/x\0" + b"z" * 100)[:40]):
    h = Conn(); h.send_raw(data); h.close()

# Random messages (seeded): each gets a reply, or the connection closes.
rng = random.Random(6)
r = Conn(timeout=2)
for i in range(400):
    t = rng.choice([rng.randrange(0, 32), READ, WRITE, RM, DIRECTORY,
                    WATCH, TRANSACTION_END, SET_PERMS, DIRECTORY_PART])
    n = rng.randrange(0, 64)
    body = bytes(rng.choice(b"/ab\0@-_xyz09\xff") for _ in range(n))
    tx = rng.choice([0, 0, 0, 1, 2, 0xffffffff])
    try:
        r.send_raw(Conn.pack(t, body, i, tx))
        while r.recv()[0] == WATCH_EVENT:
            pass
    except (Closed, ConnectionResetError, BrokenPipeError):
        r = Conn(timeout=2)
r.close()

# Many clients at once, each with its own node, interleaved.
conns = [Conn() for _ in range(150)]
for i, k in enumerate(conns):
    k.send(WRITE, b"/many/%d\0v%d" % (i, i))
for k in conns:
    assert k.recv()[::3] == (WRITE, b"OK\0")
for i, k in enumerate(conns):
    assert k.read("/many/%d" % ((i + 1) % 150)) == b"v%d" % ((i + 1) % 150)
for k in conns:
    k.close()
assert good.read("/t/x") == b"1"
print("malformed: ok")
PY

# A client that watches everything and never reads: its queued events hit
# the per-client cap and it is dropped; a writer and others are unharmed.
xs_py - <<'PY' || fail "slow reader checks"
import socket
from xs_raw import *

lazy = Conn()
lazy.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
lazy.send(WATCH, b"/\0" + b"T" * 1000 + b"\0")
w = Conn()
for i in range(3000):
    w.write("/flood/%d" % (i % 50), b"x" * 100)
assert w.read("/flood/7") == b"x" * 100
lazy.expect_closed()
print("slow reader: ok")
PY
grep -q "not reading its replies and events" "$XSD_LOG" ||
	fail "lazy client was not dropped"

# More clients than the daemon accepts: the extra ones are closed, the
# daemon keeps serving.
xs_py - <<'PY' || fail "client limit checks"
from xs_raw import *
conns = [Conn() for _ in range(300)]
ok = closed = 0
for k in conns:
    try:
        k.write("/lim", b"1")
        ok += 1
    except (Closed, ConnectionResetError, BrokenPipeError):
        closed += 1
assert ok == 256 and closed == 44, (ok, closed)
for k in conns:
    k.close()
print("client limit: ok")
PY

xs_alive
xs_py -c 'from xs_raw import *; c = Conn(); c.write("/after", b"ok");
assert c.read("/after") == b"ok"' || fail "daemon not serving at the end"
xs_stop
