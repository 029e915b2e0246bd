# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC2046,SC2034,SC1090
# Boot smoke test: Xen and dom0 are up with a working toolstack, our
# tapdisk runs in dom0 (real /dev/xen/gntdev and evtchn), tap-ctl drives
# it, the shm transport serves td-blkfront's verify, the NBD export
# answers, and destroy leaves nothing behind.

smoke_xen() {
	xl info >"$XT_RUN/xlinfo" 2>&1 || { cat "$XT_RUN/xlinfo"
		xt_die "xl info failed"; }
	grep -E '^xen_(major|minor)' "$XT_RUN/xlinfo"
	v=$(awk '$1 == "xen_major" { M = $3 } $1 == "xen_minor" { m = $3 }
		END { print M "." m }' "$XT_RUN/xlinfo")
	[ "$v" = 4.17 ] || xt_die "xl info says Xen '$v', expected 4.17"
	xl list | grep -q '^Domain-0 ' || xt_die "xl list has no Domain-0"
	pidof xenstored >/dev/null || xt_die "xenstored is not running"
	[ "$(xenstore-read /local/domain/0/name)" = Domain-0 ] ||
		xt_die "xenstore has no /local/domain/0/name"
	for d in evtchn gntdev gntalloc privcmd xenbus xenbus_backend; do
		[ -c /dev/xen/$d ] || xt_die "/dev/xen/$d missing"
	done
}

# Prints "PID MINOR" of the only VBD tap-ctl lists.
smoke_vbd() {
	tap-ctl list | sed -n 's/^pid=\([0-9]*\) minor=\([0-9]*\) .*/\1 \2/p'
}

smoke_tapdisk() {
	xt_ramdisks 2 64
	dev=$(tap-ctl create -a aio:/dev/ram0) || xt_die "tap-ctl create failed"
	echo "created $dev"
	tap-ctl list
	set -- $(smoke_vbd)
	[ $# -eq 2 ] || xt_die "tap-ctl list shows no VBD"
	kill -0 "$1" || xt_die "tapdisk $1 is not running"
	tap-ctl list --json >"$XT_RUN/list.json" || xt_die "list --json failed"
	grep -q '"aio:/dev/ram0"' "$XT_RUN/list.json" ||
		xt_die "list --json does not show the image:" \
			"$(cat "$XT_RUN/list.json")"
	tap-ctl stats -p "$1" -m "$2" >/dev/null ||
		xt_die "tap-ctl stats failed"
}

smoke_shm_verify() {
	set -- $(smoke_vbd)
	[ $# -eq 2 ] || xt_die "no VBD from smoke-tapdisk"
	out=$(td-blkfront -p "$1" -m "$2" -o 2 -q 2 -i 32 verify --size 16m \
		--ops 800) || { echo "$out"; xt_die "td-blkfront verify failed"; }
	echo "$out"
	echo "$out" | grep -q '^verify: OK: .* 0 mismatching reads' ||
		xt_die "verify did not report success"
	echo "$out" | grep -q 'queues 2' || xt_die "2 queues not negotiated"
}

smoke_nbd() {
	set -- $(smoke_vbd)
	[ $# -eq 2 ] || xt_die "no VBD from smoke-tapdisk"
	sock=$(tr ',' '\n' <"$XT_RUN/list.json" |
		sed -n 's/.*"nbd_socket": *"\([^"]*\)".*/\1/p' | head -n 1)
	tr ',' '\n' <"$XT_RUN/list.json" | grep -i nbd
	[ -n "$sock" ] && [ -S "$sock" ] ||
		xt_die "no NBD unix socket in list --json"
	# A second VBD with NBD on TCP: the server's greeting starts with
	# NBDMAGIC and IHAVEOPT (newstyle).
	truncate -s 32M /tmp/nbd.img
	tap-ctl create -a aio:/tmp/nbd.img --nbd-tcp 127.0.0.1:10809 ||
		xt_die "create with --nbd-tcp failed"
	g=$(timeout 10 nc 127.0.0.1 10809 </dev/null 2>/dev/null |
		head -c 16)
	[ "$g" = NBDMAGICIHAVEOPT ] || xt_die "NBD greeting on TCP was '$g'"
	m=$(tap-ctl list |
		sed -n 's,^pid=\([0-9]*\) minor=\([0-9]*\) .*nbd.img,\1 \2,p')
	set -- $m
	tap-ctl destroy -p "$1" -m "$2" || xt_die "destroy of the NBD VBD"
}

smoke_destroy() {
	set -- $(smoke_vbd)
	[ $# -eq 2 ] || xt_die "no VBD left to destroy"
	tap-ctl destroy -p "$1" -m "$2" || xt_die "tap-ctl destroy failed"
	[ -z "$(tap-ctl list)" ] || xt_die "VBD still listed: $(tap-ctl list)"
	xt_wait 5 sh -c "! kill -0 $1" || xt_die "tapdisk $1 did not exit"
}

xt_main() {
	xt_run smoke-xen 30 smoke_xen
	xt_run smoke-tapdisk 30 smoke_tapdisk &&
	xt_run smoke-shm-verify 90 smoke_shm_verify
	xt_run smoke-nbd 30 smoke_nbd
	xt_run smoke-destroy 30 smoke_destroy
}
