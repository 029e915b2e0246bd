#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The main job on a default that needs no Xen: installs what is missing,
# builds, then serves a demo disk and checks real data through both of its
# front doors. Everything it creates lives in one temporary directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
scripts/build.sh gcc
b="$top/build/gcc"
export PATH="$b/tapdisk:$b/control:$b/tests/blkfront:$PATH"

work=$(mktemp -d /tmp/tapdisk-demo.XXXXXX)
export TAPDISK_RUN_DIR="$work/run"
pid=""
finish() {
	local rc=$?
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || :
	rm -rf "$work"
	[ "$rc" -eq 0 ] || echo "demo: FAILED (exit $rc)" >&2
}
trap finish EXIT
say() { printf '\n== %s\n' "$*"; }

img="$work/disk.img"
say "creating a 64 MiB raw image: $img"
truncate -s 64M "$img"

say "tap-ctl create -a aio:$img"
dev=$(tap-ctl create -a "aio:$img")
minor=${dev##*tapdev}
pid=$(tap-ctl list -m "$minor" | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
echo "device $dev: tapdisk pid $pid, minor $minor"

say "tap-ctl list"
tap-ctl list

say "guest view: td-blkfront verify over the shm ring (order 2, 2 queues, indirect 32)"
td-blkfront -p "$pid" -m "$minor" -o 2 -q 2 -i 32 verify

say "dom0 view: NBD export, write a pattern with nbdcopy and read it back"
sock=$(tap-ctl list --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tapdisks"]:
    for v in t["vbds"]:
        if v["minor"] == int(sys.argv[1]):
            print(v["exports"]["nbd"]["nbd_socket"])' "$minor")
echo "export: nbd+unix:///?socket=$sock"
head -c 16M /dev/urandom >"$work/pattern"
nbdcopy "$work/pattern" "nbd+unix:///?socket=$sock"
nbdcopy "nbd+unix:///?socket=$sock" "$work/readback"
cmp -n $((16 << 20)) "$work/pattern" "$work/readback"
echo "16 MiB written and read back through NBD: identical"
cmp -n $((16 << 20)) "$work/pattern" "$img"
echo "and identical in the image file itself"

say "tap-ctl pause / unpause (requests wait, none is lost)"
tap-ctl pause -p "$pid" -m "$minor"
tap-ctl list -m "$minor"
tap-ctl unpause -p "$pid" -m "$minor"
tap-ctl list -m "$minor"

say "tap-ctl stats"
tap-ctl stats -p "$pid" -m "$minor"

say "tap-ctl destroy"
tap-ctl destroy -p "$pid" -m "$minor"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	echo "demo: tapdisk $pid still running after destroy" >&2
	exit 1
fi
pid=""
echo "tapdisk exited after its last disk was destroyed"
say "demo: OK"
