# SPDX-License-Identifier: GPL-2.0-only
# 100 reconnect cycles of one device without restarting tapdisk, as a
# guest that kexecs or reloads its driver does: Initialising -> InitWait
# -> Initialised -> Connected -> I/O -> Closing -> Closed, each cycle a
# new td-blkfront. tapdisk's fd count must come back exactly and its RSS
# must stay bounded (no per-connection leak).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/xenbus/xenbus-lib.sh"

truncate -s 16M "$TD_TMP/disk.raw"
# Under ASan, freed blocks sit in a quarantine (256 MiB by default) and
# would look like growth; keep it small. Other builds ignore this.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 \
	start_tapdisk
open_minor 0 "aio:$TD_TMP/disk.raw"
write_device 51712
tap-ctl xenbus-connect -p "$TD_PID" -m 0 -b "$BE_DIR/51712" \
	--transport shm || fail "xenbus-connect"

cycle() {
	front 51712 -q 2 -o 1 --seed "$1" verify --size 256k --ops 8 \
		>"$TD_TMP/cycle.out" 2>&1 ||
		fail "cycle $1: $(cat "$TD_TMP/cycle.out")"
	[ "$(be_state 51712)" = 6 ] || fail "cycle $1: not Closed"
}
# Warm up: first connection sets up the listener, allocator arenas.
for i in 1 2 3 4 5; do cycle "$i"; done
fds0=$(fd_count)
rss0=$(rss_kb)
for ((i = 6; i <= 100; i++)); do cycle "$i"; done
fds1=$(fd_count)
rss1=$(rss_kb)
echo "after 100 cycles: fds $fds0 -> $fds1, VmRSS $rss0 -> $rss1 KiB"
[ "$fds1" -eq "$fds0" ] || fail "fd leak: $fds0 -> $fds1"
# A leak of the rings' pools would be MiBs over 95 cycles.
[ "$rss1" -le $((rss0 + 2048)) ] || fail "RSS grew: $rss0 -> $rss1 KiB"
tap-ctl xenbus-list -p "$TD_PID" | grep -q "state=Closed" ||
	fail "final state"
echo OK
