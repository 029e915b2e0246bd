# SPDX-License-Identifier: GPL-2.0-only
# Mode (b): tapdisk --xenbus-watch DIR serves the devices a toolstack
# creates under DIR, opening the image named in "params" itself. A good
# device connects and serves; one whose image cannot be opened shows
# hotplug-status=error, hotplug-error and the error node with a readable
# message; removing a device's backend directory closes and detaches its
# VBD. A vhd image grown with vhd-util resize while paused is seen by
# the frontend after tap-ctl resize (which also resumes it).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/xenbus/xenbus-lib.sh"

truncate -s 16M "$TD_TMP/disk.raw"
start_tapdisk --xenbus-watch /local/domain/0/backend/vbd3 \
	--xenbus-transport shm

write_device 51712 "$BE_DIR/51712/params" "$TD_TMP/disk.raw" \
	"$BE_DIR/51712/mode" w
wait_for '[ "$(be_state 51712)" = 2 ]' 5
tap-ctl list -p "$TD_PID" | grep -q "args=aio:$TD_TMP/disk.raw" ||
	fail "no VBD for the watched device: $(tap-ctl list -p "$TD_PID")"
front 51712 verify --size 1m --ops 50 | grep -q '0 failed requests' ||
	fail "verify on watched device"

# An image that cannot be opened.
write_device 51728 "$BE_DIR/51728/params" "aio:$TD_TMP/missing.raw"
wait_for 'xenstore-read "$BE_DIR/51728/hotplug-status" 2>/dev/null | grep -qx error' 5
msg=$(xenstore-read "$BE_DIR/51728/hotplug-error")
echo "hotplug-error: $msg"
grep -q "missing.raw" <<<"$msg" || fail "hotplug-error '$msg'"
grep -qE '^2 .*missing.raw' <<<"$(error_node 51728)" ||
	fail "error node: $(error_node 51728)"
[ "$(tap-ctl list -p "$TD_PID" | grep -c minor=)" = 1 ] ||
	fail "a VBD was left for the failed device"

# A vhd grows online (vhd-util resize + tap-ctl resize).
if command -v vhd-util >/dev/null; then
	vhd-util create -n "$TD_TMP/d.vhd" -s 8 || fail "vhd-util create"
	write_device 51744 "$BE_DIR/51744/params" "vhd:$TD_TMP/d.vhd"
	wait_for '[ "$(be_state 51744)" = 2 ]' 5
	front 51744 resize-wait >"$TD_TMP/rs.out" 2>&1 &
	rs=$!
	wait_for "grep -q connected '$TD_TMP/rs.out'" 10
	minor=$(tap-ctl list -p "$TD_PID" | grep "d.vhd" |
		sed -n 's/.*minor=\([0-9]*\).*/\1/p')
	# As a storage manager does it: the file changes only while paused.
	tap-ctl pause -p "$TD_PID" -m "$minor" || fail "pause"
	vhd-util resize -n "$TD_TMP/d.vhd" -s 16 -j "$TD_TMP/d.journal" || fail "vhd-util resize"
	tap-ctl resize -p "$TD_PID" -m "$minor" || fail "tap-ctl resize"
	wait "$rs" || fail "resize-wait: $(cat "$TD_TMP/rs.out")"
	grep -q "resized sectors=32768" "$TD_TMP/rs.out" ||
		fail "vhd resize not seen: $(cat "$TD_TMP/rs.out")"
fi

# The toolstack removes the device: VBD closed and detached.
xenstore-rm "$BE_DIR/51712"
wait_for '! tap-ctl list -p "$TD_PID" | grep -q "disk.raw"' 5
tap-ctl xenbus-list -p "$TD_PID" | grep -q 51712 && fail "still served"
echo OK
