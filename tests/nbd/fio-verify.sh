# SPDX-License-Identifier: GPL-2.0-only
# fio's nbd engine against the export: a short random write job with
# crc32c verification, mixed block sizes, queue depth 16, then a
# separate verify pass reading everything back.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/nbd/nbd-lib.sh"
requires tap-ctl tapdisk python3 fio
fio --enghelp 2>/dev/null | grep -qw nbd || {
	echo "SKIP: fio has no nbd engine" >&2
	exit 77
}

IMG=$TD_TMP/disk.raw
truncate -s 32M "$IMG"
nbd_create -a "aio:$IMG"

# fio's nbd engine prints a line before its JSON output.
json_of() { sed -n '/^{/,$p' "$1"; }

fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite \
	--bsrange=4k-256k --iodepth=16 --size=32M --verify=crc32c \
	--verify_backlog=64 --do_verify=1 --output-format=json \
	>"$TD_TMP/w.out" 2>"$TD_TMP/w.err" || {
	cat "$TD_TMP/w.err" >&2
	fail "fio write+verify"
}
json_of "$TD_TMP/w.out" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
assert j["error"] == 0, j["error"]
assert j["write"]["io_bytes"] >= 32 << 20, j["write"]["io_bytes"]
assert j["read"]["io_bytes"] > 0, "nothing verified"
' || fail "fio results"

fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite \
	--bsrange=4k-256k --iodepth=16 --size=32M --verify=crc32c \
	--verify_only --output-format=json >"$TD_TMP/v.out" 2>"$TD_TMP/v.err" || {
	cat "$TD_TMP/v.err" >&2
	fail "fio verify pass"
}
json_of "$TD_TMP/v.out" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
assert j["error"] == 0, j["error"]
assert j["read"]["io_bytes"] >= 32 << 20, j["read"]["io_bytes"]
' || fail "fio verify results"
exit 0
