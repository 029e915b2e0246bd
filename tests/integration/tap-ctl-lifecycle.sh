# SPDX-License-Identifier: GPL-2.0-only
# Process lifecycle around the control socket: a SIGKILLed tapdisk's
# stale socket and minor file do not block the next spawn/create; tapdisk
# replaces a stale socket at its own name but refuses a live one; SIGTERM
# shuts down in order and removes the socket.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk python3

RUN=$TAPDISK_RUN_DIR
IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 2 1

gone() { ! kill -0 "$1" 2>/dev/null; }

# --- SIGKILL leaves a stale socket and minor file behind ---
dev=$(tap-ctl create -a ram:4M) || fail "create"
minor=${dev##*tapdev}
pid=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
[ -n "$pid" ] || fail "created VBD not listed"
kill -9 "$pid"
wait_for "gone $pid"
[ -S "$RUN/tapdisk-$pid.sock" ] || fail "expected a stale socket"
[ -e "$dev" ] || fail "expected a stale minor file"

# The next spawn works, and list drops the dead process and its socket.
pid2=$(tap-ctl spawn) || fail "spawn after SIGKILL"
tap-ctl list >"$TD_TMP/list" || fail "list with a stale socket"
grep -q "pid=$pid\b" "$TD_TMP/list" && fail "dead tapdisk listed"
grep -qx "pid=$pid2" "$TD_TMP/list" || fail "new tapdisk not listed"
[ ! -e "$RUN/tapdisk-$pid.sock" ] || fail "stale socket not removed"
# The dead owner's minor is reclaimed by the next create.
dev2=$(tap-ctl create -a "aio:$IMG") || fail "create after SIGKILL"
[ "$dev2" = "$dev" ] || fail "minor not reclaimed: got $dev2, wanted $dev"
pid3=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')

# --- tapdisk itself: a stale socket at its own name is replaced ---
# bash -c execs tapdisk, so $$ there is tapdisk's pid and socket name.
stale_py='import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.close()'
bash -c 'python3 -c "$1" "$2/tapdisk-$$.sock" &&
	exec tapdisk --run-dir "$2" --log-file "$2/tapdisk.log" --ready-fd 3' \
	_ "$stale_py" "$RUN" 3>"$TD_TMP/ready" &
tpid=$!
wait_for "[ -s $TD_TMP/ready ]"
[ "$(cat "$TD_TMP/ready")" = "$tpid" ] || fail "ready pipe: $(cat "$TD_TMP/ready")"
tap-ctl list -p "$tpid" | grep -qx "pid=$tpid" || fail "tapdisk on a stale name"

# --- SIGTERM: orderly exit, socket removed ---
tap-ctl attach -p "$tpid" -m 30 || fail "attach"
tap-ctl open -p "$tpid" -m 30 -a ram:1M || fail "open"
kill -TERM "$tpid"
wait "$tpid"
rc=$?
[ "$rc" -eq 0 ] || fail "tapdisk exited with $rc on SIGTERM"
[ ! -e "$RUN/tapdisk-$tpid.sock" ] || fail "SIGTERM left the socket"

# --- a live socket at its name is refused, and left alone ---
live_py='import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
open(sys.argv[2], "w").close()
time.sleep(20)'
bash -c 'python3 -c "$1" "$2/tapdisk-$$.sock" "$3" & echo $! >"$3.pid"
	for i in $(seq 100); do [ -e "$3" ] && break; sleep 0.1; done
	exec tapdisk --run-dir "$2" --log-file "$2/tapdisk.log"' \
	_ "$live_py" "$RUN" "$TD_TMP/listening" &
tpid=$!
cleanup_fn 'kill $(cat "$TD_TMP/listening.pid") 2>/dev/null'
wait "$tpid" && fail "tapdisk started on a live socket"
[ -S "$RUN/tapdisk-$tpid.sock" ] || fail "tapdisk removed a live socket"
kill "$(cat "$TD_TMP/listening.pid")"

# --- SIGTERM of a tapdisk started by tap-ctl (not our child) ---
sock=$RUN/tapdisk-$pid3.sock
[ -S "$sock" ] || fail "no socket for $pid3"
kill -TERM "$pid3"
wait_for "gone $pid3"
[ ! -e "$sock" ] || fail "SIGTERM left $sock"
kill -TERM "$pid2"
wait_for "gone $pid2"
[ ! -e "$RUN/tapdisk-$pid2.sock" ] || fail "SIGTERM left the idle socket"
echo "PASS"
