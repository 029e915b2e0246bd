# SPDX-License-Identifier: GPL-2.0-only
# td-blkfront bench smoke run: short random and sequential jobs through a
# real tapdisk, --json parsed to check every field is present and the
# counters are non-zero, and the text output. Not a performance test:
# nothing is compared against a threshold.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk td-blkfront python3

IMG=$TD_TMP/disk.raw
truncate -s 64M "$IMG"
dev=$(tap-ctl create -a "aio:$IMG") || fail "tap-ctl create"
minor=${dev##*tapdev}
pid=$(tap-ctl list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')

check_json() {
	python3 -c '
import json, sys
want_r, want_w = sys.argv[1] == "1", sys.argv[2] == "1"
d = json.load(sys.stdin)
for k in ("rw", "bs", "iodepth", "queues", "ring_page_order", "indirect",
          "persistent", "abi", "runtime_s", "errors"):
    assert k in d, "missing " + k
assert d["errors"] == 0, d["errors"]
assert d["runtime_s"] > 0
for part, want in (("total", True), ("read", want_r), ("write", want_w)):
    p = d[part]
    for k in ("ios", "iops", "bw_bytes", "mib_s"):
        assert k in p, part + " missing " + k
        assert (p[k] > 0) == want, "%s.%s = %s" % (part, k, p[k])
    lat = p["lat_us"]
    for k in ("mean", "p50", "p99", "p99.9", "max"):
        assert k in lat, part + " missing lat " + k
        assert (lat[k] > 0) == want, "%s.lat.%s = %s" % (part, k, lat[k])
    if want:
        assert lat["p50"] <= lat["p99"] <= lat["p99.9"] <= lat["max"], lat
print("json ok:", d["rw"], d["bs"], round(d["total"]["iops"]))
' "$@" || fail "bad JSON"
}

bf() { td-blkfront -p "$pid" -m "$minor" "$@"; }

bf bench --rw randread --runtime 1 --json | check_json 1 0
bf -q 2 -o 2 bench --rw randwrite --iodepth 16 --runtime 1 --json |
	check_json 0 1
bf -i 256 -o 1 -P off bench --rw rw --bs 1m --iodepth 4 --runtime 1 --json |
	check_json 1 1
bf -a x86_32 bench --rw randrw --rwmixread 70 --bs 8k --runtime 1 --json |
	check_json 1 1
out=$(bf bench --rw read --bs 64k --runtime 0.5) || fail "text bench"
echo "$out"
grep -Eq '^  total: [0-9]+ IOPS, [0-9.]+ MiB/s, latency us: mean' <<<"$out" ||
	fail "text output"
# A request larger than the negotiated segments is refused up front.
one_line_error bf -i 0 bench --bs 64k --runtime 0.5
one_line_error bf bench --iodepth 33 --runtime 0.5
exit 0
