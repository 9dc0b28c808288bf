# SPDX-License-Identifier: MIT
# A flipped byte in the orphans tree's leaf (holding a stale orphan record
# of a linked file): the leaf is unreadable.  The read-write open must not
# fail on it (its reclaim skips what it cannot read and says so), nor may
# fsck -y's look at the orphans before it; fsck -n reports the leaf
# (exit 4, store unchanged), -y empties it (exit 1), -n is then clean and
# every file reads back exact.
. "$(dirname "$0")/lib.sh"

mkstore
populate 29 300
damage write /linked 12000 1 > /dev/null
damage add-orphan /linked > /dev/null
manifest
damage flip-leaf / orphans > /dev/null
before=$(digest)
run_fsck 4 -n
says "Tree orphans"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 1 -y
says "emptied: its keys are lost"
run_fsck 0 -n
verify
