#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/install/package.sh SOURCE_DIR: the Debian packages, as the README's
# "Debian packages" block makes, installs and removes them, word for word:
#
#  1. a copy of the tree (as a fresh clone would be), and in it each line
#     of the README's block "deb" (<!-- tests/install/package.sh: deb -->)
#     up to its purge: contrib/build-deb.sh builds larchfs, liblarchkv0
#     and liblarchkv-dev with dpkg-buildpackage -b -us -uc; `apt install
#     ./build-deb/...deb` installs them on this machine (their
#     dependencies are here already: no network);
#  2. lintian (when installed) finds no error in the .changes;
#  3. the installed packages: larchfs depends on fuse3 and the libraries
#     it links, its files are where Debian wants them, and the installed
#     mkfs.larchfs, larchfs, larchfs-stat and fsck.larchfs format, mount,
#     write, read, report and check a store;
#  4. the block's last line purges them, and nothing they installed is
#     left (no file or link `dpkg -L` listed is there, and dpkg knows none
#     of the three).
# On every exit path the trap unmounts, stops the daemon, purges what it
# installed and removes its directory: the machine is left as it was.
#
# Needs root, /dev/fuse, dpkg-buildpackage and debhelper (dh), git, apt;
# else exit 77 (skip).  Skipped when any of the three packages is
# installed already (it is not this test's to remove), and in the
# sanitizer run (LARCH_SANITIZED: one run is enough).  Runs alone
# (is_parallel false) and under a lock, since dpkg is the machine's.
set -u
src=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
require_plain_root git dpkg-buildpackage dh apt apt-get dpkg-query fusermount3 flock
PKGS="larchfs liblarchkv0 liblarchkv-dev"
status() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' '; }

export LC_ALL=C DEBIAN_FRONTEND=noninteractive
exec 9>>/tmp/larchfs-test-package.lock
flock -w 900 9 || skip "another package test holds /tmp/larchfs-test-package.lock"
for p in $PKGS; do
	[ -z "$(status $p)" ] || [ "$(status $p)" = un ] ||
		skip "$p is installed on this machine ($(status $p)): not removing it"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/larchfs-package.XXXXXX") || exit 1
chmod 755 "$T"
store=$T/store mnt=$T/mnt

# ---- cleaning up on every exit path ---------------------------------------------

child="" child_line=""   # the README line running (run_line)
installed_any() {
	local p
	for p in $PKGS; do
		case $(status $p) in ''|un) ;; *) return 0 ;; esac
	done
	return 1
}

cleanup() {
	local pid
	set +e
	trap - EXIT INT TERM
	cd /
	# a README line still running: an apt is let finish (dpkg stays
	# whole), anything else is stopped
	if [ -n "$child" ]; then
		case $child_line in *apt*) ;; *) kill -TERM "$child" 2>/dev/null ;; esac
		wait "$child" 2>/dev/null
	fi
	pid=$(daemon_pid)
	if mounted; then
		fusermount3 -u "$mnt" 2>/dev/null || { [ -n "$pid" ] && kill -9 "$pid"; fusermount3 -uz "$mnt"; }
	fi
	[ -n "$pid" ] && { poll 60 gone "$pid" || kill -9 "$pid"; }
	if installed_any; then
		echo "cleanup: purging $PKGS"
		apt-get -o DPkg::Lock::Timeout=300 purge -y -qq $PKGS >/dev/null 2>&1 ||
			dpkg --purge $PKGS >/dev/null 2>&1
		installed_any && echo "cleanup: could not purge: $(for p in $PKGS; do echo "$p=$(status $p)"; done)"
	fi
	if awk -v d="$T/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		echo "cleanup: mounts remain under $T; not removing it"
	else
		rm -rf --one-file-system "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. the README's lines, in a copy of the tree ----------------------------------

run_line() {   # in the background, so that the trap knows what runs
	echo "\$ $1"
	(cd "$T/src" && exec bash -euc "$1" </dev/null) &
	child=$! child_line=$1
	wait "$child" || fail "the README's line failed: $1"
	child=""
}

mapfile -t lines < <(readme_block "$src/README.md" tests/install/package.sh deb)
[ ${#lines[@]} -ge 3 ] || fail "no deb block (of at least three lines) in the README"
case ${lines[-1]} in
*" purge "*) ;;
*) fail "the deb block does not end with a purge: ${lines[-1]}" ;;
esac

say "copy of the tree in $T/src"
mkdir "$T/src" "$mnt"
copy_tree "$src" "$T/src" || fail "copying the tree"

for ((i = 0; i < ${#lines[@]} - 1; i++)); do
	run_line "${lines[$i]}"
done
installed_any || fail "the block installed nothing"
for p in $PKGS; do
	[ "$(status $p)" = ii ] || fail "$p is not installed ($(status $p))"
done
echo "installed: $PKGS"
# what they own, to check after the purge (directories may be shared)
for p in $PKGS; do dpkg -L $p; done | sort -u >"$T/paths"

# ---- 2. lintian ---------------------------------------------------------------------

changes=$(ls "$T"/src/build-deb/larchfs_*.changes 2>/dev/null | head -1)
[ -n "$changes" ] || fail "no .changes in build-deb/"
if command -v lintian >/dev/null; then
	if lintian --allow-root --fail-on error "$changes" >"$T/lintian" 2>&1; then
		echo "lintian: no errors ($(grep -c '^[WIXP]:' "$T/lintian") warnings and notes)"
		cat "$T/lintian"
	else
		cat "$T/lintian"
		fail "lintian reports errors"
	fi
else
	echo "note: no lintian (contrib/install-deps.sh installs it)"
fi

# ---- 3. what is installed works ---------------------------------------------------------

deps=$(dpkg-query -W -f='${Depends}' larchfs)
for d in fuse3 libfuse3-3 libzstd1 libxxhash0; do
	grep -qw "$d" <<<"$deps" || fail "larchfs does not depend on $d: $deps"
done
echo "larchfs depends on: $deps"
for f in /usr/sbin/larchfs /usr/sbin/mkfs.larchfs /usr/sbin/fsck.larchfs /usr/sbin/fsck.fuse.larchfs \
	 /usr/sbin/larchfs-stat /usr/share/man/man8/larchfs-stat.8.gz \
	 /usr/share/bash-completion/completions/larchfs-stat /lib/systemd/system/larchfs@.service \
	 /usr/include/larchfs/larchkv.h; do
	[ -e "$f" ] || fail "not installed: $f"
done
ls /usr/lib/*/liblarchkv.so.0 >/dev/null 2>&1 || fail "not installed: liblarchkv.so.0"
pkg-config --exists larchkv 2>/dev/null || fail "pkg-config does not find larchkv"

say "a store with the installed programs"
/usr/sbin/mkfs.larchfs -q -L pkg "$store" || fail "mkfs.larchfs"
/usr/sbin/larchfs "$store" "$mnt" || fail "larchfs did not mount"
poll 20 mounted || fail "not mounted"
echo "written by the package test" >"$mnt/hello"
head -c 3M /dev/urandom >"$T/data"
cp "$T/data" "$mnt/data"
cmp -s "$T/data" "$mnt/data" || fail "the file did not read back"
/usr/sbin/larchfs-stat --mounted --json "$mnt" >"$T/json" || fail "larchfs-stat --mounted --json"
python3 -m json.tool "$T/json" >/dev/null || fail "larchfs-stat --json is not JSON"
grep -q '"written_bytes_total":' "$T/json" || fail "no written bytes in $(cat "$T/json")"
pid=$(daemon_pid)
fusermount3 -u "$mnt" || fail "fusermount3 -u"
[ -z "$pid" ] || poll 60 gone "$pid" || fail "the daemon did not exit after the unmount"
/usr/sbin/fsck.larchfs -n "$store" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "fsck.larchfs -n: not clean"; }
/usr/sbin/larchfs "$store" "$mnt" -o ro || fail "larchfs did not mount again"
poll 20 mounted || fail "not mounted again"
[ "$(cat "$mnt/hello")" = "written by the package test" ] || fail "the file is not there after a remount"
pid=$(daemon_pid)
fusermount3 -u "$mnt" || fail "fusermount3 -u"
[ -z "$pid" ] || poll 60 gone "$pid" || fail "the daemon did not exit after the unmount"
echo "mkfs, mount, write, read, stat, fsck and remount: ok"

# ---- 4. the purge ----------------------------------------------------------------------

run_line "${lines[-1]}"
for p in $PKGS; do
	case $(status $p) in ''|un) ;; *) fail "$p is still known to dpkg: $(status $p)" ;; esac
done
left=""
while read -r path; do
	[ -z "$path" ] && continue
	# a directory (or a link to one: /lib) may be shared: files and links count
	[ -d "$path" ] && continue
	if [ -L "$path" ] || [ -e "$path" ]; then left="$left $path"; fi
done < <(sort -u "$T/paths")
[ -z "$left" ] || fail "left behind after the purge:$left"
echo "purged: nothing of $PKGS is left ($(sort -u "$T/paths" | wc -l) paths checked)"
echo "package: the README's Debian packages build, install, work and purge"
