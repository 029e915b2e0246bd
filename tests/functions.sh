# SPDX-License-Identifier: GPL-2.0-only
# Helpers shared by every shell test. Source it first:
#   . "$top_srcdir/tests/functions.sh"
# Each test gets a private run directory (TAPDISK_RUN_DIR) and scratch
# directory ($TD_TMP); every tapdisk started under that run directory is
# killed and the directories removed when the test exits.

set -u
: "${top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
export top_builddir top_srcdir

# Built binaries first on PATH, wherever their fragment put them.
for d in tapdisk control tests/blkfront drivers; do
	[ -d "$top_builddir/$d" ] && PATH="$top_builddir/$d:$PATH"
done
export PATH

TD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tdtest.XXXXXX")
TAPDISK_RUN_DIR="$TD_TMP/run"
mkdir -p "$TAPDISK_RUN_DIR"
chmod 0700 "$TAPDISK_RUN_DIR"
export TAPDISK_RUN_DIR TD_TMP

_td_cleanups=()
# Registers a command to run at exit (last registered runs first).
cleanup_fn() { _td_cleanups+=("$*"); }

_td_exit() {
	local rc=$? i pid
	for ((i = ${#_td_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_td_cleanups[$i]}" || :
	done
	for s in "$TAPDISK_RUN_DIR"/tapdisk-*.sock; do
		[ -e "$s" ] || continue
		pid=${s##*/tapdisk-}; pid=${pid%.sock}
		kill -9 "$pid" 2>/dev/null || :
	done
	if [ "$rc" -ne 0 ] && [ -f "$TAPDISK_RUN_DIR/tapdisk.log" ]; then
		echo "--- tapdisk.log ---" >&2
		tail -n 50 "$TAPDISK_RUN_DIR/tapdisk.log" >&2
	fi
	rm -rf "$TD_TMP"
	exit "$rc"
}
trap _td_exit EXIT
trap 'exit 130' INT TERM

# Skips the test (exit 77) unless every named command exists.
requires() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || {
			echo "SKIP: $c not found" >&2
			exit 77
		}
	done
}

# Skips unless running as root.
requires_root() {
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# Runs a command that must fail; prints its stderr for the log.
must_fail() {
	if "$@" 2>"$TD_TMP/must_fail.err"; then
		fail "expected failure: $*"
	fi
	cat "$TD_TMP/must_fail.err" >&2
}

# Asserts a command's stderr is exactly one line (tap-ctl's error rule).
one_line_error() {
	local n
	if "$@" 2>"$TD_TMP/err.out" >/dev/null; then
		fail "expected failure: $*"
	fi
	n=$(wc -l <"$TD_TMP/err.out")
	[ "$n" -eq 1 ] || { cat "$TD_TMP/err.out" >&2; fail "error not one line ($n): $*"; }
	cat "$TD_TMP/err.out" >&2
}

# Waits up to $2 seconds (default 10) for a condition command to succeed.
wait_for() {
	local cond=$1 t=${2:-10} i
	for ((i = 0; i < t * 10; i++)); do
		eval "$cond" && return 0
		sleep 0.1
	done
	fail "timed out waiting for: $cond"
}

# Makes a file of $2 MiB filled with a repeatable pattern from seed $3.
make_pattern_file() {
	local f=$1 mb=$2 seed=${3:-1}
	python3 - "$f" "$mb" "$seed" <<'PY'
import sys, random
f, mb, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(f, "wb") as o:
    for _ in range(mb):
        o.write(r.randbytes(1 << 20))
PY
}
