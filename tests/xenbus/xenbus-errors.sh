# SPDX-License-Identifier: GPL-2.0-only
# Bad input to the xenbus backend. A frontend writing garbage into its
# nodes (non-numeric ring-ref, ring order above the maximum, missing
# event-channel, unknown protocol, too many queues) gets the backend into
# Closing with a Linux-style error node ("ERRNO message" under
# error/BACKEND/error), while another device of the same tapdisk keeps
# serving; the same frontend then reconnects correctly. A toolstack
# naming a missing device or a closed VBD gets a one-line error. A
# frontend that never connects times out: error node, Closed, and every
# fd released.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/xenbus/xenbus-lib.sh"

truncate -s 16M "$TD_TMP/a.raw" "$TD_TMP/b.raw"
start_tapdisk
open_minor 0 "aio:$TD_TMP/a.raw"
open_minor 1 "aio:$TD_TMP/b.raw"
write_device 51712
write_device 51728
for d in 51712:0 51728:1; do
	tap-ctl xenbus-connect -p "$TD_PID" -m "${d#*:}" \
		-b "$BE_DIR/${d%:*}" --transport shm || fail "connect $d"
done

# The healthy device stays connected through all of it.
front 51728 resize-wait >"$TD_TMP/other.out" 2>&1 &
other=$!
wait_for "grep -q connected '$TD_TMP/other.out'" 10
[ "$(be_state 51728)" = 4 ] || fail "device 51728 not Connected"

check_garbage() {
	local kind=$1 want=$2 out err
	out=$(front 51712 --xs-garbage "$kind" verify --size 1m 2>&1) &&
		fail "garbage $kind was accepted"
	grep -q "backend refused" <<<"$out" || fail "$kind: $out"
	err=$(error_node 51712) || fail "$kind: no error node"
	echo "$kind -> $err"
	grep -qE "^$want" <<<"$err" || fail "$kind: error node '$err'"
	# The frontend closed after the refusal: the backend followed.
	[ "$(be_state 51712)" = 6 ] || fail "$kind: backend not Closed"
	tap-ctl xenbus-list -p "$TD_PID" | grep "51712" | grep -q 'error=' ||
		fail "$kind: xenbus-list shows no error"
	[ "$(be_state 51728)" = 4 ] || fail "$kind: other device disturbed"
}
check_garbage ring-ref '22 .*/ring-ref is not a number: "12x"'
check_garbage order '22 .*/ring-page-order = 5 is above the maximum 4'
check_garbage evtchn '2 reading .*/event-channel: missing'
check_garbage protocol '22 unknown protocol "sparc-abi"'
check_garbage queues '22 .*/multi-queue-num-queues = 5 is above the max'

# Hand-written garbage: the frontend state itself.
xenstore-write "$FE_DIR/51712/state" banana
sleep 0.2
[ "$(be_state 51712)" = 6 ] || fail "state garbage changed the backend"

# The same frontend, now correct, connects and serves.
front 51712 verify --size 1m --ops 50 | grep -q '0 failed requests' ||
	fail "reconnect after errors"

# The other device served all along: grow its image, it sees the size.
truncate -s 32M "$TD_TMP/b.raw"
tap-ctl resize -p "$TD_PID" -m 1 || fail "resize"
wait "$other" || fail "other device: $(cat "$TD_TMP/other.out")"
grep -q "resized sectors=65536" "$TD_TMP/other.out" ||
	fail "resize not seen: $(cat "$TD_TMP/other.out")"
grep -q "new end ok" "$TD_TMP/other.out" || fail "new end not served"

# Toolstack mistakes: one-line errors, nothing served.
one_line_error tap-ctl xenbus-connect -p "$TD_PID" -m 0 \
	-b "$BE_DIR/99999" --transport shm
one_line_error tap-ctl xenbus-connect -p "$TD_PID" -m 0 \
	-b "$BE_DIR/51712" --transport shm
one_line_error tap-ctl xenbus-connect -p "$TD_PID" -m 7 -b "$BE_DIR/1"
one_line_error tap-ctl xenbus-connect -p "$TD_PID" -m 0 -b "$BE_DIR/1" \
	--transport carrier-pigeon
one_line_error tap-ctl xenbus-disconnect -p "$TD_PID" -b "$BE_DIR/4242"
tap-ctl attach -p "$TD_PID" -m 5 || fail "attach 5"
write_device 51760
one_line_error tap-ctl xenbus-connect -p "$TD_PID" -m 5 \
	-b "$BE_DIR/51760" --transport shm

# A frontend that never connects: timeout, error node, Closed, no leak.
tap-ctl xenbus-disconnect -p "$TD_PID" -b "$BE_DIR/51712" || fail "disc"
fds=$(fd_count)
write_device 51776
tap-ctl xenbus-connect -p "$TD_PID" -m 0 -b "$BE_DIR/51776" \
	--transport shm --frontend-timeout 300 || fail "connect 51776"
[ "$(be_state 51776)" = 2 ] || fail "not InitWait"
wait_for '[ "$(be_state 51776)" = 6 ]' 5
grep -q '^110 frontend did not connect within 300 ms' <<<"$(error_node 51776)" ||
	fail "timeout error node: $(error_node 51776)"
tap-ctl xenbus-list -p "$TD_PID" | grep 51776 | grep -q "did not connect" ||
	fail "timeout not listed"
tap-ctl xenbus-disconnect -p "$TD_PID" -b "$BE_DIR/51776" || fail "disc"
# Nothing of the device is left (tap-ctl's own connection closes async).
wait_for '[ "$(fd_count)" -le "$fds" ]' 5
tap-ctl xenbus-list -p "$TD_PID" | grep -q 51776 && fail "still listed"
echo OK
