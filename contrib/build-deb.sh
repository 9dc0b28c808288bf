#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/build-deb.sh [OUTDIR]: builds larchfs's Debian packages from this
# tree with Debian's own tools (dpkg-buildpackage -b -us -uc, debhelper):
#
#   larchfs          the daemon, mkfs.larchfs, fsck.larchfs, larchfs-stat,
#                    man pages, bash completion, systemd units
#   liblarchkv0      the engine's shared library
#   liblarchkv-dev   its header, static library and pkg-config file
#
# The packaging lives in contrib/debian/ (the top of the tree keeps to its
# fixed layout).  The tree's files (git's, or the tree less its build
# directories) are copied to OUTDIR/larchfs-VERSION/ with contrib/debian as
# debian/, and the packages are built there, so that the .debs, .buildinfo
# and .changes land in OUTDIR (default: build-deb/ in the tree).  Needs
# the build dependencies of contrib/debian/control (contrib/install-deps.sh
# installs them).  Then, as root: apt install ./OUTDIR/larchfs_*.deb
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in -h|--help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
out=${1:-$src/build-deb}
version=$(sed -n '1s/^larchfs (\([^)]*\)).*/\1/p' "$src/contrib/debian/changelog")
[ -n "$version" ] || { echo "build-deb: no version in contrib/debian/changelog" >&2; exit 1; }
for c in dpkg-buildpackage dh; do
	command -v $c >/dev/null ||
		{ echo "build-deb: $c is missing (contrib/install-deps.sh installs it)" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
tree=$out/larchfs-$version
rm -rf "$tree"
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$tree" -xf -
else
	(cd "$src" && tar --exclude='./build*' -cf - .) | tar -C "$tree" -xf -
fi
cp -r "$src/contrib/debian" "$tree/debian"
echo "build-deb: building larchfs $version in $tree"
(cd "$tree" && dpkg-buildpackage -b -us -uc)
rm -rf "$tree"
ls "$out"/*_"$version"_*.deb
