# SPDX-License-Identifier: MIT
# A flipped byte in the leaf holding the superblock record: the record is
# unreadable, but its copy (the engine's META files) is good.  fsck -n
# reports both (exit 4, nothing changed); -y has the engine empty the leaf
# and rewrites the record from the copy (exit 1); a second -n is clean and
# every file reads back exact.
. "$(dirname "$0")/lib.sh"

mkstore
populate 23 300
manifest
damage flip-leaf / super > /dev/null
before=$(digest)
run_fsck 4 -n
says "Tree super"
says "The superblock record is damaged or missing; its copy stands in"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 1 -y
says "its copy stands in"
run_fsck 0 -n
verify
