#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs everything larchfs needs to build, test and benchmark on Debian 12.
#
#   contrib/install-deps.sh            build and test dependencies
#   contrib/install-deps.sh --bench    and fs-bench's peers: fuse2fs, zfs-fuse, fio
#
# zfs-fuse's maintainer script starts its daemon (invoke-rc.d), which fails
# in a container without an init system and then fails the install.  While
# it installs, a policy-rc.d that forbids starting services stands in (if
# the machine has none of its own); fs-bench starts zfs-fuse itself when it
# needs it.
set -eu
BENCH=0
for arg in "$@"; do
	case "$arg" in
	--bench) BENCH=1 ;;
	-h|--help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "install-deps: unknown option $arg (try --help)" >&2; exit 2 ;;
	esac
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	gcc clang meson ninja-build pkg-config git \
	libzstd-dev libxxhash-dev libcmocka-dev libfuse3-dev fuse3 liburing-dev \
	liblmdb-dev librocksdb-dev \
	xfsprogs attr acl libcap2-bin procps \
	groff-base man-db >/dev/null   # xfs_io, setfacl, setcap, pgrep: mount tests; groff, man: install test

if [ "$BENCH" -eq 1 ]; then
	POLICY=/usr/sbin/policy-rc.d
	OURS=0
	if [ ! -e "$POLICY" ]; then
		printf '#!/bin/sh\n# install-deps.sh: no service starts while installing\nexit 101\n' |
			$SUDO tee "$POLICY" >/dev/null
		$SUDO chmod 755 "$POLICY"
		OURS=1
		trap '$SUDO rm -f "$POLICY"' EXIT
	fi
	# python3 runs fs-bench; e2fsprogs has mkfs.ext4 for fuse2fs's image
	$SUDO apt-get install -y -qq --no-install-recommends \
		python3 e2fsprogs fuse2fs zfs-fuse fio >/dev/null
	if [ "$OURS" -eq 1 ]; then
		$SUDO rm -f "$POLICY"
		trap - EXIT
	fi
fi
echo "install-deps: done"
