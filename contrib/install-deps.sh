#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs everything larchfs needs to build, test and benchmark on Debian 12.
#
#   contrib/install-deps.sh            build and test dependencies
#   contrib/install-deps.sh --bench    and fs-bench's peers: fuse2fs, zfs-fuse, fio
#
# The tests of the Debian packages need debhelper and lintian, and those of
# larchfs-stat --prometheus Prometheus's promtool: it comes in Debian's
# prometheus package, which would also install and start a Prometheus
# server, so only promtool is taken out of it (apt-get download; nothing
# installed) and kept in /var/cache/larchfs-tests, where the tests look.
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
	-h|--help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
	groff-base man-db \
	debhelper lintian >/dev/null   # xfs_io, setfacl, setcap, pgrep: mount tests; groff, man: install test

PROMTOOL=/var/cache/larchfs-tests/promtool
if [ ! -x "$PROMTOOL" ] && ! command -v promtool >/dev/null; then
	dl=$(mktemp -d)
	if (cd "$dl" && $SUDO apt-get download -qq prometheus >/dev/null 2>&1) &&
		dpkg-deb --fsys-tarfile "$dl"/prometheus_*.deb | tar -C "$dl" -x ./usr/bin/promtool &&
		[ -s "$dl/usr/bin/promtool" ]; then
		$SUDO install -D -m 755 "$dl/usr/bin/promtool" "$PROMTOOL"
	fi
	$SUDO rm -rf "$dl"
	[ -x "$PROMTOOL" ] || echo "install-deps: no promtool (the tests use their own reader of the format)"
fi

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
