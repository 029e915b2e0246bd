# SPDX-License-Identifier: GPL-2.0-only
# td-blkfront verify against a real tapdisk over the shm transport, with
# each ring feature on and off: ring order 0 and 4, one to four queues,
# indirect 0/32/256, persistent grants on/off, and each request ABI. The
# negotiated values printed by verify are checked, so a feature silently
# not negotiated fails the test. One run finds the VBD by --socket as
# `tap-ctl list --json` reports it, the others by --pid/--minor.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk td-blkfront python3

IMG=$TD_TMP/disk.raw
truncate -s 64M "$IMG"
dev=$(tap-ctl create -a "aio:$IMG") || fail "tap-ctl create"
minor=${dev##*tapdev}
pid=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
[ -n "$pid" ] || fail "no pid for minor $minor: $(tap-ctl list)"

# order queues indirect persistent abi
combos=(
	"0 1 32 on native"
	"4 2 256 on x86_32"
	"0 2 0 off x86_64"
	"4 1 256 off native"
	"2 4 32 on x86_64"
	"1 1 0 on x86_32"
	"0 1 256 off x86_32"
	"3 3 32 off x86_64"
)
for c in "${combos[@]}"; do
	read -r o q i p a <<<"$c"
	out=$(td-blkfront -p "$pid" -m "$minor" -o "$o" -q "$q" -i "$i" \
		-P "$p" -a "$a" --seed "$((o * 100 + q))" verify --ops 600) ||
		fail "verify failed for order $o queues $q indirect $i" \
			"persistent $p abi $a: $out"
	echo "$out"
	want="ring-page-order $o, queues $q, indirect $i, persistent $p, abi $a;"
	grep -qF "$want" <<<"$out" || fail "not negotiated as asked: $want"
	grep -q '^verify: OK: .* 0 mismatching reads (0 bytes), 0 failed' \
		<<<"$out" || fail "verify did not report success: $out"
	# Requests above 11 segments must really have gone out indirect.
	if [ "$i" -gt 11 ]; then
		grep -q ' 0 indirect)' <<<"$out" && fail "no indirect request sent"
	else
		grep -q ' 0 indirect)' <<<"$out" || fail "indirect sent with -i $i"
	fi
	# Barriers, flushes and discards were interleaved.
	grep -Eq '[1-9][0-9]* barriers, [1-9][0-9]* flushes, [1-9][0-9]* discards' \
		<<<"$out" || fail "no barrier/flush/discard in the mix: $out"
done

# --- by socket path, as tap-ctl list --json reports it ---
sock=$(tap-ctl list --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for t in d["tapdisks"]:
    for v in t["vbds"]:
        print(v["exports"]["shm"]["blkif_socket"])')
[ -S "$sock" ] || fail "blkif_socket '$sock' is not a socket"
td-blkfront -s "$sock" -o 4 -i 256 verify --size 4m --ops 300 ||
	fail "verify by --socket"

# --- the run directory comes from --run-dir as well as the environment ---
TAPDISK_RUN_DIR=/nonexistent td-blkfront --run-dir "$TAPDISK_RUN_DIR" \
	-p "$pid" -m "$minor" verify --size 1m --ops 50 ||
	fail "verify with --run-dir"
must_fail td-blkfront --run-dir "$TD_TMP" -p "$pid" -m "$minor" verify

# --- usage errors are one line, exit 2 ---
for args in "verify" "-p $pid verify" "-s $sock -p 1 verify" \
	"-s $sock -o 5 verify" "-s $sock -q 0 verify" "-s $sock -i 257 verify" \
	"-s $sock -P maybe verify" "-s $sock -a x86 verify" \
	"-s $sock verify --bs 4k" "-s $sock bench --ops 5" \
	"-s $sock bench --bs 1000" "-s $sock bench --bs 2m" \
	"-s $sock bench --rw sideways" "-s $sock bench --rwmixread 20" \
	"-s $sock bench --runtime 601" "-s $sock attack --json" \
	"-s $sock verify --size 0" "-s $sock frobnicate" "-s $sock" \
	"-s $sock verify --no-such-option"; do
	one_line_error td-blkfront $args
	td-blkfront $args 2>/dev/null
	[ $? -eq 2 ] || fail "exit status not 2 for: $args"
done
td-blkfront --help | grep -q -- '--rwmixread' || fail "--help incomplete"
exit 0
