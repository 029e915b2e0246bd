# SPDX-License-Identifier: GPL-2.0-only
# Helpers for tests that need a xenstore without Xen: td-xenstored, the test
# xenstore daemon, on a socket in $TD_TMP. Source after tests/functions.sh:
#   . "$top_srcdir/tests/functions.sh"
#   . "$top_srcdir/tests/xenstored/xs-lib.sh"
#   xs_start                  # exports XENSTORED_PATH for libxenstore
#   xenstore-write /a/b 1     # xenstore-utils then reach it too
#   xs_stop                   # optional: checks a clean exit
# The daemon is stopped at exit in any case; if the test failed, the tail of
# its log (every request, --verbose) is printed.

[ -d "$top_builddir/tests/xenstored" ] &&
	PATH="$top_builddir/tests/xenstored:$PATH"
export PATH

XSD_PID=
XSD_DIR="$TD_TMP/xenstored"

# Starts td-xenstored (extra arguments are passed on), waits until it
# listens, and exports XENSTORED_PATH, XSD_PID and XSD_LOG. The daemon's
# stderr goes to $XSD_DIR/stderr (xs_dump shows its dumps).
xs_start() {
	[ -z "$XSD_PID" ] || fail "xs_start: td-xenstored already running"
	mkdir -p "$XSD_DIR"
	XENSTORED_PATH="$XSD_DIR/socket"
	XSD_LOG="$XSD_DIR/td-xenstored.log"
	rm -f "$XSD_DIR/ready"
	td-xenstored --socket "$XENSTORED_PATH" --pid-file "$XSD_DIR/pid" \
		--log "$XSD_LOG" --verbose --ready-fd 9 "$@" 9>"$XSD_DIR/ready" \
		2>>"$XSD_DIR/stderr" &
	XSD_PID=$!
	export XENSTORED_PATH XSD_PID XSD_LOG
	cleanup_fn xs__cleanup
	wait_for "grep -qs ready '$XSD_DIR/ready' || ! kill -0 $XSD_PID 2>/dev/null"
	grep -q ready "$XSD_DIR/ready" ||
		fail "td-xenstored did not start: $(cat "$XSD_DIR/stderr")"
	[ "$(cat "$XSD_DIR/pid")" = "$XSD_PID" ] ||
		fail "td-xenstored pid file does not match \$! ($XSD_PID)"
}

# Stops the daemon with SIGTERM and fails unless it exits 0 within 10 s (a
# sanitizer build reports leaks through its exit status).
xs_stop() {
	local i st
	[ -n "$XSD_PID" ] || fail "xs_stop: td-xenstored not running"
	kill -TERM "$XSD_PID" 2>/dev/null || fail "td-xenstored already died"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$XSD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$XSD_PID" 2>/dev/null && fail "td-xenstored ignores SIGTERM"
	st=0
	wait "$XSD_PID" || st=$?
	XSD_PID=
	[ "$st" -eq 0 ] || fail "td-xenstored exited with status $st"
	[ ! -e "$XENSTORED_PATH" ] || fail "td-xenstored left its socket"
}

# Fails unless the daemon is still running.
xs_alive() {
	kill -0 "$XSD_PID" 2>/dev/null || fail "td-xenstored died"
}

# Prints the whole tree to stderr (through the daemon's SIGUSR1 dump).
xs_dump() {
	local size
	xs_alive
	size=$(stat -c %s "$XSD_DIR/stderr")
	kill -USR1 "$XSD_PID"
	# The loop reads signals before requests, so one round trip after
	# the kill means the dump is written.
	python3 -c '
import os, socket, struct
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["XENSTORED_PATH"])
s.sendall(struct.pack("<IIII", 2, 1, 0, 2) + b"/\0"); s.recv(64)'
	tail -c +$((size + 1)) "$XSD_DIR/stderr" >&2
}

# Waits up to $3 seconds (default 10) until xenstore node $1 reads as $2.
xs_wait_value() {
	wait_for "[ \"\$(xenstore-read '$1' 2>/dev/null)\" = '$2' ]" "${3:-10}"
}

# Skips the test unless xenstore-utils (Debian package) is installed.
xs_requires_cli() {
	requires xenstore-read xenstore-write xenstore-ls xenstore-rm \
		xenstore-list xenstore-watch xenstore-exists xenstore-chmod
}

# Runs python3 with tests/xenstored (xs_raw.py) on its module path.
xs_py() {
	PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$top_srcdir/tests/xenstored" \
		python3 "$@"
}

# Cleanup hook: stop the daemon; on failure show its log. (rc is the exit
# status local to _td_exit in functions.sh, which runs this hook.)
xs__cleanup() {
	local i
	if [ -n "$XSD_PID" ]; then
		kill -TERM "$XSD_PID" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			kill -0 "$XSD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$XSD_PID" 2>/dev/null
		XSD_PID=
	fi
	if [ "${rc:-0}" -ne 0 ] && [ -f "$XSD_LOG" ]; then
		echo "--- td-xenstored.log (last 40 lines) ---" >&2
		tail -n 40 "$XSD_LOG" >&2
		echo "--- td-xenstored stderr (last 40 lines) ---" >&2
		tail -n 40 "$XSD_DIR/stderr" >&2
	fi
	return 0
}
