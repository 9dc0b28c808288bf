# SPDX-License-Identifier: MIT
# A flipped byte in the inodes leaf holding a symlink's record: fsck -y
# has the engine empty the leaf and recreates the lost inodes from what
# survived.  A symlink's entry survived (it names the type) and so did its
# data (the target): it comes back a symlink with its target, not a
# regular file holding the target (which pass 2 would then find its entry
# wrong for).  Every symlink of the store reads back exact.
. "$(dirname "$0")/lib.sh"

mkstore
populate 17 400
manifest
link=$(awk '$1 == "l" { print $NF; exit }' "$M")
[ -n "$link" ] || fail "populate made no symlink"
damage flip-leaf "$link" inodes
run_fsck 4 -n
run_fsck 1 -y
says "recreated as a symlink"
says "File $link: its inode was lost with a damaged leaf; recreated from its data and its entry"
run_fsck 0 -n
grep '^l ' "$M" > "$T/links"
"$FSCK_DAMAGE" verify "$S" "$T/links" || fail "a symlink does not read back exact"
