# SPDX-License-Identifier: GPL-2.0-only
# Shared by the xenbus backend tests: a private td-xenstored, a tapdisk,
# and helpers to write the nodes a toolstack writes (docs/xenstore.md).
# Source after tests/functions.sh.
PATH="$top_builddir/tests/xenstored:$PATH"
requires tap-ctl tapdisk td-blkfront td-xenstored xenstore-write \
	xenstore-read xenstore-rm

XS_SOCK=$TD_TMP/xenstored.sock
XENSTORED_PATH=$XS_SOCK
export XENSTORED_PATH
td-xenstored --socket "$XS_SOCK" --log "$TD_TMP/xenstored.log" &
_xsd_pid=$!
cleanup_fn "kill $_xsd_pid 2>/dev/null"
wait_for "xenstore-write /tdtest 1 2>/dev/null" 10

FE_DIR=/local/domain/0/device/vbd
BE_DIR=/local/domain/0/backend/vbd3/0

# Starts a tapdisk; sets TD_PID. Extra arguments go to tapdisk.
start_tapdisk() {
	local fifo=$TD_TMP/ready.$$
	tapdisk -l "$TAPDISK_RUN_DIR/tapdisk.log" "$@" \
		-R 3 3>"$TD_TMP/ready" &
	TD_PID=$!
	wait_for "[ -s '$TD_TMP/ready' ]" 10
	rm -f "$fifo"
}

# Writes the backend and frontend nodes of device $1 (devid) the way a
# toolstack does, in one transaction; $2 extra "key value" backend pairs.
write_device() {
	local devid=$1 be="$BE_DIR/$1" fe="$FE_DIR/$1"
	shift
	xenstore-write \
		"$be/frontend" "$fe" "$be/frontend-id" 0 "$be/online" 1 \
		"$be/state" 1 "$be/removable" 0 "$be/dev" xvda \
		"$be/type" vbd3 "$be/device-type" disk \
		"$fe/backend" "$be" "$fe/backend-id" 0 "$fe/state" 1 \
		"$fe/virtual-device" "$devid" "$fe/device-type" disk "$@" ||
		fail "xenstore-write for device $devid"
}

# Attaches minor $1 to TD_PID with image $2 (TYPE:PATH).
open_minor() {
	tap-ctl attach -p "$TD_PID" -m "$1" || fail "attach $1"
	tap-ctl open -p "$TD_PID" -m "$1" -a "$2" || fail "open $1 $2"
}

be_state() { xenstore-read "$BE_DIR/$1/state" 2>/dev/null; }
error_node() {
	xenstore-read "/local/domain/0/error/backend/vbd3/0/$1/error" \
		2>/dev/null
}
fd_count() { ls "/proc/$TD_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$TD_PID/status"; }

# td-blkfront in xenstore mode on device $1; the rest are its options.
front() {
	local devid=$1
	shift
	td-blkfront --xenstore "$FE_DIR/$devid" -t 10000 "$@"
}
