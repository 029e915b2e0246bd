#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Replays a corpus of corrupted VHD images through the fuzz target
# (tests/fuzz/fuzz-vhd-open, built as a plain program): nothing may
# crash (run it in the sanitizer build to catch memory errors), and an
# image the library writes to must still validate afterwards. The
# mutations are seeded, so every run sees the same corpus.
. "$top_srcdir/tests/functions.sh"
set -e
VU="$top_builddir/control/vhd-util"
VW="$top_builddir/tests/vhd/vhd-write"
FZ="$top_builddir/tests/fuzz/fuzz-vhd-open"
cd "$TD_TMP"

"$VU" create -n dyn.vhd -s 4
head -c 8192 /dev/urandom > d8k
"$VW" dyn.vhd 24 d8k
"$VU" snapshot -n diff.vhd -p dyn.vhd
"$VW" diff.vhd 4100 d8k
"$VU" create -n fixed.vhd -s 2 -r
"$VU" check -n diff.vhd -p >/dev/null

mkdir corpus
for seed in 1 2 3 4 5 6 7 8; do
	rm -f corpus/*
	python3 - "$seed" <<'PY'
import random, struct, sys
seed = int(sys.argv[1])
r = random.Random(seed)
srcs = {n: open(n, "rb").read() for n in ("dyn.vhd", "diff.vhd", "fixed.vhd")}

def be32(b, off, v): b[off:off + 4] = struct.pack(">I", v & 0xffffffff)
def be64(b, off, v): b[off:off + 8] = struct.pack(">Q", v & (2**64 - 1))

def fix_footer(b, off):
    b[off + 64:off + 68] = b"\0\0\0\0"
    s = (~sum(b[off:off + 512])) & 0xffffffff
    be32(b, off + 64, s)

def fix_header(b):
    b[512 + 36:512 + 40] = b"\0\0\0\0"
    s = (~sum(b[512:1536])) & 0xffffffff
    be32(b, 512 + 36, s)

interesting = [0, 1, 0x7f, 0x80, 0xff, 0x1ff, 0x200, 0xfff, 0x1000,
               0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]

def mutate(name, b):
    dyn = name != "fixed.vhd"
    k = r.randrange(12 if dyn else 4)
    tail = len(b) - 512
    if k == 0:                      # random byte flips in metadata
        for _ in range(r.randrange(1, 16)):
            b[r.randrange(min(len(b), 8192))] ^= 1 << r.randrange(8)
    elif k == 1:                    # truncation
        del b[r.randrange(len(b)):]
    elif k == 2:                    # footer field, checksum fixed up
        off = r.choice([0, 8, 12, 16, 40, 48, 56, 60, 84, 85])
        be32(b, tail + off, r.choice(interesting))
        fix_footer(b, tail)
        if dyn:
            b[0:512] = b[tail:tail + 512]
    elif k == 3:                    # legacy 511-byte footer
        del b[-1]
    elif k == 4:                    # BAT entries
        for _ in range(r.randrange(1, 4)):
            be32(b, 1536 + 4 * r.randrange(4), r.choice(interesting +
                 [r.randrange(len(b) // 512 + 8)]))
    elif k == 5:                    # header table offset / max entries
        if r.random() < 0.5:
            be64(b, 512 + 16, r.choice(interesting + [1536, len(b)]))
        else:
            be32(b, 512 + 28, r.choice(interesting + [1 << 24, 3]))
        fix_header(b)
    elif k == 6:                    # block size
        be32(b, 512 + 32, r.choice(interesting + [1 << 20, 1 << 22, 4096]))
        fix_header(b)
    elif k == 7:                    # parent locators
        i = r.randrange(8)
        loc = 512 + 576 + 24 * i
        f = r.choice([0, 4, 8, 16])
        if f == 16:
            be64(b, loc + 16, r.choice(interesting + [len(b) - 100]))
        else:
            be32(b, loc + f, r.choice(interesting + [0x57327275, 0x4D616358]))
        fix_header(b)
    elif k == 8:                    # batmap header fields
        off = 2048 + r.choice([8, 16, 20, 24])
        be32(b, off + (4 if off == 2056 else 0), r.choice(interesting))
    elif k == 9:                    # kill the tail footer
        b[tail:] = b"\xc7" * 512
    elif k == 10:                   # poison the footers
        b[0:8] = b"v_poison"
        b[tail:tail + 8] = b"v_poison"
    else:                           # overlapping blocks
        b[1536 + 4:1536 + 8] = b[1536:1540]
    return b

n = 0
for name, data in srcs.items():
    for i in range(10):
        b = mutate(name, bytearray(data))
        if r.random() < 0.3:
            b = mutate(name, b)
        open("corpus/%s.%d.%d" % (name, seed, i), "wb").write(b)
        n += 1
PY
	"$FZ" corpus/* | grep -q "30 inputs, no crash" || fail "fuzz seed $seed"
done
# and the originals plus a few degenerate files
: > corpus/empty
head -c 511 /dev/zero > corpus/z511
head -c 4096 /dev/urandom > corpus/rand
cp dyn.vhd diff.vhd fixed.vhd corpus/
"$FZ" corpus/* | grep -q "inputs, no crash"
exit 0
