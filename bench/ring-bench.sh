#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Ring benchmark: td-blkfront -> shm ring -> tapdisk -> raw image on tmpfs,
# against fio on the same file in the same run.
#
# Jobs: 4k random read and write at QD32, 1 MiB sequential read and write
# at QD8. Runners: td-blkfront against tapdisk with its io_uring backend,
# its aio backend (the default), and aio with busy polling (--poll-us
# 200), and fio with the io_uring and libaio engines. Nothing is pinned:
# the scheduler places the two processes, as it would a guest and dom0.
# Everything uses buffered I/O (fio --direct=0): the image lives on tmpfs
# (/dev/shm), which has no O_DIRECT, and tapdisk falls back to buffered
# I/O there too, so both sides read and write the same page cache.
# fio runs in one process; our path is two (frontend and tapdisk) that
# share the machine's cores.
#
# Each job runs ROUNDS times (-r, default 3), the runners interleaved
# within a round so a slow spell of the machine hits them all; each
# runner's median run (by IOPS) is reported, with the ratio ours/fio
# (IOPS) against the fio medians, then the same as a markdown table for
# docs/performance.md. Bounded: RUNTIME seconds per run (default 5),
# 20 runs per round, about 110 s per round.
#
# Usage: bench/ring-bench.sh [-t SECONDS] [-r ROUNDS] [-s IMAGE_MIB]
#                            [-o TABLE.md]
# Run from a build directory (or set top_builddir); as root, like tapdisk.
set -u

RUNTIME=5
ROUNDS=3
SIZE_MIB=1024
TABLE_OUT=
BENCH_NAME=ring-bench
. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_option() { # letter value
	case $1 in
	r) ROUNDS=$2 ;;
	esac
}
bench_options 3,26 "r:" "$@"
bench_check_range "$ROUNDS" 1 9 "-r must be 1..9"

bench_path tapdisk control tests/blkfront
bench_require "build first, or install it" tapdisk tap-ctl td-blkfront fio \
	python3
[ -d /dev/shm ] && [ -w /dev/shm ] || bench_die 2 "/dev/shm is not writable"

bench_workdir
IMG=/dev/shm/td-ring-bench.$$.raw
BENCH_FILES+=("$IMG")

# Written, not sparse: reads must touch real pages, as fio's do.
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MIB" status=none ||
	{ echo "ring-bench: cannot write $IMG" >&2; exit 1; }

# tapdisk with io engine $1 and --poll-us $3 serving the image as minor
# $2; prints the pid. Runs in $(...), so it cannot add to BENCH_PIDS:
# bench_cleanup stops the tapdisk through its socket in the run directory.
start_tapdisk() {
	local pid
	pid=$(tap-ctl spawn --io-engine "$1" --poll-us "$3") || return 1
	tap-ctl attach -p "$pid" -m "$2" >/dev/null &&
		tap-ctl open -p "$pid" -m "$2" -a "aio:$IMG" -N >/dev/null ||
		return 1
	echo "$pid"
}

declare -A PID_OF
PID_OF[aio]=$(start_tapdisk aio 0 0) || { echo "ring-bench: tapdisk aio" >&2; exit 1; }
PID_OF[uring]=$(start_tapdisk uring 1 0) || { echo "ring-bench: tapdisk uring" >&2; exit 1; }
PID_OF[aiopoll]=$(start_tapdisk aio 2 200) ||
	{ echo "ring-bench: tapdisk aio --poll-us 200" >&2; exit 1; }

# Each result: "iops mib_s p50_us p99_us", from the runner's JSON.
ours() { # engine minor rw bs qd
	td-blkfront -p "${PID_OF[$1]}" -m "$2" -o 2 -i 256 bench --rw "$3" \
		--bs "$4" --iodepth "$5" --runtime "$RUNTIME" --json |
	bench_blkfront_result
}

theirs() { # engine rw bs qd
	fio --name=ring-bench --filename="$IMG" --rw="$2" --bs="$3" \
		--iodepth="$4" --ioengine="$1" --direct=0 \
		--runtime="$RUNTIME" --time_based --size="${SIZE_MIB}M" \
		--numjobs=1 --output-format=json 2>/dev/null |
	python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
d = j["read"] if j["read"]["io_bytes"] else j["write"]
p = d["clat_ns"].get("percentile", {})
print("%.0f %.1f %.1f %.1f" % (d["iops"], d["bw_bytes"] / 1048576,
      p.get("50.000000", 0) / 1e3, p.get("99.000000", 0) / 1e3))'
}

JOBS=("4k randread QD32|randread|4k|32" "4k randwrite QD32|randwrite|4k|32"
      "1M read QD8|read|1m|8" "1M write QD8|write|1m|8")

# The median of "iops mib p50 p99" lines on stdin, by IOPS.
median() {
	sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

RUNNERS=("td-blkfront+tapdisk uring" "td-blkfront+tapdisk aio"
	 "td-blkfront+tapdisk aio poll" "fio io_uring" "fio libaio")
run_one() { # runner-index rw bs qd
	case $1 in
	0) ours uring 1 "$2" "$3" "$4" ;;
	1) ours aio 0 "$2" "$3" "$4" ;;
	2) ours aiopoll 2 "$2" "$3" "$4" ;;
	3) theirs io_uring "$2" "$3" "$4" ;;
	4) theirs libaio "$2" "$3" "$4" ;;
	esac || echo "0 0 0 0"
}

ROWS=()
printf '%-18s %-30s %10s %9s %9s %9s %9s %9s\n' job runner IOPS MiB/s \
	p50us p99us "/fio-ur" "/fio-aio"
for j in "${JOBS[@]}"; do
	IFS='|' read -r name rw bs qd <<<"$j"
	declare -a RES=()
	for ((r = 0; r < ROUNDS; r++)); do
		for i in "${!RUNNERS[@]}"; do
			RES[i]+="$(run_one "$i" "$rw" "$bs" "$qd")"$'\n'
		done
	done
	for i in "${!RUNNERS[@]}"; do
		RES[i]=$(printf '%s' "${RES[i]}" | median)
	done
	fur=${RES[3]%% *}
	fai=${RES[4]%% *}
	for i in "${!RUNNERS[@]}"; do
		read -r iops mib p50 p99 <<<"${RES[i]}"
		rur=$(bench_ratio "$iops" "$fur")
		rai=$(bench_ratio "$iops" "$fai")
		printf '%-18s %-30s %10s %9s %9s %9s %9s %9s\n' "$name" \
			"${RUNNERS[i]}" "$iops" "$mib" "$p50" "$p99" "$rur" "$rai"
		ROWS+=("| $name | ${RUNNERS[i]} | $iops | $mib | $p50 | $p99 | $rur | $rai |")
	done
	unset RES
done

{
	echo
	echo "ring-bench: ${SIZE_MIB} MiB raw image on tmpfs, median of" \
		"${ROUNDS} interleaved runs of ${RUNTIME} s, buffered I/O on" \
		"both sides (fio --direct=0; tmpfs has no O_DIRECT);" \
		"nothing pinned; td-blkfront -o 2 -i 256, persistent grants;" \
		"$(nproc) CPUs; $(date -u +%Y-%m-%d)."
	echo
	echo "| job | runner | IOPS | MiB/s | p50 us | p99 us | / fio io_uring | / fio libaio |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${ROWS[@]}"
} | tee ${TABLE_OUT:+"$TABLE_OUT"}
