# SPDX-License-Identifier: MIT
# Orphans.  (1) A file unlinked while open, left by a crash: not an error
# for fsck -n (the next mount reclaims it: a note, exit 0); fsck -y's
# read-write open reclaims it and says so (exit 1).  (2) A stale orphan
# record of a linked file: an error, removed.  (3) An orphan record on an
# inode whose link count says 0 but that an entry still names: fsck -y
# must keep the file (not let the open reclaim it) and fix its count.
# (4) An orphan record on an inode whose record is bad: the read-write
# open would fail on it; fsck -y drops the orphan record first and then
# treats the bad record like any other.
. "$(dirname "$0")/lib.sh"

mkstore
populate 19 300
damage write /open 120000 1 > /dev/null
damage write /stale 1000 2 > /dev/null
damage write /named 50000 3 > /dev/null
damage write /junk 7000 4 > /dev/null
manifest

# (1)
damage orphan-open /open
before=$(digest)
run_fsck 0 -n
says "1 inode unlinked while open will be reclaimed"
grep -q "Fix?" "$T/out" && fail "an open-file orphan is not an error"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 1 -y
says "1 inode unlinked while open reclaimed"
run_fsck 0 -n
verify -x /open

# (2)
damage add-orphan /stale
ino=$(ino_from_damage)
e2fsck_cycle "Orphan record of inode $ino, which still has 1 links" \
	"1 stale orphan record removed"
verify -x /open

# (3)
damage set-nlink /named 0 > /dev/null
damage add-orphan /named
ino=$(ino_from_damage)
e2fsck_cycle "Inode $ino \(regular file\) is recorded as unlinked but 1 entries name it" \
	"Inode $ino is recorded as unlinked while open, but an entry still names it"
verify -x /open

# (4)
damage bad-record /junk > /dev/null
damage add-orphan /junk
ino=$(ino_from_damage)
e2fsck_cycle "Orphan record of inode $ino, which does not exist" \
	"Inode $ino is recorded as unlinked while open, but its record is bad"
verify -x /open -x /junk
