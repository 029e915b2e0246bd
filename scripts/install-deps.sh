#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs, from Debian 12's packages, everything tapdisk needs to build,
# test and benchmark. Runs apt only for what is missing, so it is cheap
# to call every time.
set -euo pipefail

pkgs=(
	build-essential autoconf automake libtool pkg-config clang libclang-rt-14-dev
	libaio-dev liburing-dev libxen-dev libjansson-dev uuid-dev check
	valgrind python3 util-linux procps
	# interop peers and benchmarks
	fio qemu-utils nbdkit libnbd-bin libvhdi-utils fuse3 xenstore-utils lvm2
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root to install" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
