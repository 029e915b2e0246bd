#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Replays a corpus of NBD client byte streams through the fuzz target
# (tests/fuzz/fuzz-nbd-server, built as a plain program): well-formed
# sessions of every option and command, known-bad ones (garbage, bad
# magics, oversized options and requests, streams cut mid-message), and
# seeded mutations of them, each cut into pieces from one byte to 1 MiB.
# Nothing may crash (run it in the sanitizer build to catch memory errors
# and leaks) and every connection must close once its input ends. The
# mutations are seeded, so every run sees the same corpus. With
# NBD_FUZZ_CORPUS_DIR set, the corpus is also copied there (a seed corpus
# for a libFuzzer build of the target).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires python3
FZ="$top_builddir/tests/fuzz/fuzz-nbd-server"
[ -x "$FZ" ] || fail "$FZ not built"
mkdir "$TD_TMP/corpus"

nbd_py - "$TD_TMP/corpus" <<'PY' || fail "corpus generation"
import os, random, struct, sys
import nbd_client as n

out = sys.argv[1]
FLAGS = struct.pack(">I", 3)

def opt(o, data=b""):
    return struct.pack(">QII", n.IHAVEOPT, o, len(data)) + data

def info(name=b"", reqs=()):
    return (struct.pack(">I", len(name)) + name + struct.pack(">H", len(reqs))
            + b"".join(struct.pack(">H", r) for r in reqs))

def meta(name=b"", queries=(b"base:allocation",)):
    return (struct.pack(">I", len(name)) + name +
            struct.pack(">I", len(queries)) +
            b"".join(struct.pack(">I", len(q)) + q for q in queries))

def req(cmd, off, ln, flags=0, h=1, data=b""):
    return struct.pack(">IHHQQI", n.REQUEST_MAGIC, flags, cmd, h, off,
                       ln) + data

GO = opt(n.OPT_GO, info())
DISC = req(n.CMD_DISC, 0, 0)
rw = (req(n.CMD_WRITE, 4096, 4096, 0, 1, bytes(range(256)) * 16) +
      req(n.CMD_READ, 0, 8192, 0, 2) + req(n.CMD_FLUSH, 0, 0, 0, 3) +
      req(n.CMD_WRITE, 0, 512, 1, 4, b"f" * 512) +
      req(n.CMD_TRIM, 8192, 65536, 0, 5) +
      req(n.CMD_WRITE_ZEROES, 0, 4096, 0, 6) +
      req(n.CMD_WRITE_ZEROES, 1 << 20, 1 << 20, 2, 7) +
      req(n.CMD_READ, (4 << 20) - 512, 512, 0, 8))
seeds = {
    "go-simple": FLAGS + GO + rw + DISC,
    "go-structured": FLAGS + opt(n.OPT_STRUCTURED_REPLY) +
        opt(n.OPT_SET_META, meta()) + opt(n.OPT_GO, info(b"3", (0, 1, 2, 3))) +
        rw + req(n.CMD_BLOCK_STATUS, 0, 1 << 20, 0, 9) +
        req(n.CMD_BLOCK_STATUS, 4096, 4096, 1, 10) +
        req(n.CMD_READ, 0, 4096, 4, 11) + DISC,
    "export-name": FLAGS + opt(n.OPT_EXPORT_NAME) + rw + DISC,
    "export-name-zeroes": struct.pack(">I", 1) + opt(n.OPT_EXPORT_NAME, b"3")
        + req(n.CMD_READ, 0, 512),
    "options": FLAGS + opt(n.OPT_LIST) + opt(n.OPT_INFO, info(b"", (1, 2))) +
        opt(n.OPT_STRUCTURED_REPLY) + opt(n.OPT_LIST_META, meta(b"", ())) +
        opt(n.OPT_LIST_META, meta(b"", (b"base:",))) + opt(n.OPT_STARTTLS) +
        opt(99, b"xyz") + opt(n.OPT_ABORT),
    "bad-options": FLAGS + opt(n.OPT_LIST, b"x") +
        opt(n.OPT_GO, b"\0\0\0\x09abc") + opt(n.OPT_INFO, info(b"nosuch")) +
        opt(n.OPT_SET_META, meta()) + opt(n.OPT_STRUCTURED_REPLY, b"x") +
        opt(n.OPT_SET_META, meta(b"", (b"nocolon",))) +
        opt(n.OPT_INFO, b"\0" * 20000) + GO + DISC,
    "garbage-flags": b"GET / HTTP/1.0\r\n\r\n",
    "old-flags": struct.pack(">I", 0) + GO,
    "bad-opt-magic": FLAGS + b"X" * 16,
    "long-export-name": FLAGS + struct.pack(">QII", n.IHAVEOPT,
                                            n.OPT_EXPORT_NAME, 1 << 20),
    "bad-req-magic": FLAGS + GO + b"\xde\xad\xbe\xef" + b"\0" * 24,
    "bad-requests": FLAGS + GO + req(n.CMD_READ, 4 << 20, 512) +
        req(n.CMD_READ, (1 << 64) - 512, 1024) + req(n.CMD_READ, 1, 512) +
        req(n.CMD_READ, 0, 64 << 20) +
        req(n.CMD_WRITE, (4 << 20) - 512, 1024, 0, 2, b"w" * 1024) +
        req(n.CMD_WRITE, 0, 512, 1 << 9, 3, b"w" * 512) +
        req(n.CMD_TRIM, 0, 512, 1 << 2) + req(n.CMD_FLUSH, 4096, 0) +
        req(n.CMD_BLOCK_STATUS, 0, 512) + req(5, 0, 512) + req(200, 0, 512) +
        req(n.CMD_WRITE, 0, 40 << 20, 0, 4, b"z" * 9000),
    "cut-payload": FLAGS + GO + req(n.CMD_WRITE, 0, 1 << 20, 0, 1, b"x" * 5000),
    "cut-header": FLAGS + GO + req(n.CMD_READ, 0, 4096)[:13],
    "many-reads": FLAGS + GO + b"".join(req(n.CMD_READ, (i * 65536) % (4 << 20),
                                            65536, 0, i) for i in range(100)),
    "empty": b"",
}
r = random.Random(1)
interesting = [0, 1, 0x1ff, 0x200, 0x1000, 0x7fffffff, 0x80000000,
               0xffffffff, 4 << 20, 32 << 20]

def mutate(b):
    b = bytearray(b)
    if not b:
        return bytes(r.randrange(256) for _ in range(r.randrange(64)))
    k = r.randrange(5)
    if k == 0:
        for _ in range(r.randrange(1, 8)):
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
    elif k == 1:
        del b[r.randrange(len(b)):]
    elif k == 2 and len(b) >= 4:
        o = r.randrange(len(b) - 3)
        b[o:o + 4] = struct.pack(">I", r.choice(interesting))
    elif k == 3:
        o = r.randrange(len(b))
        b[o:o] = bytes(b[r.randrange(len(b)):][:r.randrange(1, 64)])
    else:
        o = r.randrange(len(b))
        del b[o:o + r.randrange(1, 32)]
    return bytes(b)

count = 0
for name, s in seeds.items():
    for mode in (0, 3, 7):
        open(os.path.join(out, "%s.%d" % (name, mode)), "wb").write(
            bytes([mode]) + s)
        count += 1
    for i in range(6):
        m = mutate(s)
        if r.random() < 0.3:
            m = mutate(m)
        open(os.path.join(out, "%s.m%d" % (name, i)), "wb").write(
            bytes([r.randrange(256)]) + m)
        count += 1
print(count)
PY
n=$(ls "$TD_TMP/corpus" | wc -l)
if [ -n "${NBD_FUZZ_CORPUS_DIR:-}" ]; then
	mkdir -p "$NBD_FUZZ_CORPUS_DIR" && cp "$TD_TMP"/corpus/* "$NBD_FUZZ_CORPUS_DIR"/
fi
[ "$n" -ge 100 ] || fail "corpus has only $n inputs"
out=$("$FZ" "$TD_TMP"/corpus/* 2>"$TD_TMP/fz.err") ||
	{ tail -20 "$TD_TMP/fz.err" >&2; fail "fuzz target failed"; }
echo "$out"
[ "$out" = "fuzz-nbd-server: $n inputs, no crash" ] || fail "unexpected: $out"
exit 0
