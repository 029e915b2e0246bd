# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC2046,SC2034,SC1090
# Baseline and benchmark in one boot: the real Linux blkfront in dom0
# self-attached to the kernel's blkback, to QEMU's qdisk and (when the
# xenstore backend exists) to our tapdisk, each over its own prefilled
# brd ramdisk of the same size; with xt_bench_ram=1 on the command line
# (XEN_BENCH_RAM=1 on the host) also the ramdisk itself without Xen, and
# with xt_bench_null=1 (XEN_BENCH_NULL=1) the transport floor: blkback over
# null_blk and tapdisk over its null driver, where no storage does work.
# Every backend first passes a handshake and an O_DIRECT verify check,
# then fio runs each job on each backend, rotating the order per round.
# Emulated-CPU numbers: only the ratios to blkback mean anything.
. /xentests/tapdisk-xenbus.sh

BENCH_MB=128
XT_ALWAYS=bench-setup
BENCH_JOBS="randread-4k-qd32:randread:4k:32 randwrite-4k-qd32:randwrite:4k:32
randread-4k-qd1:randread:4k:1 randwrite-4k-qd1:randwrite:4k:1
read-1m-qd16:read:1m:16 write-1m-qd16:write:1m:16"

# Kernel command line knobs from the host (xt_rounds=, xt_secs=).
bench_arg() {
	for a in $(cat /proc/cmdline); do
		case $a in
		"$1"=*) echo "${a#*=}"; return ;;
		esac
	done
	echo "$2"
}

bench_setup() {
	xt_ramdisks 4 $BENCH_MB
	# brd allocates a page on first write: fill every disk so no backend
	# pays for allocation while measured.
	for i in $(seq "$([ "$(bench_arg xt_bench_ram 0)" = 1 ] && echo 0 ||
		echo 1)" 3); do
		dd if=/dev/zero of=/dev/ram$i bs=1M count=$BENCH_MB 2>/dev/null ||
			xt_die "filling /dev/ram$i failed"
	done
	free -m
}

# Handshake facts and a short O_DIRECT write+verify over DEV (a null
# backend drops writes: there, only that it reads and has SECTORS).
bench_check() {
	local dev=$1 type=$2 sectors=${3:-$((BENCH_MB * 2048))} line fe
	line=$(xt_blkfront_line "$dev")
	echo "$line"
	[ -n "$line" ] || xt_die "no blkfront line for $dev in dmesg"
	fe=$(xt_fe "$(xt_devid "${dev#xvd}")")
	echo "frontend: queues $(xenstore-read "$fe/multi-queue-num-queues" \
		2>/dev/null || echo 1), protocol $(xenstore-read "$fe/protocol"), \
persistent $(xenstore-read "$fe/feature-persistent" 2>/dev/null)"
	echo "blk-mq hardware queues: $(ls /sys/block/"$dev"/mq | wc -l)"
	[ "$(cat /sys/block/"$dev"/size)" -eq "$sectors" ] ||
		xt_die "$dev has $(cat /sys/block/"$dev"/size) sectors"
	if [ "${type#*-}" = null ]; then
		dd if=/dev/"$dev" of=/dev/null bs=1M count=4 iflag=direct \
			2>/dev/null || xt_die "O_DIRECT read over $type failed"
		return 0
	fi
	xt_verify "/dev/$dev" 4k 0 4m randwrite ||
		xt_die "O_DIRECT verify over $type failed"
	xt_verify "/dev/$dev" 1m 64m 16m write ||
		xt_die "1 MiB O_DIRECT verify over $type failed"
}

bench_blkback() {
	xt_blkback_attach xvda /dev/ram1
	bench_check xvda blkback
}

bench_qdisk() {
	grep -q xt_noqdisk=1 /proc/cmdline &&
		xt_skip "qemu-system-xen could not be put into the image"
	xt_qdisk_attach xvdb /dev/ram2
	bench_check xvdb qdisk
}

# xt_td_args=--io-engine+uring (XEN_TD_ARGS on the host) adds create
# options, + for spaces, to compare tapdisk configurations.
bench_tapdisk() {
	tdx_attach xvdc aio:/dev/ram3 $(bench_arg xt_td_args "" | tr + ' ')
	bench_check xvdc tapdisk
}

# The floor pair: the same two backends over storage that does nothing
# (null_blk completes in the submitting context; tapdisk's null driver
# zeroes reads and drops writes). tapdisk-null / blkback-null is what is
# left once storage costs nothing; their ratio bounds what any change
# below tapdisk's ring could gain.
bench_null() {
	[ -b /dev/nullb0 ] || modprobe null_blk nr_devices=1 gb=1 bs=512 \
		irqmode=0 queue_mode=2 || xt_die "modprobe null_blk failed"
	xt_wait 5 test -b /dev/nullb0 || xt_die "no /dev/nullb0"
	xt_blkback_attach xvdd /dev/nullb0
	bench_check xvdd blkback-null 2097152
	tdx_attach xvde null:1G $(bench_arg xt_td_args "" | tr + ' ')
	bench_check xvde tapdisk-null 2097152
}

# Prints "name device" of each backend that is connected now.
bench_targets() {
	[ "$(bench_arg xt_bench_ram 0)" = 1 ] && echo "ram /dev/ram0"
	xt_connected vbd 51712 xvda && echo "blkback /dev/xvda"
	xt_connected qdisk 51728 xvdb && echo "qdisk /dev/xvdb"
	tdx_connected xvdc && echo "tapdisk /dev/xvdc"
	xt_connected vbd 51760 xvdd && echo "blkback-null /dev/xvdd"
	tdx_connected xvde && echo "tapdisk-null /dev/xvde"
}

bench_run() {
	rounds=$(bench_arg xt_rounds 2)
	secs=$(bench_arg xt_secs 4)
	bench_targets >"$XT_RUN/targets"
	cat "$XT_RUN/targets"
	n=$(wc -l <"$XT_RUN/targets")
	: >"$XT_RUN/bench.txt"
	r=1
	while [ $r -le "$rounds" ]; do
		for j in $BENCH_JOBS; do
			IFS=: read -r name rw bs qd <<EOF
$j
EOF
			# Rotate which backend goes first from round to round.
			k=0
			while [ $k -lt "$n" ]; do
				idx=$(((k + r - 1) % n + 1))
				set -- $(sed -n "${idx}p" "$XT_RUN/targets")
				v=$(xt_fio "$2" "$rw" "$bs" "$qd" "$secs") ||
					xt_die "fio $name on $1 failed (I/O error?)"
				echo "$r $name $1 $v" >>"$XT_RUN/bench.txt"
				k=$((k + 1))
			done
			bench_print_job "$r" "$name"
		done
		r=$((r + 1))
	done
	bench_print_summary
	# Where tapdisk's time may go: grant maps, evictions, copy fallbacks.
	if tdx_connected xvdc; then
		set -- $(tdx_vbd xvdc)
		echo "XENBENCH: tapdisk stats: $(tap-ctl stats -p "$1" -m "$2")"
	fi
}

# One line per job and round: value per backend and its ratio to blkback.
bench_print_job() {
	awk -v r="$1" -v job="$2" '
	$1 == r && $2 == job {
		v = (job ~ /-1m-/) ? $5 / 1024 : $4
		val[$3] = v; order[n++] = $3
	}
	END {
		unit = (job ~ /-1m-/) ? "MiB/s" : "IOPS"
		base = ("blkback" in val) ? "blkback" : "ram"
		s = sprintf("XENBENCH: round %d %-18s %s:", r, job, unit)
		for (i = 0; i < n; i++)
			s = s sprintf(" %s %.0f (%.2f)", order[i], val[order[i]],
				      val[order[i]] / val[base])
		print s " [ratio to " base "]"
	}' "$XT_RUN/bench.txt"
}

# Ratio to blkback of each backend and job over the rounds: min..max.
bench_print_summary() {
	awk '
	# "lo..hi" of NUM / DEN over the rounds of JOB, or "" if no round
	# has both.
	function span(job, num, den,   r, x, y, q, lo, hi, n) {
		for (r = 1; r <= rounds; r++) {
			x = val[r, job, num]; y = val[r, job, den]
			if (x == "" || y == "" || y == 0) continue
			q = x / y
			if (!n || q < lo) lo = q
			if (!n || q > hi) hi = q
			n++
		}
		return n ? sprintf("%.2f..%.2f", lo, hi) : ""
	}
	{ v = ($2 ~ /-1m-/) ? $5 / 1024 : $4; val[$1, $2, $3] = v
	  if (!($2 in seenj)) { seenj[$2] = 1; jobs[nj++] = $2 }
	  if (!($3 in seenb)) { seenb[$3] = 1; bes[nb++] = $3 }
	  if ($1 > rounds) rounds = $1 }
	END {
		print "XENBENCH: summary, ratio to blkback per round (min..max):"
		for (j = 0; j < nj; j++) {
			s = sprintf("XENBENCH: %-18s", jobs[j])
			for (b = 0; b < nb; b++) {
				if (bes[b] == "blkback") continue
				q = span(jobs[j], bes[b], "blkback")
				if (q != "")
					s = s sprintf("  %s %s", bes[b], q)
			}
			q = span(jobs[j], "tapdisk-null", "blkback-null")
			if (q != "")
				s = s "  floor tapdisk-null/blkback-null " q
			print s
		}
	}' "$XT_RUN/bench.txt"
}

# Ring requests tapdisk has taken so far over all queues of DEV.
bench_td_reqs() {
	set -- $(tdx_vbd "$1")
	tap-ctl stats -p "$1" -m "$2" | grep -o '"requests":[0-9]*' |
		awk -F: '{ n += $2 } END { print n + 0 }'
}

# xt_perf=1 (XEN_PERF=1 on the host): instead of the benchmark, profile
# with the host's perf: tapdisk's syscalls and context switches per ring
# request, then a system-wide profile of each job (by command, then the
# backend's top symbols). Output lines start with "PERF:".
bench_perf() {
	local tpid r0 r1 c
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
	echo -1 >/proc/sys/kernel/perf_event_paranoid
	set -- $(tdx_vbd xvdc)
	tpid=$1
	for spec in "tapdisk /dev/xvdc randread 4k 1" \
		"tapdisk /dev/xvdc read 1m 16" "blkback /dev/xvda randread 4k 1" \
		"blkback /dev/xvda read 1m 16"; do
		set -- $spec
		echo "PERF: ==== $1 $3 $4 qd$5"
		if [ "$1" = tapdisk ]; then
			xt_fio "$2" "$3" "$4" "$5" 6 >/dev/null &
			sleep 1
			r0=$(bench_td_reqs xvdc)
			perf stat -p "$tpid" -x, -o /tmp/stat.txt \
				-e raw_syscalls:sys_enter,context-switches -- sleep 4
			r1=$(bench_td_reqs xvdc)
			wait
			awk -F, -v n=$((r1 - r0)) '$3 != "" && n > 0 {
				printf "PERF: %s per ring request: %.2f (%d requests)\n",
					$3, $1 / n, n }' /tmp/stat.txt
		fi
		xt_fio "$2" "$3" "$4" "$5" 6 | sed 's/^/PERF: fio: /' &
		sleep 1
		perf record -a -g -o /tmp/p.data -- sleep 4 2>/dev/null
		wait
		perf report -i /tmp/p.data --stdio --no-children --sort comm \
			2>/dev/null | grep -E '^ +[0-9.]+%' | head -8 |
			sed 's/^/PERF: /'
		c=$1
		[ "$1" = blkback ] && c=0.xvda-0,0.xvda-1
		perf report -i /tmp/p.data --stdio --no-children --comm "$c" \
			--sort dso,sym -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -40 | sed 's/^/PERF: /'
	done
}

xt_main() {
	xt_run bench-setup 60 bench_setup || return 1
	xt_run blkback-attach 120 bench_blkback
	xt_run qdisk-attach 120 bench_qdisk
	xt_run tapdisk-bench-attach 120 bench_tapdisk
	[ "$(bench_arg xt_bench_null 0)" = 1 ] &&
		xt_run null-attach 120 bench_null
	if [ "$(bench_arg xt_perf 0)" = 1 ]; then
		xt_run perf 300 bench_perf
		return
	fi
	rounds=$(bench_arg xt_rounds 2)
	secs=$(bench_arg xt_secs 4)
	n=4
	[ "$(bench_arg xt_bench_null 0)" = 1 ] && n=6
	xt_run bench $((rounds * 6 * n * (secs + 6) + 30)) bench_run
}
