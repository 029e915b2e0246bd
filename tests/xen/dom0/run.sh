# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash disable=SC2046,SC2034,SC1090
# Runs one test group inside dom0: sources lib.sh and t-GROUP.sh, whose
# xt_main calls xt_run for each test. Exits 0 only if no test failed (a
# skipped test does not fail the group; the host counts it as skipped).
group=$1
XT_FILE=/xentests/t-$group.sh
export XT_FILE
. /xentests/lib.sh
if [ ! -f "$XT_FILE" ]; then
	echo "XENTEST: FAIL group-$group: no such test group"
	exit 1
fi
. "$XT_FILE"
xt_main
xt_summary
