# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC2046,SC2034,SC1090
# Attaching Linux blkfront in dom0 to OUR tapdisk through tapdisk's
# xenstore backend (docs/xenstore.md): the toolstack's part, as the tests
# need it. Sourced after lib.sh. Mode (a): the toolstack writes the
# frontend and backend nodes (backend type vbd3), creates a VBD with
# tap-ctl and asks tapdisk to serve the backend path (xenbus-connect).

TDX_TYPE=vbd3

# Returns 0 if this build has the xenstore backend; else prints why.
tdx_available() {
	tap-ctl xenbus-connect --help 2>&1 | grep -q -- '-b BACKEND' &&
		return 0
	echo "this build's tap-ctl has no xenbus-connect verb (xenstore" \
		"backend not built)"
	return 1
}

tdx_be() { xt_be "$TDX_TYPE" "$(xt_devid "${1#xvd}")"; }
tdx_fe() { xt_fe "$(xt_devid "${1#xvd}")"; }

tdx_connected() {
	xt_connected "$TDX_TYPE" "$(xt_devid "${1#xvd}")" "$1"
}

# Prints "PID MINOR" of the VBD serving DEV.
tdx_vbd() {
	cat "$XT_RUN/tdx-$1" 2>/dev/null || xt_die "no VBD recorded for $1"
}

# Serves image SPEC as DEV: tap-ctl create (with any further create
# options), the toolstack's nodes, then xenbus-connect; waits until both
# ends are Connected and /dev/DEV exists.
tdx_attach() {
	local dev=$1 spec=$2 why out pid minor devid
	shift 2
	why=$(tdx_available) || xt_skip "$why"
	modprobe xen-blkfront || xt_die "modprobe xen-blkfront"
	echo "tdx: create $spec for $dev"
	out=$(timeout 30 tap-ctl create -a "$spec" "$@" 2>&1) ||
		xt_die "tap-ctl create -a $spec: $out"
	minor=${out##*tapdev}
	pid=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
	[ -n "$pid" ] || xt_die "no tapdisk for minor $minor: $(tap-ctl list)"
	echo "$pid $minor" >"$XT_RUN/tdx-$dev"
	tdx_connect "$dev" "$spec"
}

# Writes DEV's nodes and connects the already created VBD of DEV.
tdx_connect() {
	local dev=$1 spec=$2 devid
	set -- $(tdx_vbd "$dev")
	devid=$(xt_devid "${dev#xvd}")
	xt_vbd_nodes "$TDX_TYPE" "$devid" "$dev" "$spec" ||
		xt_die "xenstore-write failed"
	echo "tdx: xenbus-connect $dev (pid $1 minor $2)"
	timeout 30 tap-ctl xenbus-connect -p "$1" -m "$2" \
		-b "$(tdx_be "$dev")" ||
		xt_die "tap-ctl xenbus-connect -b $(tdx_be "$dev") failed"
	xt_wait_connected "$TDX_TYPE" "$dev" 60
}

# The toolstack's detach of DEV: xenbus-disconnect, wait for the
# frontend to close and the disk to go, remove the nodes. The VBD stays.
tdx_disconnect() {
	local dev=$1 fe be
	set -- $(tdx_vbd "$dev")
	fe=$(tdx_fe "$dev") be=$(tdx_be "$dev")
	echo "tdx: xenbus-disconnect $dev (pid $1)"
	timeout 30 tap-ctl xenbus-disconnect -p "$1" -b "$be" ||
		xt_die "tap-ctl xenbus-disconnect -b $be failed"
	echo "tdx: backend state $(xenstore-read "$be/state")," \
		"frontend state $(xenstore-read "$fe/state")"
	# Linux 6.1's blkfront answers the backend's Closed by going Closed
	# with its disk dead (size 0); the disk goes when the frontend
	# directory does.
	xt_wait 30 sh -c "[ \"\$(xenstore-read $be/state)\" = 6 ] &&
		[ \"\$(xenstore-read $fe/state)\" = 6 ] &&
		{ [ ! -b /dev/$dev ] ||
		[ \"\$(cat /sys/block/$dev/size)\" = 0 ]; }" || {
		xenstore-ls -f "$be"; xenstore-ls -f "$fe"; dmesg | tail -n 10
		tap-ctl xenbus-list -p "$1"
		xt_die "$dev did not close in 30s after xenbus-disconnect" \
			"(backend state $(xenstore-read "$be/state")," \
			"frontend state $(xenstore-read "$fe/state"))"
	}
	echo "tdx: $dev closed, removing its nodes"
	xenstore-rm "$fe" || xt_die "xenstore-rm $fe"
	xenstore-rm "$be" || xt_die "xenstore-rm $be"
	# The xenbus device and the disk go away with the frontend directory.
	xt_wait 30 sh -c "[ ! -e /sys/bus/xen/devices/vbd-$(xt_devid \
		"${dev#xvd}") ] && [ ! -b /dev/$dev ]" ||
		xt_die "vbd device or /dev/$dev stayed after removing the nodes"
}

# Full detach: disconnect, then destroy the VBD.
tdx_detach() {
	tdx_disconnect "$1"
	set -- $(tdx_vbd "$1") "$1"
	echo "tdx: destroy pid $1 minor $2"
	timeout 30 tap-ctl destroy -p "$1" -m "$2" ||
		xt_die "tap-ctl destroy failed"
	rm -f "$XT_RUN/tdx-$3"
}
