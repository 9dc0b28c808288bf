#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# From a fresh Debian machine to a mounted larchfs: installs the
# dependencies, builds, formats a store (once) and mounts it.
#
#   contrib/quickstart.sh [STORE [MOUNTPOINT]]
#
# Defaults: as root /var/lib/larchfs/store on /mnt/larchfs; otherwise
# ~/.local/share/larchfs/store on ~/larchfs.  Running it again rebuilds and
# remounts the same store; nothing is reformatted.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
	store=${1:-/var/lib/larchfs/store} mnt=${2:-/mnt/larchfs}
else
	store=${1:-$HOME/.local/share/larchfs/store} mnt=${2:-$HOME/larchfs}
fi
contrib/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "quickstart: built build/fs/larchfs and build/mkfs/mkfs.larchfs"

if [ ! -e "$store/FORMAT" ]; then
	mkdir -p "$(dirname "$store")"
	build/mkfs/mkfs.larchfs "$store"
fi
mkdir -p "$mnt"
if grep -qs " $(realpath "$mnt") fuse.larchfs " /proc/mounts; then
	echo "quickstart: $mnt is already a larchfs mount; unmounting it first"
	pid=$(pgrep -f -- "larchfs( .*)? $store $mnt\$" | head -1 || true)
	fusermount3 -u "$mnt"
	# the daemon flushes and lets go of the store after the unmount
	for _ in $(seq 600); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		grep -qs '^State:.*zombie' /proc/$pid/status && break
		sleep 0.1
	done
fi
build/fs/larchfs "$store" "$mnt"
df -h "$mnt"
echo "quickstart: $store is mounted on $mnt (unmount: fusermount3 -u $mnt)"
