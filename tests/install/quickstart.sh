#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/install/quickstart.sh SOURCE_DIR: the README's commands, word for
# word, as a newcomer runs them, offline:
#
#  1. a copy of the tree (git's files, tracked and untracked, no build
#     directories), as a fresh clone would be;
#  2. "The two commands": the first line, contrib/quickstart.sh, with a
#     temporary STORE and MOUNTPOINT as arguments: it installs the
#     dependencies, builds, formats and mounts; a file written there
#     survives running it again (rebuild, remount); then the README's
#     `fusermount3 -u`.  Of the second line, contrib/install-deps.sh runs
#     (tests/run-all would run this test again).  apt-get is a stand-in that
#     only checks every package asked for is installed (no network);
#  3. "Installing": each line, with DESTDIR set to a temporary directory
#     (meson install honours it; ldconfig is a stand-in);
#  4. "mount(8) and fstab": each line of both blocks, with the README's
#     store and mount point replaced by the temporary ones, in a mount
#     namespace of this test's own where /usr/local/sbin is the DESTDIR's
#     and /etc/fstab a copy: so mount(8) finds the *installed* larchfs, and
#     the file from step 2 must be there.  After each umount the daemon
#     must exit;
#  5. "Statistics", on the mount of step 4's mount block: each line of its
#     block, then the command of its cron line (after the five times and
#     the user), with node_exporter's directory a temporary one too; the
#     file it leaves must be Prometheus text (tests/stat/promcheck.py).
#
# Needs root, /dev/fuse, git, unshare, mount.fuse3; else exit 77 (skip).
# In the sanitizer run (LARCH_SANITIZED) it is skipped: the quick start
# builds its own plain build/, so once is enough.  Takes a full build.
set -u
src=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
require_plain_root git unshare mount umount fusermount3 dpkg-query
[ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ] || skip "needs mount.fuse3"
if [ -z "${LARCH_QS_NS:-}" ]; then
	unshare --mount --propagation private true 2>/dev/null || skip "needs unshare --mount"
	LARCH_QS_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi

export LC_ALL=C
T=$(mktemp -d "${TMPDIR:-/tmp}/larchfs-quickstart.XXXXXX") || exit 1
chmod 755 "$T"
store=$T/store mnt=$T/mnt

# ---- waiting, and cleaning up on every exit path --------------------------------

# after an unmount: the daemon flushes and exits
wait_daemon() {
	[ -n "$1" ] || return 0
	poll 60 gone "$1" || fail "daemon $1 still running 60s after the unmount"
}

cleanup() {
	local pid m
	set +e
	trap - EXIT INT TERM
	cd /
	pid=$(daemon_pid)
	for m in $(awk -v d="$T/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"
	done
	[ -n "$pid" ] && { poll 60 gone "$pid" || kill -9 "$pid"; }
	if [ -z "$(awk -v d="$T/" 'index($2, d) == 1' /proc/mounts)" ]; then
		rm -rf --one-file-system "$T"
	else
		echo "mounts remain under $T; not removing it"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the README's blocks ---------------------------------------------------------

# block NAME: the lines of the fenced block after the marker comment
# "<!-- tests/install/quickstart.sh: NAME -->"; block two: the one under
# "## The two commands".
block() {
	case $1 in
	two) readme_block "$src/README.md" tests/install/quickstart.sh "## The two commands" ;;
	*) readme_block "$src/README.md" tests/install/quickstart.sh "$1" ;;
	esac
}

# readme_paths: the README's store and mount point become ours
readme_paths() {
	sed -e "s#/var/lib/larchfs/store#$store#g" -e "s#/mnt/larchfs#$mnt#g" \
	    -e "s#/var/lib/prometheus/node-exporter#$T/node-exporter#g"
}

# run_line LINE: runs one README line in the copy, with bash, as typed
run_line() {
	echo "\$ $1"
	(cd "$T/src" && bash -euc "$1") || fail "the README's line failed: $1"
}

# ---- 1. a fresh copy ---------------------------------------------------------------

say "copy of the tree in $T/src"
mkdir "$T/src"
copy_tree "$src" "$T/src" || fail "copying the tree"
[ -x "$T/src/contrib/quickstart.sh" ] || fail "no contrib/quickstart.sh in the copy"
ls -d "$T"/src/build* >/dev/null 2>&1 && fail "build directories were copied"

# stand-ins: apt-get checks, ldconfig records
mkdir "$T/bin"
cat >"$T/bin/apt-get" <<'EOF'
#!/bin/sh
# apt-get, offline: "update" does nothing; "install" checks that every
# package named is already installed.
[ "$1" = update ] && exit 0
for a in "$@"; do
	case $a in -*|install) continue ;; esac
	dpkg-query -W -f='${Status}' "$a" 2>/dev/null | grep -q 'install ok installed' || {
		echo "apt-get (offline stand-in): package $a is not installed" >&2
		exit 100
	}
done
EOF
printf '#!/bin/sh\necho "ldconfig $*" >>"%s/ldconfig.calls"\n' "$T" >"$T/bin/ldconfig"
chmod +x "$T/bin/apt-get" "$T/bin/ldconfig"
export PATH=$T/bin:$PATH

# ---- 2. the two commands ---------------------------------------------------------

mapfile -t two < <(block two)
[ ${#two[@]} -eq 2 ] || fail "expected two lines under 'The two commands', found ${#two[@]}"
qs=${two[0]%%#*}
qs=${qs%"${qs##*[![:space:]]}"}
[ "$qs" = contrib/quickstart.sh ] || fail "the first command is not contrib/quickstart.sh: ${two[0]}"
say "the quick start: $qs $store $mnt"
run_line "$qs $store $mnt"
mounted || fail "quickstart.sh did not leave $mnt mounted"
echo "written by the quick start test" >"$mnt/hello"
say "the quick start again: rebuilds and remounts"
run_line "$qs $store $mnt"
mounted || fail "the second quickstart.sh did not leave $mnt mounted"
[ "$(cat "$mnt/hello")" = "written by the quick start test" ] || fail "the file did not survive the remount"
pid=$(daemon_pid)
run_line "fusermount3 -u $mnt"
wait_daemon "$pid"
mounted && fail "still mounted after fusermount3 -u"

deps=${two[1]%%&&*}
deps=${deps%"${deps##*[![:space:]]}"}
[ "$deps" = contrib/install-deps.sh ] || fail "the second command does not start with contrib/install-deps.sh: ${two[1]}"
say "the second command's first half (tests/run-all would run this test again)"
run_line "$deps"

# ---- 3. installing -------------------------------------------------------------------

mapfile -t inst < <(block install)
[ ${#inst[@]} -gt 0 ] || fail "no install block in the README"
export DESTDIR=$T/dest
say "installing, with DESTDIR=$DESTDIR"
for line in "${inst[@]}"; do run_line "$line"; done
unset DESTDIR
for p in larchfs mkfs.larchfs fsck.larchfs fsck.fuse.larchfs larchfs-stat; do
	[ -x "$T/dest/usr/local/sbin/$p" ] || fail "not installed: /usr/local/sbin/$p"
done
[ -f "$T/ldconfig.calls" ] || fail "the install block does not run ldconfig"

# ---- 5. statistics: run by step 4, on its mount ----------------------------------

run_stats() {
	local lines cron line cmd prom=$T/node-exporter/larchfs.prom
	mapfile -t lines < <(block stats | readme_paths)
	[ ${#lines[@]} -gt 0 ] || fail "no stats block in the README"
	say "statistics: the stats block, with the installed larchfs-stat"
	for line in "${lines[@]}"; do PATH=/usr/local/sbin:$PATH run_line "$line"; done
	mapfile -t cron < <(block cron | readme_paths)
	[ ${#cron[@]} -eq 1 ] || fail "expected one line in the cron block, found ${#cron[@]}"
	read -r _ _ _ _ _ user cmd <<<"${cron[0]}"
	[ "$user" = root ] || fail "the cron line's sixth field is not the user root: ${cron[0]}"
	mkdir -p "$T/node-exporter"
	say "statistics: the cron line's command"
	run_line "$cmd"
	[ -s "$prom" ] && [ ! -e "$prom.new" ] || fail "the cron line did not leave $prom alone"
	python3 "$T/src/tests/stat/promcheck.py" --prefix larchfs_ "$prom" ||
		fail "the cron line's file is not Prometheus text"
	grep -q "^larchfs_written_bytes_total{mountpoint=\"$mnt\"} " "$prom" ||
		fail "no larchfs_written_bytes_total of $mnt in $prom"
}

# ---- 4. mount(8) and fstab, with the installed larchfs ----------------------------

mount --bind "$T/dest/usr/local/sbin" /usr/local/sbin || fail "cannot bind /usr/local/sbin"
cp /etc/fstab "$T/fstab"
mount --bind "$T/fstab" /etc/fstab || fail "cannot bind /etc/fstab"
for name in mount fstab; do
	mapfile -t lines < <(block $name | readme_paths)
	[ ${#lines[@]} -gt 0 ] || fail "no $name block in the README"
	say "mount(8): the $name block"
	for line in "${lines[@]}"; do
		case $line in
		umount*) pid=$(daemon_pid) ;;
		esac
		run_line "$line"
		case $line in
		mount*)
			poll 20 mounted || fail "not mounted after: $line"
			[ "$(cat "$mnt/hello")" = "written by the quick start test" ] ||
				fail "the file is not there after: $line"
			grep " $mnt " /proc/mounts
			[ "$name" = mount ] && run_stats
			;;
		umount*)
			wait_daemon "$pid"
			mounted && fail "still mounted after: $line"
			;;
		esac
	done
done
grep -q "^$store $mnt fuse.larchfs" "$T/fstab" || fail "the fstab block did not add its line"

"$T/dest/usr/local/sbin/fsck.larchfs" -n "$store" >"$T/fsck.out" 2>&1 ||
	{ cat "$T/fsck.out"; fail "fsck.larchfs -n: not clean"; }
echo "quickstart: the README's commands work"
