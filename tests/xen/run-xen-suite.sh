#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The Xen VM suite: boots real Xen 4.17 with a Debian 6.1 dom0 under QEMU
# TCG, once per test group, and runs the dom0 tests against the binaries of
# a build directory.
#
#   tests/xen/run-xen-suite.sh BUILD_DIR
#
# BUILD_DIR holds tapdisk/tapdisk, control/tap-ctl, control/vhd-util and
# tests/blkfront/td-blkfront. Exit status: 0 when no test failed (also when
# QEMU cannot be had at all: then nothing ran and it says why), else 1.
# The last line is "xen: N passed, N failed, N skipped".
#
# Environment: XEN_GROUPS (default "smoke bench tapdisk"), XEN_BENCH_ROUNDS
# (2), XEN_BENCH_SECS (3, per fio job), XEN_BENCH_RAM (1: also measure the
# bare ramdisk), XEN_TESTS (space-separated test names: run only those),
# XEN_TD_ARGS (extra tap-ctl create options for the bench's tapdisk),
# XEN_BENCH_NULL (1: also blkback over null_blk and tapdisk over its null
# driver, the transport floor of each),
# XEN_PERF (1: profile with the host's perf instead of the benchmark),
# TD_XEN_CACHE (cache directory),
# XEN_LOG_DIR (default BUILD_DIR/xen-vm). See docs/xen-vm.md.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/xen-vm.sh"

usage() {
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
}
[ $# -eq 1 ] || usage
bdir=$(cd "$1" 2>/dev/null && pwd) || { echo "no build dir $1" >&2; exit 2; }

groups=${XEN_GROUPS:-smoke bench tapdisk}
logdir=${XEN_LOG_DIR:-$bdir/xen-vm}
t_start=$SECONDS
npass=0 nfail=0 nskip=0

closing() {
	echo "xen: timings: $*"
	echo "xen: $npass passed, $nfail failed, $nskip skipped"
}

not_run() {
	echo "xen: NOT RUN: $*"
	closing "none"
	exit 0
}

echo "xen: Xen 4.17 + Debian dom0 under QEMU TCG; groups: $groups"
echo "xen: build dir $bdir, cache $XV_CACHE"
[ "$(id -u)" -eq 0 ] || not_run "needs root (apt-get, mknod for the initramfs)"
mkdir -p "$XV_CACHE" "$logdir" || not_run "cannot create $XV_CACHE or $logdir"
xv_host_tools || not_run "QEMU or a host tool cannot be installed" \
	"(see $XV_CACHE/apt-install.log)"
t_tools=$((SECONDS - t_start))

if ! xv_prepare_base; then
	nfail=1
	echo "xen: FAIL: could not build the dom0 base image"
	closing "setup $((SECONDS - t_start))s"
	exit 1
fi
t_base=$((SECONDS - t_start - t_tools))
if [ "${XEN_PERF:-0}" = 1 ]; then
	# A developer's profile instead of the benchmark (docs/xen-vm.md).
	XV_EXTRA_ELF=$(command -v perf) || {
		echo "xen: XEN_PERF=1 needs perf on the host (linux-perf)"
		exit 1
	}
	export XV_EXTRA_ELF
fi
t0=$SECONDS
if ! xv_build_initrd "$bdir" "$logdir/initrd.img"; then
	nfail=1
	echo "xen: FAIL: could not build the test overlay from $bdir"
	closing "setup $((SECONDS - t_start))s"
	exit 1
fi
t_ovl=$((SECONDS - t0))
[ "$XV_HAVE_QDISK" = 1 ] || XV_EXTRA_ARGS="xt_noqdisk=1"
XV_EXTRA_ARGS="${XV_EXTRA_ARGS:-} xt_rounds=${XEN_BENCH_ROUNDS:-2}"
XV_EXTRA_ARGS+=" xt_secs=${XEN_BENCH_SECS:-3}"
XV_EXTRA_ARGS+=" xt_bench_ram=${XEN_BENCH_RAM:-0}"
XV_EXTRA_ARGS+=" xt_bench_null=${XEN_BENCH_NULL:-0}"
[ -z "${XEN_TD_ARGS:-}" ] || XV_EXTRA_ARGS+=" xt_td_args=${XEN_TD_ARGS// /+}"
[ "${XEN_PERF:-0}" = 1 ] && XV_EXTRA_ARGS+=" xt_perf=1"
[ -z "${XEN_TESTS:-}" ] || XV_EXTRA_ARGS+=" xt_only=${XEN_TESTS// /+}"
export XV_EXTRA_ARGS

# Time limit of one boot of each group, in seconds.
limit_of() {
	case $1 in
	smoke) echo 240 ;;
	# Each extra bench target adds about a minute per round.
	bench) echo $((480 + (${XEN_BENCH_NULL:-0} == 1 ? 150 : 0) *
		${XEN_BENCH_ROUNDS:-2})) ;;
	*) echo 420 ;;
	esac
}

boots=
for g in $groups; do
	log=$logdir/serial-$g.log
	lim=$(limit_of "$g")
	echo "xen: booting group '$g' (limit ${lim}s, serial log $log)"
	t0=$SECONDS
	xv_boot "$logdir/initrd.img" "$g" "$lim" "$log"
	rc=$?
	t=$((SECONDS - t0))
	boots+="$g ${t}s, "
	p=$(tr -d '\r' <"$log" | grep -c '^XENTEST: PASS ')
	f=$(tr -d '\r' <"$log" | grep -c '^XENTEST: FAIL ')
	s=$(tr -d '\r' <"$log" | grep -c '^XENTEST: SKIP ')
	npass=$((npass + p)) nfail=$((nfail + f)) nskip=$((nskip + s))
	msg=
	case $rc in
	0) [ "$f" -eq 0 ] || msg="dom0 exited 0 despite $f failures" ;;
	124) msg="VM did not finish in ${lim}s" ;;
	125) msg="VM ended without reporting a result" ;;
	*) [ "$f" -gt 0 ] || msg="dom0 test group exited $rc" ;;
	esac
	if [ -n "$msg" ]; then
		echo "XENTEST: FAIL vm-$g: $msg"
		nfail=$((nfail + 1))
	fi
	if [ -n "$msg" ] || [ "$f" -gt 0 ]; then
		echo "---- last 80 lines of $log ----"
		tr -d '\r' <"$log" | tail -n 80
		echo "---- end of $log ----"
	fi
	echo "xen: group '$g': $p passed, $f failed, $s skipped in ${t}s"
done
closing "host tools ${t_tools}s, base ${t_base}s, overlay ${t_ovl}s," \
	"boots: ${boots%, }; total $((SECONDS - t_start))s"
[ "$nfail" -eq 0 ]
