#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# NBD benchmark: fio's nbd engine against our export, qemu-nbd and
# nbdkit's file plugin, all serving the same raw file on tmpfs in the same
# run; then our export of a dynamic VHD against qemu-nbd of the same VHD.
#
# Jobs: 4k random read and write at QD32, 1 MiB sequential read and write
# at QD8, one connection each. Every server uses its default cache mode on
# tmpfs (no O_DIRECT there), so all read and write the same page cache.
# Client and servers share the machine's cores.
#
# The machine is shared, so every job runs ROUNDS times (default 3) with
# the servers interleaved, and the median counts. Prints each result and
# the ratio ours/best peer (IOPS), then a markdown table for
# docs/performance.md. Bounded: RUNTIME seconds per job (default 4) plus
# one of ramp-up, 20 runs per round: about 5 minutes with the defaults.
#
# -b BUILDDIR adds a second tapdisk, built in BUILDDIR (an older tree, say),
# serving the raw file in the same rounds: "ours-b" and a column ours/b
# compare the two builds within one run, on the same noisy machine.
#
# Usage: bench/nbd-bench.sh [-t SECONDS] [-r ROUNDS] [-s IMAGE_MIB]
#                           [-b BUILDDIR] [-o TABLE.md]
# Run from a build directory (or set top_builddir); as root, like tapdisk.
set -u

RUNTIME=4
ROUNDS=3
SIZE_MIB=1024
TABLE_OUT=
BASE_BUILD=
BENCH_NAME=nbd-bench
. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
# The options only this benchmark has, for bench_options.
bench_option() { # letter value
	case $1 in
	r) ROUNDS=$2 ;;
	b) BASE_BUILD=$2 ;;
	esac
}
bench_options 3,25 "r:b:" "$@"
bench_check_range "$ROUNDS" 1 9 "-r must be 1..9"
[ -z "$BASE_BUILD" ] || [ -x "$BASE_BUILD/tapdisk/tapdisk" ] ||
	bench_die 2 "no tapdisk built in $BASE_BUILD"

bench_path tapdisk control
bench_require "build first, or install it" tapdisk tap-ctl fio python3 \
	qemu-nbd qemu-img nbdkit nbdinfo
fio --enghelp 2>/dev/null | grep -qw nbd ||
	bench_die 2 "fio has no nbd engine"
[ -d /dev/shm ] && [ -w /dev/shm ] || bench_die 2 "/dev/shm is not writable"

bench_workdir
IMG=/dev/shm/td-nbd-bench.$$.raw
VHD=/dev/shm/td-nbd-bench.$$.vhd
BENCH_FILES+=("$IMG" "$VHD")

# Written, not sparse: reads must touch real pages.
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MIB" status=none ||
	{ echo "nbd-bench: cannot write $IMG" >&2; exit 1; }

# Waits until an NBD server answers at URI $1.
wait_nbd() {
	bench_wait_nbd "$1" 100 && return 0
	echo "nbd-bench: no NBD server at $1" >&2
	return 1
}

# The start_* functions set URI to the new server's address and record
# its pid for cleanup (they must not run in a subshell).

# Our export of "TYPE:PATH" $1 (by the tapdisk and tap-ctl of build dir
# $2 if given).
start_ours() {
	local dev minor pid sock p=$PATH
	URI=
	[ -n "${2:-}" ] && p="$2/tapdisk:$2/control:$PATH"
	dev=$(PATH=$p TAPDISK_BIN=${2:+$2/tapdisk/tapdisk} tap-ctl create \
		-a "$1") || return 1
	minor=${dev##*tapdev}
	read -r pid sock < <(bench_nbd_export_of "$minor")
	[ -n "$pid" ] || return 1
	BENCH_PIDS+=("$pid")
	URI="nbd+unix:///?socket=$sock"
}

# qemu-nbd of file $2 in format $1 on a socket named $3.
start_qemu_nbd() {
	local sock=$WORK/$3.sock
	qemu-nbd -f "$1" -t -k "$sock" "$2" >"$WORK/$3.log" 2>&1 &
	BENCH_PIDS+=($!)
	URI="nbd+unix:///?socket=$sock"
}

start_nbdkit() {
	local sock=$WORK/nbdkit.sock
	nbdkit -f -U "$sock" file "$1" >"$WORK/nbdkit.log" 2>&1 &
	BENCH_PIDS+=($!)
	URI="nbd+unix:///?socket=$sock"
}

# One fio job ($2 = rw, $3 = bs, $4 = iodepth) against URI $1; prints
# "IOPS MB/s".
run_fio() {
	local out=$WORK/fio.json
	fio --name=b --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" \
		--iodepth="$4" --size="$((SIZE_MIB))M" --time_based \
		--runtime="$RUNTIME" --ramp_time=1 --norandommap \
		--randrepeat=0 --output-format=json >"$out" 2>/dev/null ||
		{ echo "0 0"; return; }
	bench_fio_nbd_result <"$out"
}

JOBS=("randread 4k 32" "randwrite 4k 32" "read 1M 8" "write 1M 8")
NAMES=("4k randread QD32" "4k randwrite QD32" "1M seq read QD8" \
	"1M seq write QD8")
declare -A RES

echo "nbd-bench: ${SIZE_MIB} MiB image on /dev/shm, ${RUNTIME} s per job"
start_ours "aio:$IMG" || exit 1
U_OURS=$URI
start_qemu_nbd raw "$IMG" qemu-raw
U_QEMU=$URI
start_nbdkit "$IMG"
U_KIT=$URI
for u in "$U_OURS" "$U_QEMU" "$U_KIT"; do
	wait_nbd "$u" || exit 1
done

# Median of the "IOPS MB/s" pairs given as arguments (by IOPS).
median() {
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

TARGETS=(ours qemu-nbd nbdkit)
URIS=("$U_OURS" "$U_QEMU" "$U_KIT")
if [ -n "$BASE_BUILD" ]; then
	start_ours "aio:$IMG" "$BASE_BUILD" && wait_nbd "$URI" || exit 1
	TARGETS+=(ours-b)
	URIS+=("$URI")
fi
VHD_OK=0
# Dynamic VHD: written in full by qemu-img, served by us and qemu-nbd.
if qemu-img convert -U -f raw -O vpc -o subformat=dynamic "$IMG" "$VHD" \
	2>"$WORK/vpc.log" && start_ours "vhd:$VHD" && U_OVHD=$URI &&
	start_qemu_nbd vpc "$VHD" qemu-vhd && U_QVHD=$URI &&
	wait_nbd "$U_OVHD" && wait_nbd "$U_QVHD"; then
	VHD_OK=1
	TARGETS+=(ours-vhd qemu-vhd)
	URIS+=("$U_OVHD" "$U_QVHD")
else
	echo "nbd-bench: VHD comparison skipped: $(tail -1 "$WORK/vpc.log")"
fi

declare -A ALL
for ((round = 1; round <= ROUNDS; round++)); do
	for j in "${!JOBS[@]}"; do
		read -r rw bs qd <<<"${JOBS[$j]}"
		for t in "${!TARGETS[@]}"; do
			r=$(run_fio "${URIS[$t]}" "$rw" "$bs" "$qd")
			ALL["$j,${TARGETS[$t]}"]+="$r;"
			printf 'round %d  %-20s %-9s %8s IOPS %7s MB/s\n' \
				"$round" "${NAMES[$j]}" "${TARGETS[$t]}" $r
		done
	done
done
for k in "${!ALL[@]}"; do
	IFS=';' read -r -a runs <<<"${ALL[$k]}"
	RES[$k]=$(median "${runs[@]}")
done

ratio() { bench_ratio "$1" "$2" n/a; }

TABLE=$WORK/table.md
{
	b_head= b_sep=
	[ -n "$BASE_BUILD" ] && b_head=" ours-b IOPS | ours-b / best peer | ours / ours-b |" &&
		b_sep="---|---|---|"
	echo "| job | ours IOPS | qemu-nbd IOPS | nbdkit IOPS | ours / best peer |$b_head"
	echo "|---|---|---|---|---|$b_sep"
	for j in "${!JOBS[@]}"; do
		read -r o _ <<<"${RES["$j,ours"]}"
		read -r q _ <<<"${RES["$j,qemu-nbd"]}"
		read -r k _ <<<"${RES["$j,nbdkit"]}"
		best=$((q > k ? q : k))
		b_cols=
		if [ -n "$BASE_BUILD" ]; then
			read -r b _ <<<"${RES["$j,ours-b"]}"
			b_cols=" $b | $(ratio "$b" "$best") | $(ratio "$o" "$b") |"
		fi
		echo "| ${NAMES[$j]} | $o | $q | $k | $(ratio "$o" "$best") |$b_cols"
	done
	if [ "$VHD_OK" = 1 ]; then
		echo
		echo "| job (dynamic VHD) | ours IOPS | qemu-nbd IOPS | ours / qemu-nbd |"
		echo "|---|---|---|---|"
		for j in "${!JOBS[@]}"; do
			read -r o _ <<<"${RES["$j,ours-vhd"]}"
			read -r q _ <<<"${RES["$j,qemu-vhd"]}"
			echo "| ${NAMES[$j]} | $o | $q | $(ratio "$o" "$q") |"
		done
	fi
} >"$TABLE"
echo
cat "$TABLE"
[ -n "$TABLE_OUT" ] && cp "$TABLE" "$TABLE_OUT"
exit 0
