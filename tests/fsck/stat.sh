# SPDX-License-Identifier: MIT
# larchfs-stat: the superblock, tree sizes, engine statistics and files of
# a store; exit 1 with a message for a mounted one.
. "$(dirname "$0")/lib.sh"

"$MKFS_LARCHFS" -q -L statlabel "$S" || fail mkfs
populate 24 200
"$LARCHFS_STAT" "$S" > "$T/out" 2>&1 || fail "larchfs-stat failed: $(cat "$T/out")"
cat "$T/out"
for want in "Filesystem label: +statlabel" "Block size: +65536 bytes" \
	    "Next inode number: +[0-9]+" "^inodes +[0-9]+" "^dirents +[0-9]+" \
	    "^extents +[0-9]+" "Space amplification: +[0-9.]+x" "blob segment" \
	    "Filesystem UUID: +[0-9a-f-]{36}"; do
	says "$want"
done
"$LARCHFS_STAT" > /dev/null 2>&1; [ $? = 16 ] || fail "no store: not 16"
"$FSCK_DAMAGE" hold "$S" 60 > "$T/hold" &
HOLD_PID=$!
for _ in $(seq 100); do grep -q ready "$T/hold" 2>/dev/null && break; sleep 0.1; done
"$LARCHFS_STAT" "$S" > "$T/out" 2>&1
rc=$?
cat "$T/out"
[ $rc = 1 ] || fail "larchfs-stat on a mounted store exited $rc"
says "in use \(mounted\?\): for the live statistics of a mount run larchfs-stat --mounted MOUNTPOINT"
