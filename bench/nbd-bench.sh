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
# Usage: bench/nbd-bench.sh [-t SECONDS] [-r ROUNDS] [-s IMAGE_MIB]
#                           [-o TABLE.md]
# Run from a build directory (or set top_builddir); as root, like tapdisk.
set -u

RUNTIME=4
ROUNDS=3
SIZE_MIB=1024
TABLE_OUT=
while getopts "t:r:s:o:h" opt; do
	case $opt in
	t) RUNTIME=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	s) SIZE_MIB=$OPTARG ;;
	o) TABLE_OUT=$OPTARG ;;
	*) sed -n '3,21s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
done
[[ $RUNTIME =~ ^[0-9]+$ ]] && [ "$RUNTIME" -ge 1 ] && [ "$RUNTIME" -le 30 ] ||
	{ echo "nbd-bench: -t must be 1..30 seconds" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 9 ] ||
	{ echo "nbd-bench: -r must be 1..9" >&2; exit 2; }
[[ $SIZE_MIB =~ ^[0-9]+$ ]] && [ "$SIZE_MIB" -ge 64 ] &&
	[ "$SIZE_MIB" -le 8192 ] ||
	{ echo "nbd-bench: -s must be 64..8192 MiB" >&2; exit 2; }

: "${top_builddir:=$PWD}"
for d in tapdisk control; do
	[ -d "$top_builddir/$d" ] && PATH="$top_builddir/$d:$PATH"
done
export PATH
for c in tapdisk tap-ctl fio python3 qemu-nbd qemu-img nbdkit nbdinfo; do
	command -v "$c" >/dev/null ||
		{ echo "nbd-bench: $c not found (build first, or install it)" >&2
		  exit 2; }
done
fio --enghelp 2>/dev/null | grep -qw nbd ||
	{ echo "nbd-bench: fio has no nbd engine" >&2; exit 2; }
[ -d /dev/shm ] && [ -w /dev/shm ] ||
	{ echo "nbd-bench: /dev/shm is not writable" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nbd-bench.XXXXXX")
TAPDISK_RUN_DIR=$WORK/run
export TAPDISK_RUN_DIR
mkdir -m 0700 "$TAPDISK_RUN_DIR"
IMG=/dev/shm/td-nbd-bench.$$.raw
VHD=/dev/shm/td-nbd-bench.$$.vhd
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	rm -f "$IMG" "$VHD"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Written, not sparse: reads must touch real pages.
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MIB" status=none ||
	{ echo "nbd-bench: cannot write $IMG" >&2; exit 1; }

# Waits until an NBD server answers at URI $1.
wait_nbd() {
	local i
	for ((i = 0; i < 100; i++)); do
		nbdinfo --size "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "nbd-bench: no NBD server at $1" >&2
	return 1
}

# The start_* functions set URI to the new server's address and record
# its pid for cleanup (they must not run in a subshell).

# Our export of "TYPE:PATH" $1.
start_ours() {
	local dev minor pid sock
	URI=
	dev=$(tap-ctl create -a "$1") || return 1
	minor=${dev##*tapdev}
	read -r pid sock < <(tap-ctl list -m "$minor" --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tapdisks"]:
    for v in t["vbds"]:
        print(t["pid"], v["exports"]["nbd"]["nbd_socket"])')
	[ -n "$pid" ] || return 1
	PIDS+=("$pid")
	URI="nbd+unix:///?socket=$sock"
}

# qemu-nbd of file $2 in format $1 on a socket named $3.
start_qemu_nbd() {
	local sock=$WORK/$3.sock
	qemu-nbd -f "$1" -t -k "$sock" "$2" >"$WORK/$3.log" 2>&1 &
	PIDS+=($!)
	URI="nbd+unix:///?socket=$sock"
}

start_nbdkit() {
	local sock=$WORK/nbdkit.sock
	nbdkit -f -U "$sock" file "$1" >"$WORK/nbdkit.log" 2>&1 &
	PIDS+=($!)
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
	sed -n '/^{/,$p' "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
io = j["write"] if j["write"]["io_bytes"] > j["read"]["io_bytes"] else j["read"]
print("%.0f %.0f" % (io["iops"], io["bw_bytes"] / 1e6))'
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

ratio() { python3 -c '
import sys
a, b = float(sys.argv[1]), float(sys.argv[2])
print("%.2f" % (a / b) if b else "n/a")' "$1" "$2"; }

TABLE=$WORK/table.md
{
	echo "| job | ours IOPS | qemu-nbd IOPS | nbdkit IOPS | ours / best peer |"
	echo "|---|---|---|---|---|"
	for j in "${!JOBS[@]}"; do
		read -r o _ <<<"${RES["$j,ours"]}"
		read -r q _ <<<"${RES["$j,qemu-nbd"]}"
		read -r k _ <<<"${RES["$j,nbdkit"]}"
		best=$((q > k ? q : k))
		echo "| ${NAMES[$j]} | $o | $q | $k | $(ratio "$o" "$best") |"
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
