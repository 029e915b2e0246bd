# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the NBD export tests. Source after tests/functions.sh.

# Starts a VBD with "tap-ctl create ARGS..." and sets DEV MINOR PID
# NBD_SOCK NBD_TCP (empty unless asked for) and URI (over the unix socket).
nbd_create() {
	local j
	DEV=$(tap-ctl create "$@") || fail "tap-ctl create $*"
	MINOR=${DEV##*tapdev}
	j=$(tap-ctl list -m "$MINOR" --json) || fail "tap-ctl list"
	eval "$(python3 -c '
import json, sys
minor = int(sys.argv[1])
for t in json.load(sys.stdin)["tapdisks"]:
    for v in t["vbds"]:
        if v["minor"] == minor:
            n = v.get("exports", {}).get("nbd", {})
            print("PID=%d" % t["pid"])
            print("NBD_SOCK=%s" % n.get("nbd_socket", ""))
            print("NBD_TCP=%s" % n.get("nbd_tcp", ""))
' "$MINOR" <<<"$j")"
	[ -n "${PID:-}" ] || fail "minor $MINOR not listed"
	URI="nbd+unix:///?socket=$NBD_SOCK"
}

# Number of open file descriptors of process $1.
fd_count() {
	ls "/proc/$1/fd" | wc -l
}

# Resident memory of process $1 in KiB.
rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

# Runs python3 with tests/nbd on its module path.
nbd_py() {
	PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$top_srcdir/tests/nbd" python3 "$@"
}
