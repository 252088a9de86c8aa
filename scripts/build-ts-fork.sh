#!/usr/bin/env bash
# Build the GPU fork of task-spooler (justanhduc, vendored in tests/data/ts-fork/) as its CPU
# variant into .cache/ts-fork/, idempotently, and print the binary's path (gcc and make come
# from scripts/setup.sh, which runs this). The tests run tsq against it as well as Debian's tsp.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tarball="$root/tests/data/ts-fork/task-spooler-gpu-fork-1522ab0.tar.gz"
cache="$root/.cache/ts-fork"
src="$cache/task-spooler-gpu-fork"
binary="$src/ts"
stamp="$cache/built-from"

want=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$binary"
    exit 0
fi

if ! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
    echo "build-ts-fork: needs a C compiler and make; bash scripts/setup.sh installs them" >&2
    exit 1
fi

echo "build-ts-fork: building the fork's CPU variant in $cache" >&2
rm -rf "$src" "$stamp"
mkdir -p "$cache"
tar xzf "$tarball" -C "$cache"
# GIT_REPO=false: the Makefile asks git whether it sits in a work tree (here it does: tsq's) and
# would then build its man-page tool with tsq's `git describe` as the version.
make -s -C "$src" cpu GIT_REPO=false >"$cache/build.log" 2>&1 || {
    cat "$cache/build.log" >&2
    echo "build-ts-fork: make failed" >&2
    exit 1
}
"$binary" -V | grep -q "^Task Spooler 2.0.0 " || {
    echo "build-ts-fork: $binary does not report Task Spooler 2.0.0" >&2
    exit 1
}
echo "$want" >"$stamp"
echo "$binary"
