# SPDX-License-Identifier: MIT
# A flipped byte in a leaf record (the extents-tree leaf holding a small
# file's data): the leaf fails its checksum.  fsck -n reports it (exit 4,
# nothing changed).  fsck -y has the engine empty the leaf (its keys are
# lost), mends what referred to them (exit 1), a second fsck -n finds
# nothing (exit 0), and every file outside the leaf's inode range still
# reads back exact.
. "$(dirname "$0")/lib.sh"

mkstore
populate 17 400
damage write /small 3000 8 > /dev/null
manifest
damage flip-leaf /small
range=$(awk '/^range /{print $2 "-" $3}' "$T/damage")
before=$(digest)
run_fsck 4 -n
says "Tree extents, the leaf from inode [0-9]+ on: .*checksum"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 1 -y
says "emptied: its keys are lost"
run_fsck 0 -n
verify -i "$range"
