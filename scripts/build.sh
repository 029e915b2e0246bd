#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds into build/NAME (default "gcc") with extra configure arguments:
#   scripts/build.sh [NAME [CONFIGURE_ARGS...]]
# Configures only when needed, so repeated calls are incremental.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-gcc}
shift || true
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh >/dev/null 2>&1
mkdir -p "build/$name"
cd "build/$name"
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$*" ]; then
	"$top/configure" -q "$@"
	echo "$*" >.configure-args
fi
make -j"$(nproc)" >/dev/null
echo "build: build/$name ready"
