# SPDX-License-Identifier: GPL-2.0-only
# Helpers shared by the benchmarks (ring-bench, vhd-bench, nbd-bench).
# Source it after setting BENCH_NAME (the prefix of every message):
#   . "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
# Not a test helper: tests use tests/functions.sh.

# Prints "$BENCH_NAME: MESSAGE" on stderr and exits with status $1.
bench_die() { # status message...
	local rc=$1
	shift
	echo "$BENCH_NAME: $*" >&2
	exit "$rc"
}

# Exits 2 with MESSAGE unless VALUE is a whole number in MIN..MAX.
bench_check_range() { # value min max message
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] ||
		bench_die 2 "$4"
}

# Parses the options every benchmark has: -t SECONDS (1..30), -s IMAGE_MIB
# (64..8192) and -o TABLE.md into RUNTIME, SIZE_MIB and TABLE_OUT, which
# hold the defaults on entry. EXTRA lists more getopts letters, each
# handed to the caller's bench_option LETTER VALUE. Anything else prints
# lines HELP (a sed range, e.g. 3,22) of the script's header comment as
# its usage and exits 2.
bench_options() { # help extra "$@"
	local help=$1 extra=$2 opt OPTIND=1
	shift 2
	while getopts "t:s:o:${extra}h" opt; do
		case $opt in
		t) RUNTIME=$OPTARG ;;
		s) SIZE_MIB=$OPTARG ;;
		o) TABLE_OUT=$OPTARG ;;
		h|\?|:) sed -n "${help}s/^# \{0,1\}//p" "$0"; exit 2 ;;
		*) bench_option "$opt" "$OPTARG" ;;
		esac
	done
	bench_check_range "$RUNTIME" 1 30 "-t must be 1..30 seconds"
	bench_check_range "$SIZE_MIB" 64 8192 "-s must be 64..8192 MiB"
}

# Puts the binaries built under $top_builddir (default: the current
# directory) in front of PATH, for each subdirectory named.
bench_path() { # subdir...
	local d
	: "${top_builddir:=$PWD}"
	for d in "$@"; do
		[ -d "$top_builddir/$d" ] && PATH="$top_builddir/$d:$PATH"
	done
	export PATH
}

# Exits 2 unless every command exists; HINT says how to get them.
bench_require() { # hint command...
	local hint=$1 c
	shift
	for c in "$@"; do
		command -v "$c" >/dev/null ||
			bench_die 2 "$c not found ($hint)"
	done
}

# Makes the scratch directory $WORK and a private TAPDISK_RUN_DIR in it,
# and arms the exit trap: bench_cleanup. The caller lists what to remove
# in BENCH_FILES and the processes to stop in BENCH_PIDS, and may define
# bench_on_exit for anything else.
BENCH_PIDS=()
BENCH_FILES=()
bench_workdir() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")
	TAPDISK_RUN_DIR=$WORK/run
	export TAPDISK_RUN_DIR
	mkdir -m 0700 "$TAPDISK_RUN_DIR"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# Stops BENCH_PIDS and every tapdisk left in the run directory, removes
# BENCH_FILES and $WORK.
bench_cleanup() {
	local p s
	declare -F bench_on_exit >/dev/null && bench_on_exit
	for p in "${BENCH_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for s in "$TAPDISK_RUN_DIR"/tapdisk-*.sock; do
		[ -e "$s" ] || continue
		p=${s##*/tapdisk-}
		kill "${p%.sock}" 2>/dev/null
	done
	[ ${#BENCH_FILES[@]} -eq 0 ] || rm -f "${BENCH_FILES[@]}"
	rm -rf "$WORK"
}

# Filter: td-blkfront's "bench --json" on stdin to "iops mib_s p50 p99".
bench_blkfront_result() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)["total"]
l = d["lat_us"]
print("%.0f %.1f %.1f %.1f" % (d["iops"], d["mib_s"], l["p50"], l["p99"]))'
}

# Filter: fio's JSON output of one nbd-engine job on stdin (anything fio
# printed before the JSON is skipped) to "iops MB/s" of the direction
# that moved more bytes.
bench_fio_nbd_result() {
	sed -n '/^{/,$p' | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
io = j["write"] if j["write"]["io_bytes"] > j["read"]["io_bytes"] else j["read"]
print("%.0f %.0f" % (io["iops"], io["bw_bytes"] / 1e6))'
}

# Prints A / B with two decimals, or NONE (default "-") if B is zero.
bench_ratio() { # a b [none]
	python3 -c '
import sys
a, b = float(sys.argv[1]), float(sys.argv[2])
print("%.2f" % (a / b) if b else sys.argv[3])' "$1" "$2" "${3:--}"
}

# Prints the pid of the tapdisk serving minor $1.
bench_tapdisk_of() { # minor
	tap-ctl list -m "$1" --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["tapdisks"][0]["pid"])'
}

# Prints "pid nbd_socket" of the tapdisk exporting minor $1 over NBD.
bench_nbd_export_of() { # minor
	tap-ctl list -m "$1" --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tapdisks"]:
    for v in t["vbds"]:
        print(t["pid"], v["exports"]["nbd"]["nbd_socket"])'
}

# Waits (up to TRIES tenths of a second) until an NBD server answers at
# URI $1; returns 1 if none does.
bench_wait_nbd() { # uri tries
	local i
	for ((i = 0; i < $2; i++)); do
		nbdinfo --size "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
