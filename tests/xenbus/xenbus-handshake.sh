# SPDX-License-Identifier: GPL-2.0-only
# The full xenbus handshake (tap-ctl xenbus-connect, frontend through
# libxenstore against td-xenstored, rings over the xenbus shm transport)
# for every feature the simulated frontend can request: each ABI, ring
# order 0 and 4, 1 and 4 queues, indirect 0 and 256, persistent on and
# off; then a read-only disk and backend limits. Each combination is a
# full cycle: InitWait -> Connected -> verify -> Closing -> Closed, on the
# same backend device, so it is also a reconnect test. The negotiated
# values must be the ones asked for.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/xenbus/xenbus-lib.sh"

truncate -s 32M "$TD_TMP/disk.raw"
start_tapdisk
open_minor 0 "aio:$TD_TMP/disk.raw"
write_device 51712
tap-ctl xenbus-connect -p "$TD_PID" -m 0 -b "$BE_DIR/51712" \
	--transport shm || fail "xenbus-connect"
[ "$(be_state 51712)" = 2 ] || fail "backend not in InitWait"
for k in feature-flush-cache feature-barrier feature-discard \
	discard-granularity discard-alignment discard-secure \
	feature-persistent feature-max-indirect-segments max-ring-page-order \
	multi-queue-max-queues sector-size physical-sector-size sectors info \
	mode hotplug-status shm-socket; do
	xenstore-read "$BE_DIR/51712/$k" >/dev/null || fail "no node $k"
done
[ "$(xenstore-read "$BE_DIR/51712/sectors")" = 65536 ] || fail "sectors"
[ "$(xenstore-read "$BE_DIR/51712/hotplug-status")" = connected ] ||
	fail "hotplug-status"

n=0
for a in native x86_32 x86_64; do
for o in 0 4; do
for q in 1 4; do
for i in 0 256; do
for p in on off; do
	n=$((n + 1))
	out=$(front 51712 -a "$a" -o "$o" -q "$q" -i "$i" -P "$p" \
		--seed "$n" verify --size 2m --ops 40) ||
		fail "verify $a order $o queues $q indirect $i persistent $p:" \
			"$out"
	want="ring-page-order $o, queues $q, indirect $i, persistent $p, abi $a;"
	grep -qF "$want" <<<"$out" || fail "not negotiated: $want: $out"
	grep -q '0 mismatching reads (0 bytes), 0 failed' <<<"$out" ||
		fail "verify: $out"
	[ "$(be_state 51712)" = 6 ] || fail "backend not Closed after $n"
done; done; done; done; done
echo "$n combinations connected, verified and closed"
tap-ctl xenbus-list -p "$TD_PID" | grep -q "state=Closed" ||
	fail "xenbus-list"

# Backend limits are what the frontend sees and gets.
open_minor 1 "aio:$TD_TMP/disk.raw"
write_device 51728
tap-ctl xenbus-connect -p "$TD_PID" -m 1 -b "$BE_DIR/51728" \
	--transport shm || fail "xenbus-connect 2"
xenstore-read "$BE_DIR/51728/multi-queue-max-queues" | grep -qx 4 ||
	fail "default queues"
tap-ctl xenbus-disconnect -p "$TD_PID" -b "$BE_DIR/51728" ||
	fail "disconnect"
[ "$(be_state 51728)" = 6 ] || fail "not Closed after xenbus-disconnect"
tap-ctl close -p "$TD_PID" -m 1 && tap-ctl detach -p "$TD_PID" -m 1 ||
	fail "close 1"

# Read-only: info has VDISK_READONLY, mode r; verify (a writer) refuses.
open_ro() {
	tap-ctl attach -p "$TD_PID" -m 2 &&
		tap-ctl open -p "$TD_PID" -m 2 -R -a "aio:$TD_TMP/disk.raw"
}
open_ro || fail "open read-only"
write_device 51744
tap-ctl xenbus-connect -p "$TD_PID" -m 2 -b "$BE_DIR/51744" \
	--transport shm || fail "xenbus-connect ro"
[ "$(xenstore-read "$BE_DIR/51744/info")" = 4 ] || fail "info not 4"
[ "$(xenstore-read "$BE_DIR/51744/mode")" = r ] || fail "mode not r"
out=$(front 51744 verify --size 1m 2>&1) && fail "verify wrote to ro"
grep -q "read-only" <<<"$out" || fail "ro: $out"
[ "$(be_state 51744)" = 6 ] || fail "ro device not Closed"
echo OK
