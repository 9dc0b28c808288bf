# SPDX-License-Identifier: MIT
# tests/install/lib.sh: what quickstart.sh and package.sh share: skipping,
# failing, waiting, the daemon of $store on $mnt (set by the test before
# it calls them), the README's blocks and a copy of the tree.

skip() { echo "skip: $*"; exit 77; }

# require_plain_root COMMAND...: root, /dev/fuse and these commands, in
# the plain build's run (the sanitizer run, LARCH_SANITIZED, skips: the
# programs under test are built by the test itself, so once is enough).
require_plain_root() {
	local c
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -c /dev/fuse ] || skip "needs /dev/fuse"
	[ -z "${LARCH_SANITIZED:-}" ] || skip "runs in the plain build's test run only"
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "needs $c (contrib/install-deps.sh installs it)"
	done
}

fail() { echo "FAIL: $*"; exit 1; }
say() { echo "== $*"; }

poll() {   # poll SECONDS cmd...: retries every 50 ms until it succeeds
	local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
	shift
	until "$@"; do
		[ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
		sleep 0.05
	done
}
mounted() { awk -v m="$mnt" '$2 == m && $3 == "fuse.larchfs" { f = 1 } END { exit !f }' /proc/mounts; }
# the daemon serving our store on our mount point (options may follow)
daemon_pid() { pgrep -f -- "^[^ ]*larchfs( [^ ]*)* $store $mnt( |\$)" | head -1; }
gone() { ! kill -0 "$1" 2>/dev/null || grep -qs '^State:.*zombie' "/proc/$1/status"; }

# readme_block README TAG NAME: the lines of the README's fenced block after
# the marker "<!-- TAG: NAME -->", or after the heading NAME when NAME
# starts with "## ".
readme_block() {
	awk -v tag="$2" -v name="$3" '
		substr(name, 1, 3) == "## " && index($0, name) == 1 { want = 1; next }
		$0 == "<!-- " tag ": " name " -->" { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }
	' "$1"
}

# copy_tree SRC DEST: the files a fresh clone of SRC has (git's, tracked
# and untracked but not ignored), or SRC less its build directories.
copy_tree() {
	if git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$1" && git ls-files -z --cached --others --exclude-standard |
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$2" -xf -
	else
		(cd "$1" && tar --exclude='./build*' -cf - .) | tar -C "$2" -xf -
	fi
}
