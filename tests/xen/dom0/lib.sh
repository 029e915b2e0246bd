# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC2046,SC2034,SC1090
# Helpers for the dom0 tests (busybox sh). Every test runs as a child
# shell under a time limit (xt_run) and ends with exit 0 (pass), 77 (skip,
# reason via xt_skip) or anything else (fail, reason via xt_die). The
# host reads the "XENTEST: PASS|FAIL|SKIP name[: reason]" lines from the
# serial console and counts them.

XT_RUN=/run/xt
mkdir -p "$XT_RUN"
XT_ONLY=$(sed -n 's/.*xt_only=\([^ ]*\).*/\1/p' /proc/cmdline)

# Ends the current test as failed with reason $*.
xt_die() {
	echo "$*" >"$XT_RUN/reason"
	echo "FAILED: $*"
	exit 1
}

# Ends the current test as skipped with reason $*.
xt_skip() {
	echo "$*" >"$XT_RUN/reason"
	echo "SKIPPED: $*"
	exit 77
}

# Seconds since boot, with hundredths.
xt_now() { cut -d' ' -f1 /proc/uptime; }

# Runs test NAME as "FUNC ARGS..." for at most SECS seconds, echoing its
# output, and prints the result line.
xt_run() {
	local name=$1 secs=$2 t0 t rc reason
	shift 2
	# xt_only=a+b on the command line (XEN_TESTS on the host) runs only
	# those tests (and the ones a group always needs: $XT_ALWAYS).
	if [ -n "$XT_ONLY" ] && ! echo "+$XT_ONLY+$XT_ALWAYS+" |
		grep -q "+$name+"; then
		return 0
	fi
	rm -f "$XT_RUN/reason" "$XT_RUN/rc"
	t0=$(xt_now)
	echo "---- $name (limit ${secs}s) ----"
	{
		timeout -s KILL "$secs" sh -c \
			'. /xentests/lib.sh; . "$XT_FILE"; "$@"' xt "$@"
		echo $? >"$XT_RUN/rc"
	} 2>&1 | sed 's/^/  | /'
	rc=$(cat "$XT_RUN/rc" 2>/dev/null || echo 1)
	t=$(awk -v a="$t0" -v b="$(xt_now)" 'BEGIN { printf "%.1f", b - a }')
	reason=$(cat "$XT_RUN/reason" 2>/dev/null)
	case $rc in
	0) xt_result PASS "$name" "${t}s" ;;
	77) xt_result SKIP "$name" "$reason" ;;
	137|143)
		xt_diag
		xt_result FAIL "$name" "killed after its ${secs}s limit" ;;
	*)
		for f in /run/tapdisk/*.log; do
			[ -f "$f" ] && { echo "-- $f"; tail -n 15 "$f"; }
		done
		xt_result FAIL "$name" "${reason:-exit status $rc}" ;;
	esac
	[ "$rc" = 0 ]
}

# What was going on when a test hung: processes, VBDs, kernel, tapdisk.
xt_diag() {
	echo "---- diagnostics ----"
	ps | grep -v ' \[' | tail -n 25
	tap-ctl list 2>&1
	dmesg | tail -n 15
	for f in /run/tapdisk/*.log; do
		[ -f "$f" ] && { echo "-- $f"; tail -n 15 "$f"; }
	done
}

xt_result() {
	echo "XENTEST: $1 $2: $3"
	echo "$1 $2" >>"$XT_RUN/results"
}

# Prints the group's totals; returns 1 if any test failed.
xt_summary() {
	local p f s
	p=$(grep -c '^PASS ' "$XT_RUN/results" 2>/dev/null)
	f=$(grep -c '^FAIL ' "$XT_RUN/results" 2>/dev/null)
	s=$(grep -c '^SKIP ' "$XT_RUN/results" 2>/dev/null)
	echo "group: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
	[ "${f:-0}" -eq 0 ]
}

# Polls "CMD ARGS..." every 0.1 s for up to SECS seconds.
xt_wait() {
	local end
	end=$(awk -v t="$1" '{ printf "%d", $1 + t }' /proc/uptime)
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# Loads brd with N ramdisks of MB MiB each (once per boot).
xt_ramdisks() {
	[ -b /dev/ram0 ] && return 0
	modprobe brd rd_nr="$1" rd_size=$(($2 * 1024)) max_part=1 ||
		xt_die "modprobe brd failed"
	xt_wait 5 test -b /dev/ram$(($1 - 1)) || xt_die "no /dev/ram devices"
}

# Frontend and backend xenstore directories of a self-attached vbd:
# xt_fe DEVID, xt_be TYPE DEVID.
xt_fe() { echo "/local/domain/0/device/vbd/$1"; }
xt_be() { echo "/local/domain/0/backend/$1/0/$2"; }

# Writes, in one xenstore transaction, the nodes of a dom0 self-attach:
# frontend domain 0, backend TYPE in domain 0, disk DEVID named DEV, with
# params PARAMS and any further backend KEY VALUE pairs.
xt_vbd_nodes() {
	local type=$1 devid=$2 dev=$3 params=$4 fe be extra
	shift 4
	fe=$(xt_fe "$devid") be=$(xt_be "$type" "$devid")
	extra=
	while [ $# -ge 2 ]; do
		extra="$extra $be/$1 $2"
		shift 2
	done
	# shellcheck disable=SC2086 # $extra is word pairs
	xenstore-write \
		"$fe/backend" "$be" "$fe/backend-id" 0 "$fe/state" 1 \
		"$fe/virtual-device" "$devid" "$fe/device-type" disk \
		"$be/frontend" "$fe" "$be/frontend-id" 0 "$be/online" 1 \
		"$be/removable" 0 "$be/state" 1 "$be/dev" "$dev" \
		"$be/type" "$type" "$be/mode" w "$be/device-type" disk \
		"$be/params" "$params" $extra
}

# Linux names xvd disks from their devid: 202<<8 | index<<4.
xt_devid() {
	local i
	i=$(printf '%d' "'$1")
	echo $(((202 << 8) | ((i - 97) << 4)))
}

# True once both ends of vbd DEVID (backend TYPE) are Connected (4) and
# /dev/DEV exists.
xt_connected() {
	[ "$(xenstore-read "$(xt_be "$1" "$2")/state" 2>/dev/null)" = 4 ] &&
	[ "$(xenstore-read "$(xt_fe "$2")/state" 2>/dev/null)" = 4 ] &&
	[ -b "/dev/$3" ]
}

# Waits up to SECS for vbd DEV (backend TYPE) to connect; dies with the
# states and the last kernel messages otherwise.
xt_wait_connected() {
	local type=$1 dev=$2 secs=$3 devid
	devid=$(xt_devid "${dev#xvd}")
	xt_wait "$secs" xt_connected "$type" "$devid" "$dev" && return 0
	echo "backend:"; xenstore-ls -f "$(xt_be "$type" "$devid")" 2>&1
	echo "frontend:"; xenstore-ls -f "$(xt_fe "$devid")" 2>&1
	dmesg | tail -n 20
	xt_die "$dev via $type did not connect in ${secs}s (backend state" \
		"$(xenstore-read "$(xt_be "$type" "$devid")/state" 2>&1)," \
		"frontend state $(xenstore-read "$(xt_fe "$devid")/state" 2>&1))"
}

# Self-attaches block device BDEV as DEV through the kernel's blkback.
xt_blkback_attach() {
	local dev=$1 bdev=$2 devid mm
	modprobe -a xen-blkback xen-blkfront || xt_die "modprobe blkback"
	devid=$(xt_devid "${dev#xvd}")
	mm=$(stat -L -c '%t:%T' "$bdev") || xt_die "stat $bdev"
	# blkback acts on physical-device, which a hotplug script writes.
	xt_vbd_nodes vbd "$devid" "$dev" "$bdev" physical-device "$mm" ||
		xt_die "xenstore-write failed"
	xt_wait_connected vbd "$dev" 60
}

# Starts QEMU's Xen backend in dom0 (once) and self-attaches BDEV as DEV
# through its qdisk.
xt_qdisk_attach() {
	local dev=$1 bdev=$2 devid
	[ -x /usr/libexec/xen-qemu-system-i386 ] ||
		xt_skip "qemu-system-xen is not in the image"
	modprobe xen-blkfront || xt_die "modprobe blkfront"
	if [ ! -s /run/qemu-dom0.pid ]; then
		/usr/libexec/xen-qemu-system-i386 -xen-domid 0 -xen-attach \
			-name dom0 -nographic -M xenpv -daemonize -monitor none \
			-serial none -parallel none \
			-pidfile /run/qemu-dom0.pid || xt_die "qemu did not start"
	fi
	devid=$(xt_devid "${dev#xvd}")
	xt_vbd_nodes qdisk "$devid" "$dev" "aio:$bdev" ||
		xt_die "xenstore-write failed"
	xt_wait_connected qdisk "$dev" 60
}

# What blkfront reports for DEV in dmesg ("barrier or flush: ..." line).
xt_blkfront_line() {
	dmesg | grep "blkfront: $1: " | tail -n 1
}

# Runs fio on DEV: xt_fio DEV RW BS QD SECS [extra fio options]. Prints
# "IOPS KiB/s" of the job's direction; fails if fio fails or reports an
# error.
xt_fio() {
	local dev=$1 rw=$2 bs=$3 qd=$4 secs=$5 out
	shift 5
	out=$(fio --name=b --filename="$dev" --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --ioengine=libaio --direct=1 --runtime="$secs" \
		--time_based --norandommap --randrepeat=0 --group_reporting \
		--output-format=terse --terse-version=3 "$@" 2>&1) || {
		echo "$out" >&2
		return 1
	}
	echo "$out" | awk -F';' -v rw="$rw" '
		$1 != "3" { next }
		$5 != "0" { print "fio error " $5 > "/dev/stderr"; exit 1 }
		{ if (rw ~ /read/) print $8, $7; else print $49, $48; n++ }
		END { if (!n) exit 1 }'
}

# Writes then reads back DEV with O_DIRECT and fio's checksummed pattern
# (each block carries its offset and a crc32c): xt_verify DEV BS OFFSET
# SIZE RW [extra]. Fails on any mismatch or I/O error.
xt_verify() {
	local dev=$1 bs=$2 off=$3 size=$4 rw=$5
	shift 5
	fio --name=v --filename="$dev" --rw="$rw" --bs="$bs" --offset="$off" \
		--size="$size" --ioengine=libaio --iodepth=8 --direct=1 \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--randrepeat=0 --output-format=terse --terse-version=3 "$@" \
		>"$XT_RUN/verify.out" 2>&1 || {
		cat "$XT_RUN/verify.out"
		return 1
	}
	awk -F';' '$1 == "3" && $5 != "0" { exit 1 }' "$XT_RUN/verify.out"
}
