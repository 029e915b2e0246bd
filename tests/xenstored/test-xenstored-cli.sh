#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Xen's own xenstore-utils (libxenstore underneath, like tapdisk) against
# td-xenstored: write/read/ls/list/exists/rm/chmod and a watch, relative
# paths, the SIGUSR1 dump, pid file and socket replacement rules.
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/xenstored/xs-lib.sh"
xs_requires_cli

xs_start
[ "$(cat "$XSD_DIR/pid")" = "$XSD_PID" ] || fail "pid file"

xenstore-write /vm/a/b hello /vm/a/c "two words" || fail "write"
[ "$(xenstore-read /vm/a/b)" = hello ] || fail "read back"
[ "$(xenstore-read /vm/a/c)" = "two words" ] || fail "read back 2"
[ "$(xenstore-read /vm/a)" = "" ] || fail "implicit parent not empty"
[ "$(xenstore-list /vm/a | tr '\n' ' ')" = "b c " ] || fail "list"
out=$(xenstore-ls -f /vm)
grep -qx '/vm/a/b = "hello"' <<<"$out" || fail "ls -f: $out"
xenstore-exists /vm/a/b || fail "exists"
must_fail xenstore-read /vm/nope
must_fail xenstore-write '/vm/bad//path' x

# Relative paths live under the client's domain path (dom0).
xenstore-write rel/n 5 || fail "relative write"
[ "$(xenstore-read /local/domain/0/rel/n)" = 5 ] || fail "relative path"

# Permissions are kept and shown, not enforced.
xenstore-chmod /vm/a/b n0 r7 || fail "chmod"
xenstore-ls -p /vm/a | grep -q 'b = "hello".*(n0,r7)' ||
	fail "perms not shown: $(xenstore-ls -p /vm/a)"
[ "$(xenstore-ls -p /vm/a | grep -c '(n0)')" -eq 1 ] || fail "perms of c"

# A watch: fires once on registration, then for a change below the path.
xenstore-watch -n 3 /vm/a >"$TD_TMP/watch.out" &
wpid=$!
wait_for "grep -q 'WATCH(4)' '$XSD_LOG'"
xenstore-write /vm/other 1
xenstore-write /vm/a/c/d 1
xenstore-rm /vm/a/b
wait "$wpid" || fail "xenstore-watch failed"
[ "$(tr '\n' ' ' <"$TD_TMP/watch.out")" = "/vm/a /vm/a/c/d /vm/a/b " ] ||
	fail "watch events: $(cat "$TD_TMP/watch.out")"

# rm is recursive.
xenstore-rm /vm/a || fail "rm"
must_fail xenstore-read /vm/a/c/d
[ "$(xenstore-list /vm)" = other ] || fail "rm left: $(xenstore-list /vm)"

# SIGUSR1 dumps the tree to stderr.
xs_dump 2>"$TD_TMP/dump.out"
xs_alive
grep -qx '/vm/other = "1" (n0)' "$TD_TMP/dump.out" ||
	fail "dump: $(cat "$TD_TMP/dump.out")"

# A second daemon refuses a socket in use; a stale one is replaced.
must_fail td-xenstored --socket "$XENSTORED_PATH"
xs_stop
[ ! -e "$XSD_DIR/pid" ] || fail "pid file left behind"
python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$XENSTORED_PATH"
touch "$TD_TMP/plain"
must_fail td-xenstored --socket "$TD_TMP/plain"
must_fail td-xenstored
xs_start
[ -z "$(xenstore-list /)" ] || fail "new daemon has an old tree"
xenstore-write /again 1 && [ "$(xenstore-read /again)" = 1 ] ||
	fail "restarted daemon"
xs_stop
