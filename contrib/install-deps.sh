#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs everything larchfs needs to build, test and benchmark on Debian 12.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	gcc clang meson ninja-build pkg-config git \
	libzstd-dev libxxhash-dev libcmocka-dev libfuse3-dev fuse3 \
	liblmdb-dev librocksdb-dev \
	xfsprogs attr acl >/dev/null   # xfs_io, setfattr, setfacl: the mount tests
echo "install-deps: done"
