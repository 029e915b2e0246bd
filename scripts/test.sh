#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. install what is missing (apt), 2. gcc build + make check,
#   3. clang build with ASan+UBSan + make check, 4. unit tests under
#   valgrind, 5. the Xen VM suite when it exists and QEMU is available.
# Prints a closing "N passed, N failed" line per stage.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)

stage() { printf '\n==== %s ====\n' "$*"; }

# Lists the .trs files of a build dir whose result matches $2 (ERE).
trs_with() {
	find "$1" -name '*.trs' -exec grep -lE ":test-result: $2" {} + 2>/dev/null || :
}

# Sums automake's per-test .trs results of a build dir into one line.
summary() {
	local dir=$1 pass fail skip
	pass=$(trs_with "$dir" 'PASS' | wc -l)
	fail=$(trs_with "$dir" '(FAIL|ERROR|XPASS)' | wc -l)
	skip=$(trs_with "$dir" 'SKIP' | wc -l)
	echo "$2: $pass passed, $fail failed, $skip skipped"
}

run_check() {
	local dir=$1 label=$2 rc=0
	make -C "$dir" -j"$jobs" check >"$dir/check.out" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$dir/check.out" || :
	if [ "$rc" -ne 0 ]; then
		for f in $(trs_with "$dir" '(FAIL|ERROR)'); do
			echo "---- ${f%.trs}.log ----"
			tail -n 60 "${f%.trs}.log"
		done
	fi
	summary "$dir" "$label"
	return "$rc"
}

stage "install dependencies"
scripts/install-deps.sh

stage "gcc build, -Werror"
scripts/build.sh gcc
failed=()
stage "make check (gcc)"
run_check build/gcc "gcc" || failed+=("make check (gcc)")

stage "clang build, ASan+UBSan, -Werror"
scripts/build.sh clang-asan CC=clang --enable-sanitizers
stage "make check (clang, ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_check build/clang-asan "asan" || failed+=("make check (asan)")

stage "unit tests under valgrind (gcc build)"
vpass=0 vfail=0
# What make check's test environment provides (tests/tests.am), with a
# timeout for valgrind's slowdown.
export top_builddir="$top/build/gcc" top_srcdir="$top"
export CK_DEFAULT_TIMEOUT=600
for t in build/gcc/tests/unit/test-*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.log|*.trs) continue ;; esac
	# Check forks a child per test; valgrind follows it, and a child that
	# hits an error exits 99, which Check reports as that test failing.
	if valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite "$t" >"$t.vg.log" 2>&1; then
		vpass=$((vpass + 1))
	else
		vfail=$((vfail + 1))
		echo "valgrind: $t failed"; tail -n 40 "$t.vg.log"
	fi
done
echo "valgrind: $vpass passed, $vfail failed"
[ "$vfail" -eq 0 ] || failed+=("valgrind")

if [ -x tests/xen/run-xen-suite.sh ]; then
	stage "Xen VM suite"
	tests/xen/run-xen-suite.sh build/gcc || failed+=("Xen VM suite")
fi
if [ ${#failed[@]} -ne 0 ]; then
	stage "FAILED: ${failed[*]}"
	exit 1
fi
stage "all stages passed"
