#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's quick start on a fresh Debian 12: a debian:12 container gets
# a copy of this tree (git's files, tracked and untracked, no build
# directories) and runs, as root, the README's commands as they stand:
# contrib/quickstart.sh (apt-get update and install, build, mkfs, mount),
# a file written and read, quickstart.sh again (rebuild, remount), the
# install block, the mount(8) and fstab blocks, and unmounts.  Unlike
# tests/install/quickstart.sh (meson test, offline), this one uses apt and
# the network for real.
#
#   contrib/docker-quickstart.sh [IMAGE]      (default debian:12)
#
# Needs docker and the network; the container gets /dev/fuse and
# CAP_SYS_ADMIN (and no AppArmor profile, which would forbid mounting).
# Exit status: 0 when every command worked.
set -eu
cd "$(dirname "$0")/.."
image=${1:-debian:12}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - --ignore-failed-read -czf "$tmp/src.tar.gz"

# The README's blocks, as tests/install/quickstart.sh reads them.
block() {
	awk -v name="$1" '
		$0 == "<!-- tests/install/quickstart.sh: " name " -->" { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }
	' README.md
}
{
	echo 'set -eux'
	echo 'mkdir /larchfs && tar -C /larchfs -xzf /src.tar.gz && cd /larchfs'
	# a Debian machine has procps (pgrep); the container image does not
	echo 'apt-get update -qq && apt-get install -y -qq procps >/dev/null'
	echo 'contrib/quickstart.sh'
	echo 'echo hello >/mnt/larchfs/hello && cat /mnt/larchfs/hello'
	echo 'contrib/quickstart.sh'
	echo 'cat /mnt/larchfs/hello'
	echo 'fusermount3 -u /mnt/larchfs'
	echo 'while pgrep -f "larchfs /var/lib/larchfs/store" >/dev/null; do sleep 0.1; done'
	block install
	block mount | sed 's#^umount#while ! grep -q " /mnt/larchfs " /proc/mounts; do sleep 0.1; done; cat /mnt/larchfs/hello; umount#'
	echo 'while pgrep -f "larchfs /var/lib/larchfs/store" >/dev/null; do sleep 0.1; done'
	block fstab | sed 's#^umount#cat /mnt/larchfs/hello; umount#'
	echo 'while pgrep -f "larchfs /var/lib/larchfs/store" >/dev/null; do sleep 0.1; done'
	echo 'fsck.larchfs -n /var/lib/larchfs/store'
	echo 'echo "docker-quickstart: the README works on a fresh $(. /etc/os-release; echo $PRETTY_NAME)"'
} >"$tmp/run.sh"

docker run --rm --device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor=unconfined \
	-v "$tmp/src.tar.gz:/src.tar.gz:ro" -v "$tmp/run.sh:/run.sh:ro" \
	"$image" bash /run.sh
