# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC2046,SC2034,SC1090
# The real Linux xen-blkfront in dom0 against OUR tapdisk, connected
# through tapdisk's xenstore backend with real grants, event channels and
# xenstored: handshake, data, file system, discard, images (raw, dynamic
# VHD, differencing chain), detach/re-attach, frontend reconnect, pause
# and live snapshot under load, online resize, a bad image. Images live in
# dom0's tmpfs, so discard can punch holes that stat can see.
. /xentests/tapdisk-xenbus.sh

RAW=/tmp/raw.img
RAW_MB=256
XT_ALWAYS=tapdisk-handshake

# Backend node $2 of DEV $1, or "" if absent.
td_be() { xenstore-read "$(tdx_be "$1")/$2" 2>/dev/null; }
td_fe() { xenstore-read "$(tdx_fe "$1")/$2" 2>/dev/null; }

td_min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }

TD_BF_PARAMS=/sys/module/xen_blkfront/parameters

# Prints what tapdisk says about DEV's device (pid $1), for a failure.
td_reset_diag() {
	[ -n "$1" ] || return 0
	tap-ctl xenbus-list -p "$1"
	tap-ctl stats -p "$1" -m "$(tdx_vbd "$2" | cut -d' ' -f2)"
}

# Checks what blkfront negotiated against what tapdisk advertised.
td_handshake() {
	local dev=xvda line v q nq order mseg
	rm -f "$RAW"
	truncate -s ${RAW_MB}M "$RAW"
	tdx_attach "$dev" "aio:$RAW"
	echo "backend:"; xenstore-ls "$(tdx_be "$dev")"
	echo "frontend:"; xenstore-ls "$(tdx_fe "$dev")"
	line=$(xt_blkfront_line "$dev")
	echo "$line"
	[ -n "$line" ] || xt_die "no blkfront line in dmesg"
	# Size and sector size.
	[ "$(td_be $dev sectors)" = $((RAW_MB * 2048)) ] ||
		xt_die "backend sectors $(td_be $dev sectors)"
	[ "$(cat /sys/block/$dev/size)" = $((RAW_MB * 2048)) ] ||
		xt_die "blkfront size $(cat /sys/block/$dev/size) sectors"
	v=$(td_be $dev sector-size)
	[ "$(cat /sys/block/$dev/queue/logical_block_size)" = "${v:-512}" ] ||
		xt_die "logical block size differs from sector-size $v"
	# Persistent grants.
	if [ "$(td_be $dev feature-persistent)" = 1 ]; then
		echo "$line" | grep -q 'persistent grants: enabled' ||
			xt_die "backend offers persistent grants, blkfront not"
		[ "$(td_fe $dev feature-persistent)" = 1 ] ||
			xt_die "frontend did not write feature-persistent=1"
	else
		echo "$line" | grep -q 'persistent grants: disabled' ||
			xt_die "persistent grants used without the feature"
	fi
	# Indirect descriptors: max_segments is the smaller of what we offer
	# and blkfront's max_indirect_segments parameter.
	v=$(td_be $dev feature-max-indirect-segments)
	mseg=$(cat $TD_BF_PARAMS/max_indirect_segments)
	if [ -n "$v" ] && [ "$v" -gt 11 ]; then
		echo "$line" | grep -q 'indirect descriptors: enabled' ||
			xt_die "indirect offered ($v), blkfront not using it"
		[ "$(cat /sys/block/$dev/queue/max_segments)" = \
			"$(td_min "$v" "$mseg")" ] ||
			xt_die "max_segments" \
				"$(cat /sys/block/$dev/queue/max_segments)"
	else
		echo "$line" | grep -q 'indirect descriptors: disabled' ||
			xt_die "indirect descriptors used without the feature"
	fi
	# Queues: min(ours, blkfront's max_queues, CPUs).
	q=$(td_be $dev multi-queue-max-queues)
	nq=$(td_fe $dev multi-queue-num-queues)
	v=$(td_min "${q:-1}" "$(cat $TD_BF_PARAMS/max_queues)")
	v=$(td_min "$v" "$(grep -c ^processor /proc/cpuinfo)")
	[ "${nq:-1}" = "$v" ] ||
		xt_die "frontend chose ${nq:-1} queues, expected $v"
	[ "$(ls /sys/block/$dev/mq | wc -l)" = "$v" ] ||
		xt_die "blk-mq has $(ls /sys/block/$dev/mq | wc -l) queues," \
			"not $v"
	if [ "$v" -gt 1 ]; then
		td_fe $dev queue-0/ring-ref >/dev/null &&
		td_fe $dev queue-1/event-channel >/dev/null ||
			xt_die "no per-queue ring nodes"
	fi
	# Ring order: min(ours, blkfront's max_ring_page_order).
	order=$(td_be $dev max-ring-page-order)
	v=$(td_min "${order:-0}" \
		"$(cat $TD_BF_PARAMS/max_ring_page_order)")
	[ "$(td_fe $dev ring-page-order || echo 0)" = "$v" ] ||
		xt_die "ring-page-order $(td_fe $dev ring-page-order)," \
			"expected $v"
	# Flush / barrier.
	if [ "$(td_be $dev feature-flush-cache)" = 1 ]; then
		echo "$line" | grep -q 'flush diskcache: enabled' ||
			xt_die "flush offered, blkfront does not flush"
	elif [ "$(td_be $dev feature-barrier)" = 1 ]; then
		echo "$line" | grep -q 'barrier: enabled' ||
			xt_die "barrier offered, blkfront does not use it"
	fi
	# Discard.
	if [ "$(td_be $dev feature-discard)" = 1 ]; then
		[ "$(cat /sys/block/$dev/queue/discard_max_bytes)" -gt 0 ] ||
			xt_die "discard offered, queue has no discard"
		v=$(td_be $dev discard-granularity)
		[ -z "$v" ] || [ "$v" = 0 ] ||
		[ "$(cat /sys/block/$dev/queue/discard_granularity)" = "$v" ] ||
			xt_die "discard granularity differs from $v"
	fi
	[ "$(td_be $dev hotplug-status)" = connected ] ||
		xt_die "hotplug-status is '$(td_be $dev hotplug-status)'"
	[ "$(td_be $dev mode)" = w ] && [ "$(cat /sys/block/$dev/ro)" = 0 ] ||
		xt_die "read-write disk shows ro=$(cat /sys/block/$dev/ro)"
}

# O_DIRECT pattern writes and reads at several sizes and offsets,
# including unaligned-to-page offsets, indirect-sized requests and the
# last MiB of the disk.
td_odirect() {
	local d=/dev/xvda end=$((RAW_MB - 1))
	tdx_connected xvda || xt_die "xvda not connected"
	xt_verify $d 512 512 256k randwrite || xt_die "512 B at offset 512"
	xt_verify $d 4k 4k 2m randwrite || xt_die "4 KiB random"
	xt_verify $d 64k 1536 4m write || xt_die "64 KiB at offset 1536"
	xt_verify $d 128k 32m 8m randwrite || xt_die "128 KiB (indirect)"
	xt_verify $d 1m 64m 16m write --iodepth=16 || xt_die "1 MiB QD16"
	xt_verify $d 1m ${end}m 1m write || xt_die "last MiB of the disk"
	xt_verify $d 4k 0 8m randrw --bsrange=512-256k --iodepth=32 ||
		xt_die "mixed 512 B..256 KiB QD32"
	dmesg | grep -q 'I/O error.*xvda' && xt_die "kernel logged I/O errors"
	return 0
}

TD_MNT=/mnt/xvda

# Writes files with known checksums into the mounted fs at $1.
td_write_files() {
	local i
	for i in 1 2 3 4 5; do
		dd if=/dev/urandom of="$1/f$i" bs=64k count=$((i * 37)) \
			2>/dev/null || return 1
	done
	mkdir -p "$1/dir" && cp "$1/f2" "$1/dir/copy"
	(cd "$1" && sha256sum f1 f2 f3 f4 f5 dir/copy) >"$XT_RUN/sums"
}

td_check_files() {
	(cd "$1" && sha256sum -c "$XT_RUN/sums")
}

# blkfront turns flushes off for good when one fails ("op failed"), and
# then a guest's fsync is no longer durable: check that never happened.
td_flush_ok() {
	local wc
	dmesg | grep "blkfront: $1: .*op failed" &&
		xt_die "blkfront saw a flush fail and stopped flushing"
	wc=$(cat /sys/block/$1/queue/write_cache)
	[ "$wc" = "write back" ] ||
		xt_die "$1 write cache is '$wc': blkfront does not flush"
}

td_fs() {
	tdx_connected xvda || xt_die "xvda not connected"
	td_flush_ok xvda
	mkfs.ext4 -q -F -E nodiscard /dev/xvda || xt_die "mkfs.ext4 failed"
	td_flush_ok xvda
	mkdir -p $TD_MNT
	mount -t ext4 /dev/xvda $TD_MNT || xt_die "mount failed"
	td_write_files $TD_MNT || xt_die "writing files failed"
	sync
	umount $TD_MNT || xt_die "umount failed"
	e2fsck -fn /dev/xvda || xt_die "fsck found errors"
	mount -t ext4 /dev/xvda $TD_MNT || xt_die "remount failed"
	td_check_files $TD_MNT || xt_die "checksums differ after remount"
	umount $TD_MNT
	td_flush_ok xvda
}

# Allocated bytes of a file (sparse files: what discard gives back).
td_alloc() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }

td_fstrim() {
	local before after freed
	[ "$(td_be xvda feature-discard)" = 1 ] ||
		xt_die "tapdisk does not offer feature-discard on a raw file"
	mount -t ext4 /dev/xvda $TD_MNT || xt_die "mount failed"
	dd if=/dev/urandom of=$TD_MNT/big bs=1M count=64 2>/dev/null
	sync
	before=$(td_alloc "$RAW")
	rm $TD_MNT/big
	sync
	fstrim -v $TD_MNT || xt_die "fstrim failed"
	sync
	after=$(td_alloc "$RAW")
	freed=$(((before - after) / 1048576))
	echo "image allocation: $((before >> 20)) MiB -> $((after >> 20)) MiB"
	td_check_files $TD_MNT || xt_die "files changed by fstrim"
	umount $TD_MNT
	[ "$freed" -ge 48 ] || xt_die "fstrim freed only $freed MiB of 64"
}

# Detach, re-attach (the same VBD and a fresh tapdisk), data intact.
td_reattach() {
	local i
	tdx_connected xvda || xt_die "xvda not connected"
	tdx_disconnect xvda
	[ ! -b /dev/xvda ] || xt_die "/dev/xvda still there after detach"
	tdx_connect xvda "aio:$RAW"
	mount -t ext4 -o ro /dev/xvda $TD_MNT || xt_die "mount after reconnect"
	td_check_files $TD_MNT || xt_die "checksums differ after reconnect"
	umount $TD_MNT
	for i in 1 2 3; do
		tdx_detach xvda
		tdx_attach xvda "aio:$RAW"
	done
	e2fsck -fn /dev/xvda >/dev/null || xt_die "fsck after re-attach"
	mount -t ext4 /dev/xvda $TD_MNT || xt_die "mount after re-attach"
	td_check_files $TD_MNT || xt_die "checksums differ after re-attach"
	umount $TD_MNT
}

# The frontend goes away with I/O in flight (driver unbind; fio gets
# errors, as it does with blkback) and comes back (driver reload: a new
# frontend in state Initialising): tapdisk survives, closes (state 6),
# advertises again (InitWait) and reconnects the same VBD without a
# restart. Needs xvda to be the only blkfront disk.
td_frontend_reset() {
	tdx_connected xvda || xt_die "xvda not connected"
	td_reset_cycle "$TDX_TYPE" xvda
	set -- $(tdx_vbd xvda)
	tap-ctl xenbus-list -p "$1"
}

# The cycle on DEV with backend TYPE. (Not applicable to blkback: it
# unregisters its device when the frontend directory goes.)
td_reset_cycle() {
	local type=$1 dev=$2 devid fe be fio_pid pid=
	devid=$(xt_devid "${dev#xvd}")
	fe=$(xt_fe "$devid") be=$(xt_be "$type" "$devid")
	[ "$type" = "$TDX_TYPE" ] && pid=$(tdx_vbd "$dev" | cut -d' ' -f1)
	fio --name=busy --filename=/dev/$dev --rw=randrw --bs=64k \
		--iodepth=32 --ioengine=libaio --direct=1 --runtime=20 \
		--time_based --size=64m >"$XT_RUN/busy.out" 2>&1 &
	fio_pid=$!
	sleep 2
	kill -0 $fio_pid ||
		xt_die "fio did not start: $(cat "$XT_RUN/busy.out")"
	echo "vbd-$devid" >/sys/bus/xen/drivers/vbd/unbind ||
		xt_die "unbind of vbd-$devid failed"
	echo "unbound: frontend state $(xenstore-read "$fe/state")," \
		"backend $(xenstore-read "$be/state")"
	# fio must end (with I/O errors) rather than hang in the kernel.
	xt_wait 30 sh -c "! kill -0 $fio_pid" || {
		td_reset_diag "$pid" "$dev"
		xt_die "fio still blocked 30s after the frontend went away" \
			"(backend state $(xenstore-read "$be/state"))"
	}
	[ -z "$pid" ] || kill -0 "$pid" ||
		xt_die "tapdisk died when the frontend went away"
	xt_wait 30 sh -c "[ \"\$(xenstore-read $be/state)\" = 6 ]" || {
		td_reset_diag "$pid" "$dev"
		xt_die "backend did not reach Closed (6) after the frontend" \
			"closed: state $(xenstore-read "$be/state")"
	}
	# A new frontend instance, as after a driver reload: with the driver
	# unloaded, the device is recreated in state Initialising; the
	# backend must answer InitWait; then the driver loads and connects.
	# (Linux keeps a closed device's state across unbind/bind, and a new
	# device probed while the backend still says Closed closes at once:
	# hence the unload.)
	rmmod xen-blkfront || xt_die "rmmod xen-blkfront (other disks bound?)"
	xenstore-rm "$fe" || xt_die "xenstore-rm $fe"
	xenstore-write "$fe/backend" "$be" "$fe/backend-id" 0 "$fe/state" 1 \
		"$fe/virtual-device" "$devid" "$fe/device-type" disk ||
		xt_die "rewriting the frontend nodes"
	xt_wait 30 sh -c "[ \"\$(xenstore-read $be/state)\" = 2 ]" ||
		xt_die "backend did not go back to InitWait (2) for a" \
			"reinitialising frontend: state" \
			"$(xenstore-read "$be/state")"
	modprobe xen-blkfront || xt_die "modprobe xen-blkfront"
	xt_wait_connected "$type" "$dev" 60
	[ -z "$pid" ] || [ "$(tdx_vbd "$dev" | cut -d' ' -f1)" = "$pid" ] &&
		kill -0 "$pid" || xt_die "tapdisk was restarted"
	xt_verify /dev/$dev 4k 200m 8m randwrite ||
		xt_die "verify after the frontend reconnected"
}

# fio writes and verifies while the VBD is paused and unpaused, and once
# unpaused onto a fresh snapshot: no I/O error reaches the guest.
td_pause_under_load() {
	local img=/tmp/pause.vhd pid minor fio_pid i rc
	vhd-util create -n $img -s 256 || xt_die "vhd-util create"
	tdx_attach xvdb "vhd:$img"
	set -- $(tdx_vbd xvdb)
	pid=$1 minor=$2
	fio --name=load --filename=/dev/xvdb --rw=randwrite --bs=16k \
		--iodepth=16 --ioengine=libaio --direct=1 --size=48m \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		>"$XT_RUN/load.out" 2>&1 &
	fio_pid=$!
	for i in 1 2 3; do
		sleep 1
		tap-ctl pause -p "$pid" -m "$minor" -t 20 || xt_die "pause $i"
		sleep 0.5
		tap-ctl unpause -p "$pid" -m "$minor" || xt_die "unpause $i"
	done
	# Live snapshot: pause, make a child of the leaf, unpause onto it.
	sleep 1
	tap-ctl pause -p "$pid" -m "$minor" -t 20 || xt_die "pause for snapshot"
	vhd-util snapshot -n /tmp/pause-snap.vhd -p $img ||
		xt_die "vhd-util snapshot"
	tap-ctl unpause -p "$pid" -m "$minor" -a vhd:/tmp/pause-snap.vhd ||
		xt_die "unpause onto the snapshot"
	wait $fio_pid
	rc=$?
	cat "$XT_RUN/load.out"
	[ $rc -eq 0 ] || xt_die "fio under pause/unpause failed ($rc)"
	dmesg | grep -q 'I/O error.*xvdb' && xt_die "I/O errors in dmesg"
	tap-ctl list -m "$minor" | grep -q pause-snap.vhd ||
		xt_die "VBD is not on the snapshot: $(tap-ctl list -m "$minor")"
	# Everything fio wrote is still readable through the chain.
	fio --name=load --filename=/dev/xvdb --rw=randwrite --bs=16k \
		--iodepth=16 --ioengine=libaio --direct=1 --size=48m \
		--verify=crc32c --verify_fatal=1 --verify_only \
		>"$XT_RUN/load2.out" 2>&1 || { cat "$XT_RUN/load2.out"
		xt_die "re-verify through the snapshot chain failed"; }
	tdx_detach xvdb
	vhd-util check -n /tmp/pause-snap.vhd || xt_die "vhd-util check"
}

td_vhd_dynamic() {
	local img=/tmp/dyn.vhd
	rm -f $img
	vhd-util create -n $img -s 128 || xt_die "vhd-util create"
	tdx_attach xvdc "vhd:$img"
	[ "$(cat /sys/block/xvdc/size)" = $((128 * 2048)) ] ||
		xt_die "dynamic VHD size $(cat /sys/block/xvdc/size) sectors"
	xt_verify /dev/xvdc 4k 0 4m randwrite || xt_die "4 KiB random"
	xt_verify /dev/xvdc 1m 112m 16m write || xt_die "1 MiB to the end"
	xt_verify /dev/xvdc 4k 30m 4m randrw --bsrange=512-128k ||
		xt_die "mixed sizes"
	# Never written blocks read as zeros.
	[ "$(dd if=/dev/xvdc bs=1M skip=60 count=4 2>/dev/null | tr -d '\0' |
		wc -c)" = 0 ] || xt_die "unwritten blocks are not zero"
	tdx_detach xvdc
	vhd-util check -n $img || xt_die "vhd-util check after use"
}

# Parent written through tapdisk, then a child: reads through the chain
# are byte-exact against a reference file given the same writes.
td_vhd_chain() {
	local base=/tmp/base.vhd child=/tmp/child.vhd ref=/tmp/ref.raw
	rm -f $base $child $ref
	vhd-util create -n $base -s 32 || xt_die "vhd-util create"
	dd if=/dev/urandom of=$ref bs=1M count=24 2>/dev/null
	truncate -s 32M $ref
	tdx_attach xvdd "vhd:$base"
	dd if=$ref of=/dev/xvdd bs=1M count=24 conv=fsync 2>/dev/null ||
		xt_die "writing the parent"
	tdx_detach xvdd
	vhd-util snapshot -n $child -p $base || xt_die "vhd-util snapshot"
	tdx_attach xvdd "vhd:$child"
	# Overwrite parts in the child: a block-aligned MiB, an unaligned
	# range across a block boundary, and a range past the parent's data.
	dd if=/dev/urandom of=/tmp/patch bs=1k count=1500 2>/dev/null
	for off in 4096 10000 26000; do
		dd if=/tmp/patch of=$ref bs=1k seek=$off conv=notrunc \
			2>/dev/null
		dd if=/tmp/patch of=/dev/xvdd bs=1k seek=$off \
			conv=notrunc,fsync 2>/dev/null ||
			xt_die "writing the child at ${off}k"
	done
	blockdev --flushbufs /dev/xvdd
	cmp /dev/xvdd $ref || xt_die "chain differs from the reference"
	tdx_detach xvdd
	vhd-util check -n $child || xt_die "vhd-util check child"
	# Fresh attach: nothing cached, every read goes through the chain.
	tdx_attach xvdd "vhd:$child"
	cmp /dev/xvdd $ref || xt_die "chain differs after re-attach"
	tdx_detach xvdd
}

# Online resize: the raw file grows, tap-ctl resize, blkfront sees it.
td_resize() {
	local img=/tmp/grow.img
	truncate -s 64M $img
	tdx_attach xvde "aio:$img"
	truncate -s 96M $img
	set -- $(tdx_vbd xvde)
	tap-ctl resize -p "$1" -m "$2" || xt_die "tap-ctl resize failed"
	xt_wait 10 sh -c '[ "$(cat /sys/block/xvde/size)" = 196608 ]' ||
		xt_die "blkfront still sees $(cat /sys/block/xvde/size) sectors"
	xt_verify /dev/xvde 1m 64m 32m write || xt_die "I/O to the grown part"
	tdx_detach xvde
}

# Mode (b): tapdisk watches backend/vbd3 and opens each device's params.
# A device naming a missing image gets a readable error and no disk; a
# good one next to it connects; removing its directory tears it down.
td_watch() {
	local pid bad good herr why
	why=$(tdx_available) || xt_skip "$why"
	pid=$(tap-ctl spawn) || xt_die "tap-ctl spawn failed"
	tap-ctl xenbus-watch -p "$pid" -b /local/domain/0/backend/$TDX_TYPE ||
		xt_die "xenbus-watch failed"
	bad=$(xt_devid f) good=$(xt_devid g)
	xt_vbd_nodes $TDX_TYPE "$bad" xvdf aio:/tmp/no-such.img ||
		xt_die "xenstore-write"
	truncate -s 32M /tmp/watch.img
	xt_vbd_nodes $TDX_TYPE "$good" xvdg aio:/tmp/watch.img ||
		xt_die "xenstore-write"
	xt_wait_connected $TDX_TYPE xvdg 60
	herr=$(xt_be $TDX_TYPE "$bad")/hotplug-error
	xt_wait 10 xenstore-read "$herr" ||
		xt_die "no hotplug-error for a missing image"
	echo "hotplug-error: $(xenstore-read "$herr")"
	xenstore-read "$herr" | grep -q no-such.img ||
		xt_die "hotplug-error does not name the image"
	[ ! -b /dev/xvdf ] || xt_die "xvdf appeared for a missing image"
	xt_verify /dev/xvdg 4k 0 8m randwrite || xt_die "verify on xvdg"
	tap-ctl xenbus-list -p "$pid"
	# The toolstack's teardown in mode (b) (docs/xenstore.md): remove
	# both directories; the disk goes, tapdisk closes the VBD.
	xenstore-rm "$(xt_be $TDX_TYPE "$good")" "$(xt_fe "$good")" ||
		xt_die "xenstore-rm"
	xt_wait 30 sh -c '[ ! -b /dev/xvdg ]' || xt_die "xvdg stayed"
	xenstore-rm "$(xt_fe "$bad")" "$(xt_be $TDX_TYPE "$bad")"
	kill -0 "$pid" || xt_die "tapdisk died"
	xt_wait 10 sh -c "! tap-ctl list -p $pid | grep -q watch.img" ||
		xt_die "watched VBD not closed: $(tap-ctl list -p "$pid")"
	kill "$pid"
}

# The domU's /init: finds the disk, reads its first 4 MiB, writes 4 MiB of
# random data at 8 MiB with O_DIRECT, prints the checksums, powers off.
TD_DOMU_INIT='#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /xen-blkfront.ko
i=0
while [ ! -b /dev/xvda ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b /dev/xvda ]; then
	r=$(dd if=/dev/xvda bs=1M count=4 iflag=direct 2>/dev/null | sha256sum)
	dd if=/dev/urandom of=/w bs=1M count=4 2>/dev/null
	dd if=/w of=/dev/xvda bs=1M seek=8 oflag=direct conv=fsync \
		2>/dev/null && w=$(sha256sum </w)
	echo "DOMU-RESULT: read=${r%% *} wrote=${w%% *}" \
		"size=$(cat /sys/block/xvda/size)"
else
	echo "DOMU-RESULT: no /dev/xvda"
fi
poweroff -f'

# Creates a VBD for SPEC with tap-ctl; prints "PID MINOR".
td_create() {
	local out minor pid
	out=$(timeout 30 tap-ctl create -a "$1" 2>&1) ||
		xt_die "tap-ctl create -a $1: $out"
	minor=${out##*tapdev}
	pid=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
	[ -n "$pid" ] || xt_die "no tapdisk for minor $minor"
	echo "$pid $minor"
}

# Builds the domU's initramfs (busybox, blkfront, TD_DOMU_INIT) into $1.
td_domu_initrd() {
	local d=/tmp/domu
	rm -rf $d
	mkdir -p $d/bin $d/dev $d/proc $d/sys
	cp /bin/busybox $d/bin/
	cp "/lib/modules/$(uname -r)/kernel/drivers/block/xen-blkfront.ko" $d/
	printf '%s\n' "$TD_DOMU_INIT" >$d/init
	chmod 755 $d/init
	(cd $d && find . | cpio -o -H newc) >"$1" 2>/dev/null
}

# A PV domU (xl create, same kernel, a tiny busybox initramfs made here)
# whose disk is served by tapdisk: cross-domain grants and event
# channels, the toolstack's xenstore permissions, and the backend closing
# when the domain goes away.
td_domu() {
	local img=/tmp/domu.img cfg=/tmp/domu.cfg domid fe be want got w end
	local log=/var/log/xen/console/guest-tdu.log
	td_domu_initrd /tmp/domu.cpio || xt_die "building the domU initramfs"
	dd if=/dev/urandom of=$img bs=1M count=16 2>/dev/null
	truncate -s 64M $img
	want=$(dd if=$img bs=1M count=4 2>/dev/null | sha256sum | cut -c1-64)
	mkdir -p /var/log/xen/console /var/run/xen
	pidof xenconsoled >/dev/null ||
		xenconsoled --log=guest --log-dir=/var/log/xen/console ||
		xt_die "xenconsoled did not start"
	printf '%s\n' 'name = "tdu"' 'type = "pv"' \
		'kernel = "/boot/vmlinuz"' 'ramdisk = "/tmp/domu.cpio"' \
		'extra = "console=hvc0 rdinit=/init loglevel=4"' \
		'memory = 192' 'vcpus = 1' 'on_poweroff = "destroy"' \
		'on_crash = "destroy"' >$cfg
	xl create -p $cfg || xt_die "xl create failed"
	domid=$(xl domid tdu) || xt_die "no domid for tdu"
	echo "domU tdu is domain $domid"
	# The toolstack's part (docs/xenstore.md, xl/libxl example).
	set -- $(td_create "aio:$img")
	be=/local/domain/0/backend/$TDX_TYPE/$domid/51712
	fe=/local/domain/$domid/device/vbd/51712
	xenstore-write $be/frontend $fe $be/frontend-id "$domid" \
		$be/online 1 $be/state 1 $be/type $TDX_TYPE $be/dev xvda \
		$be/mode w $be/device-type disk $be/removable 0 \
		$be/params "aio:$img" $fe/backend $be $fe/backend-id 0 \
		$fe/state 1 $fe/virtual-device 51712 $fe/device-type disk ||
		xt_die "xenstore-write"
	xenstore-chmod -r $fe "n$domid" r0 &&
		xenstore-chmod -r $be n0 "r$domid" || xt_die "xenstore-chmod"
	timeout 30 tap-ctl xenbus-connect -p "$1" -m "$2" -b $be ||
		xt_die "xenbus-connect for domain $domid"
	xl unpause tdu || xt_die "xl unpause"
	end=$(($(cut -d. -f1 /proc/uptime) + 150))
	while xl domid tdu >/dev/null 2>&1; do
		[ "$(cut -d. -f1 /proc/uptime)" -lt $end ] || {
			tail -n 30 $log
			xenstore-ls -f $be
			xenstore-ls -f $fe
			xl destroy tdu
			xt_die "domU still running after 150s"
		}
		sleep 1
	done
	tail -n 5 $log
	got=$(tr -d '\r' <$log | sed -n 's/^DOMU-RESULT: //p')
	echo "domU says: $got"
	[ -n "$got" ] || xt_die "no result on the domU console"
	case $got in
	"read=$want "*) ;;
	*) xt_die "domU read other data than the image holds: $got" ;;
	esac
	[ "${got##*size=}" = $((64 * 2048)) ] || xt_die "domU disk size: $got"
	w=$(dd if=$img bs=1M skip=8 count=4 2>/dev/null | sha256sum | cut -c1-64)
	case $got in
	*"wrote=$w "*) ;;
	*) xt_die "image does not hold what the domU wrote: $got" ;;
	esac
	# The frontend went away with its domain: the backend closes.
	xt_wait 30 sh -c "[ \"\$(xenstore-read $be/state)\" = 6 ]" ||
		xt_die "backend state $(xenstore-read $be/state) after the" \
			"domain went away"
	kill -0 "$1" || xt_die "tapdisk died"
	timeout 30 tap-ctl xenbus-disconnect -p "$1" -b $be
	xenstore-rm $be
	timeout 30 tap-ctl destroy -p "$1" -m "$2" || xt_die "destroy"
}

xt_main() {
	if ! why=$(tdx_available); then
		# One line per test, so the host reports each as skipped.
		for t in handshake odirect fs fstrim reattach frontend-reset \
			pause-under-load vhd-dynamic vhd-chain resize watch \
			domu; do
			xt_result SKIP "tapdisk-$t" "$why"
		done
		return 0
	fi
	xt_run tapdisk-handshake 90 td_handshake || return 1
	xt_run tapdisk-odirect 180 td_odirect
	xt_run tapdisk-fs 120 td_fs &&
	xt_run tapdisk-fstrim 60 td_fstrim &&
	xt_run tapdisk-reattach 120 td_reattach
	xt_run tapdisk-frontend-reset 120 td_frontend_reset
	xt_run tapdisk-pause-under-load 180 td_pause_under_load
	xt_run tapdisk-vhd-dynamic 120 td_vhd_dynamic
	xt_run tapdisk-vhd-chain 120 td_vhd_chain
	xt_run tapdisk-resize 60 td_resize
	xt_run tapdisk-watch 90 td_watch
	xt_run tapdisk-domu 200 td_domu
}
