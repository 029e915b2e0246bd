#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# VHD driver benchmark: td-blkfront -> shm ring -> tapdisk -> vhd image,
# against the same jobs on a raw image (the aio driver) in the same run.
#
# Jobs (each on a freshly made image, RUNTIME seconds, QD32 for 4k):
#   4k randwrite into allocated blocks: vhd-util fill'ed VHD / written raw
#     (target ratio >= 0.9)
#   4k randread of allocated blocks: the same images
#   4k randwrite with allocation: new VHD / new sparse raw file
#   1M sequential write (QD8) into a new VHD / new sparse raw file
# Then, in the same run:
#   coalesce: vhd-util coalesce of a child whose every block is allocated
#     into an empty parent, MB/s of allocated data, against cp of a raw
#     file of the same bytes (+ sync of the copy) (target ratio >= 0.8)
#   NBD: fio's nbd engine against our export of a dynamic VHD (written by
#     qemu-img) and against qemu-nbd serving the same file, one after the
#     other: 4k randread QD32, 4k randwrite QD32, 1M write QD8
# Images live in BENCH_DIR (default /dev/shm: tmpfs, buffered I/O for
# both drivers, so the ratio is the driver's cost, not the disk's).
#
# Prints each result and the ratio vhd/raw (IOPS), then a markdown table
# for docs/performance.md. Bounded: 14 runs of RUNTIME seconds (default 5)
# plus setup, about 2 minutes; the NBD part is skipped (said so) without
# fio's nbd engine or qemu-nbd.
#
# Usage: bench/vhd-bench.sh [-t SECONDS] [-s IMAGE_MIB] [-o TABLE.md]
# Run from a build directory (or set top_builddir); as root, like tapdisk.
set -u

RUNTIME=5
SIZE_MIB=512
TABLE_OUT=
BENCH_NAME=vhd-bench
. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_options 3,20 "" "$@"

bench_path tapdisk control tests/blkfront
bench_require "build first" tapdisk tap-ctl td-blkfront vhd-util python3
BENCH_DIR=${BENCH_DIR:-/dev/shm}
[ -d "$BENCH_DIR" ] && [ -w "$BENCH_DIR" ] ||
	bench_die 2 "$BENCH_DIR is not writable"

bench_workdir
VHD=$BENCH_DIR/td-vhd-bench.$$.vhd
RAW=$BENCH_DIR/td-vhd-bench.$$.raw
CHILD=$BENCH_DIR/td-vhd-bench.$$.child.vhd
COPY=$BENCH_DIR/td-vhd-bench.$$.copy
BENCH_FILES+=("$VHD" "$RAW" "$CHILD" "$COPY")
QPID=

# qemu-nbd, when running; not in BENCH_PIDS as it is stopped (and its pid
# freed) before the end.
bench_on_exit() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
}

# Fresh images: "new" (empty VHD, sparse raw) or "full" (every VHD block
# allocated and full, raw written).
make_images() {
	rm -f "$VHD" "$RAW"
	vhd-util create -n "$VHD" -s "$SIZE_MIB" >/dev/null || return 1
	if [ "$1" = full ]; then
		vhd-util fill -n "$VHD" >/dev/null || return 1
		dd if=/dev/zero of="$RAW" bs=1M count="$SIZE_MIB" \
			status=none || return 1
	else
		truncate -s "${SIZE_MIB}M" "$RAW" || return 1
	fi
}

# One bench run on a new VBD of spec $1: prints "iops mib_s p50 p99".
run() { # spec rw bs qd
	local dev minor pid rc=0
	dev=$(tap-ctl create -a "$1" -N) || return 1
	minor=${dev##*tapdev}
	pid=$(bench_tapdisk_of "$minor") || return 1
	td-blkfront -p "$pid" -m "$minor" -o 2 -i 256 bench --rw "$2" \
		--bs "$3" --iodepth "$4" --runtime "$RUNTIME" --json |
		bench_blkfront_result || rc=1
	tap-ctl destroy -p "$pid" -m "$minor" >/dev/null || rc=1
	return $rc
}

JOBS=("4k randwrite allocated|full|randwrite|4k|32"
      "4k randread allocated|full|randread|4k|32"
      "4k randwrite allocating|new|randwrite|4k|32"
      "1M write allocating|new|write|1m|8")
ROWS=()
printf '%-26s %-5s %10s %9s %9s %9s %8s\n' job image IOPS MiB/s p50us \
	p99us vhd/raw
for j in "${JOBS[@]}"; do
	IFS='|' read -r name kind rw bs qd <<<"$j"
	make_images "$kind" || { echo "vhd-bench: cannot make images" >&2
				 exit 1; }
	r_vhd=$(run "vhd:$VHD" "$rw" "$bs" "$qd") || r_vhd="0 0 0 0"
	r_raw=$(run "aio:$RAW" "$rw" "$bs" "$qd") || r_raw="0 0 0 0"
	ratio=$(bench_ratio "${r_vhd%% *}" "${r_raw%% *}")
	for row in "vhd|$r_vhd|$ratio" "raw|$r_raw|"; do
		IFS='|' read -r img res rat <<<"$row"
		read -r iops mib p50 p99 <<<"$res"
		printf '%-26s %-5s %10s %9s %9s %9s %8s\n' "$name" "$img" \
			"$iops" "$mib" "$p50" "$p99" "$rat"
		ROWS+=("| $name | $img | $iops | $mib | $p50 | $p99 | ${rat:--} |")
	done
done

now() { date +%s.%N; }
mbs() { python3 -c '
import sys
b, t0, t1 = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print("%.0f" % (b / 1e6 / (t1 - t0)) if t1 > t0 else "0")' "$@"; }

# Coalesce: a child with every block allocated (vhd-util fill) into its
# empty parent, so every parent block is allocated on the way; cp copies
# a raw file of as many bytes.
co_mbs=0 cp_mbs=0
rm -f "$VHD" "$RAW" "$CHILD" "$COPY"
if head -c "$((SIZE_MIB << 20))" /dev/urandom >"$RAW" &&
	vhd-util create -n "$VHD" -s "$SIZE_MIB" >/dev/null &&
	vhd-util snapshot -n "$CHILD" -p "$VHD" >/dev/null &&
	vhd-util fill -n "$CHILD" >/dev/null; then
	bytes=$((SIZE_MIB << 20))
	t0=$(now)
	vhd-util coalesce -n "$CHILD" >/dev/null || t0=
	t1=$(now)
	[ -n "$t0" ] && co_mbs=$(mbs "$bytes" "$t0" "$t1")
	t0=$(now)
	cp "$RAW" "$COPY" && sync -d "$COPY"
	t1=$(now)
	cp_mbs=$(mbs "$bytes" "$t0" "$t1")
else
	echo "vhd-bench: coalesce images could not be made" >&2
fi
co_ratio=$(bench_ratio "$co_mbs" "$cp_mbs")
printf '%-26s %-5s %10s %9s %9s %9s %8s\n' "coalesce ${SIZE_MIB} MiB" \
	vhd - "$co_mbs" - - "$co_ratio"
printf '%-26s %-5s %10s %9s %9s %9s %8s\n' "coalesce ${SIZE_MIB} MiB" \
	cp - "$cp_mbs" - - ""
ROWS+=("| coalesce ${SIZE_MIB} MiB allocated | vhd-util | - | $co_mbs | - | - | $co_ratio (vs cp) |"
       "| coalesce ${SIZE_MIB} MiB allocated | cp + sync | - | $cp_mbs | - | - | - |")
rm -f "$CHILD" "$COPY"

# NBD: the same dynamic VHD (qemu-img's, so qemu reads its full size)
# through our export and through qemu-nbd, one at a time.
fio_nbd() { # uri rw bs qd -> "iops mb_s"
	fio --name=b --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" \
		--iodepth="$4" --size="$((SIZE_MIB / 2))M" --time_based \
		--runtime="$RUNTIME" --norandommap --randrepeat=0 \
		--output-format=json 2>/dev/null |
		bench_fio_nbd_result 2>/dev/null || echo "0 0"
}
NBD_JOBS=("randread 4k 32" "randwrite 4k 32" "write 1M 8")
if command -v qemu-nbd >/dev/null && command -v nbdinfo >/dev/null &&
	fio --enghelp 2>/dev/null | grep -qw nbd &&
	rm -f "$VHD" && qemu-img convert -f raw -O vpc -o subformat=dynamic \
		"$RAW" "$VHD"; then
	declare -A NB
	dev=$(tap-ctl create -a "vhd:$VHD") || dev=
	minor=${dev##*tapdev}
	read -r tpid sock < <(bench_nbd_export_of "$minor")
	uri="nbd+unix:///?socket=$sock"
	if [ -n "$dev" ] && bench_wait_nbd "$uri" 50; then
		for j in "${NBD_JOBS[@]}"; do
			NB["ours $j"]=$(fio_nbd "$uri" $j)
		done
	fi
	[ -n "$dev" ] && tap-ctl destroy -p "$tpid" -m "$minor" >/dev/null
	qemu-nbd -f vpc -t -k "$WORK/q.sock" "$VHD" >"$WORK/q.log" 2>&1 &
	QPID=$!
	uri="nbd+unix:///?socket=$WORK/q.sock"
	if bench_wait_nbd "$uri" 50; then
		for j in "${NBD_JOBS[@]}"; do
			NB["qemu $j"]=$(fio_nbd "$uri" $j)
		done
	fi
	kill "$QPID" 2>/dev/null
	wait "$QPID" 2>/dev/null
	QPID=
	for j in "${NBD_JOBS[@]}"; do
		read -r oi om <<<"${NB["ours $j"]:-0 0}"
		read -r qi qm <<<"${NB["qemu $j"]:-0 0}"
		r=$(bench_ratio "$oi" "$qi")
		name="nbd $j" name=${name% *}" QD${j##* }"
		printf '%-26s %-5s %10s %9s %9s %9s %8s\n' "$name" ours \
			"$oi" "$om" - - "$r"
		printf '%-26s %-5s %10s %9s %9s %9s %8s\n' "$name" qemu \
			"$qi" "$qm" - - ""
		ROWS+=("| $name, dynamic VHD | our NBD export | $oi | $om | - | - | $r (vs qemu-nbd) |"
		       "| $name, dynamic VHD | qemu-nbd | $qi | $qm | - | - | - |")
	done
else
	echo "vhd-bench: NBD comparison skipped (needs qemu-nbd, nbdinfo," \
		"fio with the nbd engine)" >&2
fi

{
	echo
	echo "vhd-bench: ${SIZE_MIB} MiB images in $BENCH_DIR, ${RUNTIME} s" \
		"per run, td-blkfront -o 2 -i 256 over the shm ring, tapdisk" \
		"aio engine; vhd = our vhd driver, raw = the aio driver;" \
		"$(nproc) CPUs; $(date -u +%Y-%m-%d)."
	echo
	echo "| job | image | IOPS | MiB/s (MB/s: coalesce, nbd) | p50 us | p99 us | vhd / raw |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	printf '%s\n' "${ROWS[@]}"
} | tee ${TABLE_OUT:+"$TABLE_OUT"}
