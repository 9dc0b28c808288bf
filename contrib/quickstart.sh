#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# From a fresh Debian machine to a working larchfs: installs the
# dependencies, builds, and runs the engine benchmark against LMDB and
# RocksDB.  (Mounting a default store joins this once the filesystem lands.)
set -eu
cd "$(dirname "$0")/.."
contrib/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build
build/contrib/bench/kv-bench "$@"
