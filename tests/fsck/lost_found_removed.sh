# SPDX-License-Identifier: MIT
# A store whose lost+found was removed by `rmdir lost+found` through a
# mount, as any user may: not damage.  fsck -n, -p and -y exit 0 and make
# no lost+found (as e2fsck -fn; a boot-time fsck -p must pass).  When an
# inode then has to be reconnected, fsck -y makes lost+found with the
# number mkfs gave it and links the inode there; a lost+found the user
# made again is used, whatever its number; a root entry "lost+found" that
# is not a directory is left alone, and so is the inode that needed it
# (its link count too).  Mounts the store (larchfs: root, /dev/fuse).
. "$(dirname "$0")/lib.sh"

[ -n "${LARCHFS:-}" ] && [ -x "$LARCHFS" ] || { echo "skip: larchfs not built"; exit 77; }
[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null ||
	{ echo "skip: needs root, /dev/fuse and fusermount3"; exit 77; }

MNT=$T/mnt
mkdir "$MNT"
DAEMON=
unmount() {
	[ -n "$DAEMON" ] || return 0
	fusermount3 -u "$MNT" 2>/dev/null
	wait "$DAEMON"
	DAEMON=
}
trap 'unmount; cleanup' EXIT
# on_mount CMD: runs CMD (a shell command, $MNT set) on the store, mounted.
on_mount() {
	"$LARCHFS" -f "$S" "$MNT" 2>"$T/daemon.log" &
	DAEMON=$!
	for _ in $(seq 200); do
		grep -qs " $MNT fuse.larchfs " /proc/mounts && break
		sleep 0.05
	done
	grep -qs " $MNT fuse.larchfs " /proc/mounts || { cat "$T/daemon.log"; fail "mount"; }
	MNT=$MNT sh -c "$1" || { unmount; fail "on the mount: $1"; }
	unmount
}
no_lost_found() {
	"$FSCK_DAMAGE" ino "$S" /lost+found >/dev/null 2>&1 && fail "fsck made /lost+found"
	grep -q "lost+found" "$T/out" && fail "fsck spoke of lost+found"
	return 0
}

echo "== rmdir lost+found: clean"
mkstore
on_mount 'rmdir $MNT/lost+found && mkdir $MNT/d && echo one >$MNT/a && echo two >$MNT/d/b'
manifest
before=$(digest)
run_fsck 0 -n
no_lost_found
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 0 -p
no_lost_found
run_fsck 0 -fy
no_lost_found
verify

echo "== an inode to reconnect: lost+found is made for it"
damage unlink-entry /a > /dev/null
a=$(ino_from_damage)
run_fsck 4 -p
says "UNEXPECTED INCONSISTENCY"
e2fsck_cycle "/lost\+found not found; making it \(inode 2\)" \
	"Inode $a \(4 bytes\) is in no directory; linking it into /lost\+found as '#$a'"
[ "$("$FSCK_DAMAGE" ino "$S" /lost+found)" = 2 ] || fail "lost+found is not inode 2"
verify -m "/a=/lost+found/#$a"

echo "== made again by the user: used, whatever its number"
rm -rf "$S"
mkstore
on_mount 'rmdir $MNT/lost+found && mkdir $MNT/lost+found && echo one >$MNT/a'
manifest
lf=$("$FSCK_DAMAGE" ino "$S" /lost+found)
[ "$lf" != 2 ] || fail "the new lost+found has the old number"
run_fsck 0 -n
damage unlink-entry /a > /dev/null
a=$(ino_from_damage)
e2fsck_cycle "linking it into /lost\+found as '#$a'" "Directory /lost\+found \(inode $lf\)"
grep -q "not found; making it" "$T/out" && fail "made a second lost+found"
verify -m "/a=/lost+found/#$a"

echo "== the name taken by a file: nothing is moved"
rm -rf "$S"
mkstore
on_mount 'rmdir $MNT/lost+found && echo mine >$MNT/lost+found && echo one >$MNT/a'
manifest
run_fsck 0 -n
damage unlink-entry /a > /dev/null
a=$(ino_from_damage)
run_fsck 4 -y
says "/lost\+found is not a directory; inodes in no directory cannot be reconnected"
says "Inode $a \(regular file\) is in no directory"
grep -q "links, should have" "$T/out" && fail "the stray inode's link count was changed"
run_fsck 4 -n
verify -x /a
