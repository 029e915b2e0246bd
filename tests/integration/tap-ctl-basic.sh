# SPDX-License-Identifier: GPL-2.0-only
# tap-ctl with the real tapdisk: spawn, create on a raw file and on ram,
# list in its three formats, stats, the step-by-step verbs SM uses
# (spawn/attach/open/close/detach), destroy, and help.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/functions.sh"
requires tap-ctl tapdisk python3 script

RUN=$TAPDISK_RUN_DIR
IMG=$TD_TMP/disk.raw
make_pattern_file "$IMG" 4 1

# --- spawn: prints the pid; socket 0600 in a 0700 run directory ---
pid=$(tap-ctl spawn) || fail "spawn failed"
[[ $pid =~ ^[0-9]+$ ]] || fail "spawn printed '$pid', not a pid"
kill -0 "$pid" || fail "spawned tapdisk $pid is not running"
sock=$RUN/tapdisk-$pid.sock
[ -S "$sock" ] || fail "no socket $sock"
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock")"
[ "$(stat -c %a "$RUN")" = 700 ] || fail "run dir mode $(stat -c %a "$RUN")"
# Not our child: spawn detached it (its parent is not this shell).
[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" != $$ ] || fail "tapdisk is our child"
tap-ctl list -p "$pid" | grep -qx "pid=$pid" || fail "idle tapdisk not listed"

# --- the step-by-step verbs on the spawned tapdisk ---
tap-ctl attach -p "$pid" -m 7 || fail "attach"
tap-ctl list -p "$pid" | grep -qx "pid=$pid minor=7 state=0x2" ||
	fail "attached VBD not listed as state=0x2: $(tap-ctl list)"
tap-ctl open -p "$pid" -m 7 -a "aio:$IMG" -R -D -N || fail "open"
tap-ctl list -p "$pid" -m 7 | grep -qx "pid=$pid minor=7 state=0 args=aio:$IMG" ||
	fail "open VBD: $(tap-ctl list)"
ro=$(tap-ctl list -p "$pid" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["tapdisks"][0]["vbds"][0]
print(v["readonly"], v["size_sectors"], v["state"])')
[ "$ro" = "True 8192 open" ] || fail "list --json of read-only VBD: $ro"
tap-ctl close -p "$pid" -m 7 -t 120 || fail "close -t, as SM calls it"
tap-ctl detach -p "$pid" -m 7 || fail "detach"
# --exit-when-idle: the last VBD detached, the daemon goes.
wait_for "! kill -0 $pid 2>/dev/null"
wait_for "[ ! -e $sock ]"

# --- create: prints the device name, RUN_DIR/tapdevMINOR ---
dev=$(tap-ctl create -a "aio:$IMG") || fail "create aio"
[[ $dev =~ ^$RUN/tapdev([0-9]+)$ ]] || fail "create printed '$dev'"
m1=${BASH_REMATCH[1]}
[ -e "$dev" ] || fail "minor file $dev missing"
dev2=$(tap-ctl create -a ram:16M) || fail "create ram"
[[ $dev2 =~ ^$RUN/tapdev([0-9]+)$ ]] || fail "create printed '$dev2'"
m2=${BASH_REMATCH[1]}
[ "$m1" != "$m2" ] || fail "two creates got the same minor $m1"

# --- list, key=value (stdout is not a tty here), as SM parses it ---
tap-ctl list >"$TD_TMP/list" || fail "list"
cat "$TD_TMP/list"
[ "$(wc -l <"$TD_TMP/list")" -eq 2 ] || fail "list has not 2 lines"
python3 - "$TD_TMP/list" "$m1" "$m2" "aio:$IMG" <<'PY' || fail "list format"
import sys
# The parser of SM's TapCtl.__list: split(' ', 3), state in hex.
rows = []
for line in open(sys.argv[1]):
    row = {}
    for field in line.rstrip().split(' ', 3):
        key, val = field.split('=')
        if key in ('pid', 'minor'):
            row[key] = int(val, 10)
        elif key == 'state':
            row[key] = int(val, 0x10)
        else:
            row[key] = val
    rows.append(row)
by_minor = {r['minor']: r for r in rows}
a, r = by_minor[int(sys.argv[2])], by_minor[int(sys.argv[3])]
assert a['state'] == 0 and a['args'] == sys.argv[4], a
assert r['state'] == 0 and r['args'] == 'ram:16M', r
assert a['pid'] != r['pid'], "create spawns one tapdisk per VBD"
PY
pid1=$(tap-ctl list -m "$m1" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
pid2=$(tap-ctl list -m "$m2" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
[ -n "$pid1" ] && [ -n "$pid2" ] || fail "list -m found nothing"
[ "$(tap-ctl list -t ram | wc -l)" -eq 1 ] || fail "list -t ram"
tap-ctl list -t ram | grep -q "args=ram:16M" || fail "list -t ram content"
[ "$(tap-ctl list -f "$IMG" | wc -l)" -eq 1 ] || fail "list -f"
[ -z "$(tap-ctl list -t vhd)" ] || fail "list -t vhd should be empty"
[ -z "$(tap-ctl list -p "$pid1" -m "$m2")" ] || fail "list -p -m mismatch"

# --- list --json ---
tap-ctl list --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
vbds = [v for t in doc["tapdisks"] for v in t["vbds"]]
assert len(vbds) == 2, vbds
specs = sorted(v["spec"] for v in vbds)
assert specs[1] == "ram:16M", specs
for v in vbds:
    assert v["state"] == "open" and v["flags"] == 0, v
    assert isinstance(v["exports"], dict), v
ram = [v for v in vbds if v["spec"] == "ram:16M"][0]
assert ram["size_sectors"] == 16 * 2048, ram
' || fail "list --json"

# --- list as a table on a terminal ---
script -qec "tap-ctl list" /dev/null >"$TD_TMP/table" || fail "list on a tty"
tr -d '\r' <"$TD_TMP/table" >"$TD_TMP/table2"
cat "$TD_TMP/table2"
head -1 "$TD_TMP/table2" | grep -q "PID.*MINOR.*STATE.*TYPE.*PATH" ||
	fail "no table header on a tty"
grep -Eq "^ *$pid2 +$m2 +open +0 +ram +16M$" "$TD_TMP/table2" ||
	fail "table row for the ram VBD"

# --- stats: one line of JSON (SM reads one line), --json the same ---
tap-ctl stats -p "$pid1" -m "$m1" >"$TD_TMP/stats" || fail "stats"
[ "$(wc -l <"$TD_TMP/stats")" -eq 1 ] || fail "stats is not one line"
tap-ctl stats -p "$pid1" -m "$m1" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["minor"] == int(sys.argv[1]) and s["state"] == "open", s
assert s["images"][0]["driver"] == "aio", s
assert s["images"][0]["path"] == sys.argv[2], s
assert s["size_sectors"] == 8192, s
for k in ("counters", "frontends", "exports", "inflight"):
    assert k in s, k
assert s["counters"]["reqs"]["read"] >= 0
# Busy polling is off unless asked for.
assert s["poll"] == {"max_us": 0, "window_us": 0, "hits": 0, "misses": 0,
                     "sleeps": 0}, s["poll"]
' "$m1" "$IMG" || fail "stats --json"

# --- create --poll-us reaches the spawned tapdisk ---
devp=$(tap-ctl create -a ram:4M --poll-us 40) || fail "create --poll-us"
mp=${devp##*tapdev}
pidp=$(tap-ctl list -m "$mp" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
tap-ctl stats -p "$pidp" -m "$mp" --json | python3 -c '
import json, sys
p = json.load(sys.stdin)["poll"]
assert p["max_us"] == 40 and p["window_us"] <= 40, p
' || fail "stats after create --poll-us 40"
tap-ctl destroy -p "$pidp" -m "$mp" || fail "destroy the polling VBD"

# --- destroy: close, detach, free the minor; the daemon exits ---
tap-ctl destroy -p "$pid1" -m "$m1" || fail "destroy"
[ ! -e "$dev" ] || fail "destroy left $dev"
wait_for "! kill -0 $pid1 2>/dev/null"
[ -z "$(tap-ctl list -m "$m1")" ] || fail "destroyed VBD still listed"
tap-ctl list -m "$m2" | grep -q "args=ram:16M" || fail "other VBD gone"
tap-ctl destroy -p "$pid2" -m "$m2" || fail "destroy ram"
wait_for "[ -z \"\$(tap-ctl list)\" ]"

# --- allocate/free, as SM's Blktap.allocate does ---
d=$(tap-ctl allocate) || fail "allocate"
[[ $d =~ ^$RUN/tapdev([0-9]+)$ ]] || fail "allocate printed '$d'"
tap-ctl free -m "${BASH_REMATCH[1]}" || fail "free"
[ ! -e "$d" ] || fail "free left $d"

# --- help: tap-ctl and every verb, exit 0, on stdout ---
tap-ctl --help | grep -q "^verbs:" || fail "tap-ctl --help"
for v in spawn create destroy attach detach open close pause unpause list \
	stats allocate free; do
	tap-ctl "$v" --help | grep -q "^usage: tap-ctl $v" ||
		fail "tap-ctl $v --help"
done
echo "PASS"
