# SPDX-License-Identifier: MIT
# Helpers the fsck test cases (tests/fsck/CASE.sh) share; sourced, bash.
#
# Each case gets a fresh directory $T (mktemp -d, removed on exit) with the
# store in $T/store ($S).  Binaries come from meson's environment:
# MKFS_LARCHFS, FSCK_LARCHFS, LARCHFS_STAT, FSCK_DAMAGE.  A case fails by
# calling fail (exit 1) and skips with exit 77.
set -u
: "${MKFS_LARCHFS:?}" "${FSCK_LARCHFS:?}" "${LARCHFS_STAT:?}" "${FSCK_DAMAGE:?}"

T=$(mktemp -d "${TMPDIR:-/tmp}/larchfs-fsck-XXXXXX") || exit 1
S=$T/store
M=$T/manifest
cleanup() {
	# a helper left running in the background (hold) goes first
	if [ -n "${HOLD_PID:-}" ]; then kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null; fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# mkstore: formats $S.
mkstore() {
	"$MKFS_LARCHFS" -q "$S" || fail "mkfs.larchfs"
}

# populate SEED OPS: a random workload through the core; $M lists the result.
populate() {
	"$FSCK_DAMAGE" populate "$S" "$1" "$2" "$M" || fail "populate"
}

# damage CMD ARGS...: runs fsck_damage CMD $S ARGS; its output is in $T/damage.
damage() {
	local cmd=$1
	shift
	"$FSCK_DAMAGE" "$cmd" "$S" "$@" > "$T/damage" || fail "fsck_damage $cmd $*"
	cat "$T/damage"
}

# digest: a checksum of every file of the store (what fsck -n may not change).
digest() {
	(cd "$S" && find . -type f | LC_ALL=C sort | xargs sha256sum)
}

# run_fsck WANT ARGS...: runs fsck.larchfs ARGS $S; fails unless it exits WANT.
# Its output is shown and kept in $T/out.
run_fsck() {
	local want=$1 rc
	shift
	echo "+ fsck.larchfs $* STORE"
	"$FSCK_LARCHFS" "$@" "$S" > "$T/out" 2>&1
	rc=$?
	sed 's/^/    /' "$T/out"
	[ "$rc" = "$want" ] || fail "fsck.larchfs $* exited $rc, want $want"
}

# says TEXT: the last fsck's output contains TEXT (a grep -E pattern).
says() {
	grep -Eq -- "$1" "$T/out" || fail "fsck output lacks '$1'"
}

# e2fsck_cycle [N_SAYS [Y_SAYS]]: fsck -n reports (exit 4, its output
# matching N_SAYS) without changing a byte of the store, fsck -y repairs
# (exit 1, matching Y_SAYS), fsck -n then finds nothing (exit 0).
e2fsck_cycle() {
	local before
	before=$(digest)
	run_fsck 4 -n
	[ -z "${1:-}" ] || says "$1"
	[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
	run_fsck 1 -y
	[ -z "${2:-}" ] || says "$2"
	says "THE STORE WAS MODIFIED"
	run_fsck 0 -n
}

# verify ARGS...: every manifest entry reads back exact (fsck_damage verify).
verify() {
	"$FSCK_DAMAGE" verify "$S" "$M" "$@" || fail "files do not read back exact"
}

# ino_from_damage: the inode number the last damage command printed.
ino_from_damage() {
	awk '/^ino /{print $2; exit}' "$T/damage"
}

# manifest: lists what the store holds now into $M.
manifest() {
	"$FSCK_DAMAGE" manifest "$S" "$M" || fail "manifest"
}
