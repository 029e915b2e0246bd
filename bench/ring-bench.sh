#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Ring benchmark: td-blkfront -> shm ring -> tapdisk -> raw image on tmpfs,
# against fio on the same file in the same run.
#
# Jobs: 4k random read and write at QD32, 1 MiB sequential read and write
# at QD8. Runners: td-blkfront against tapdisk with its aio and its
# io_uring backend, and fio with the io_uring and libaio engines.
# Everything uses buffered I/O (fio --direct=0): the image lives on tmpfs
# (/dev/shm), which has no O_DIRECT, and tapdisk falls back to buffered
# I/O there too, so both sides read and write the same page cache.
# fio runs in one process; our path is two (frontend and tapdisk) that
# share the machine's cores.
#
# Prints each result and the ratio ours/fio (IOPS), then the same as a
# markdown table for docs/performance.md. Bounded: RUNTIME seconds per
# job (default 5), 16 runs, about 90 s in all.
#
# Usage: bench/ring-bench.sh [-t SECONDS] [-s IMAGE_MIB] [-o TABLE.md]
# Run from a build directory (or set top_builddir); as root, like tapdisk.
set -u

RUNTIME=5
SIZE_MIB=1024
TABLE_OUT=
BENCH_NAME=ring-bench
. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_options 3,22 "" "$@"

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

# tapdisk with io engine $1 serving the image as minor $2; prints the pid.
# Runs in $(...), so it cannot add to BENCH_PIDS: bench_cleanup stops the
# tapdisk through its socket in the run directory.
start_tapdisk() {
	local pid
	pid=$(tap-ctl spawn --io-engine "$1") || return 1
	tap-ctl attach -p "$pid" -m "$2" >/dev/null &&
		tap-ctl open -p "$pid" -m "$2" -a "aio:$IMG" -N >/dev/null ||
		return 1
	echo "$pid"
}

declare -A PID_OF
PID_OF[aio]=$(start_tapdisk aio 0) || { echo "ring-bench: tapdisk aio" >&2; exit 1; }
PID_OF[uring]=$(start_tapdisk uring 1) || { echo "ring-bench: tapdisk uring" >&2; exit 1; }

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
ROWS=()
printf '%-18s %-22s %10s %9s %9s %9s %9s %9s\n' job runner IOPS MiB/s \
	p50us p99us "/fio-ur" "/fio-aio"
for j in "${JOBS[@]}"; do
	IFS='|' read -r name rw bs qd <<<"$j"
	r_aio=$(ours aio 0 "$rw" "$bs" "$qd") || r_aio="0 0 0 0"
	r_ur=$(ours uring 1 "$rw" "$bs" "$qd") || r_ur="0 0 0 0"
	f_ur=$(theirs io_uring "$rw" "$bs" "$qd") || f_ur="0 0 0 0"
	f_aio=$(theirs libaio "$rw" "$bs" "$qd") || f_aio="0 0 0 0"
	fur=${f_ur%% *}
	fai=${f_aio%% *}
	for row in "td-blkfront+tapdisk aio|$r_aio" \
		"td-blkfront+tapdisk uring|$r_ur" "fio io_uring|$f_ur" \
		"fio libaio|$f_aio"; do
		IFS='|' read -r runner res <<<"$row"
		read -r iops mib p50 p99 <<<"$res"
		rur=$(bench_ratio "$iops" "$fur")
		rai=$(bench_ratio "$iops" "$fai")
		printf '%-18s %-26s %10s %9s %9s %9s %9s %9s\n' "$name" \
			"$runner" "$iops" "$mib" "$p50" "$p99" "$rur" "$rai"
		ROWS+=("| $name | $runner | $iops | $mib | $p50 | $p99 | $rur | $rai |")
	done
done

{
	echo
	echo "ring-bench: ${SIZE_MIB} MiB raw image on tmpfs, ${RUNTIME} s per" \
		"run, buffered I/O on both sides (fio --direct=0; tmpfs has no" \
		"O_DIRECT); td-blkfront -o 2 -i 256, persistent grants;" \
		"$(nproc) CPUs; $(date -u +%Y-%m-%d)."
	echo
	echo "| job | runner | IOPS | MiB/s | p50 us | p99 us | / fio io_uring | / fio libaio |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${ROWS[@]}"
} | tee ${TABLE_OUT:+"$TABLE_OUT"}
