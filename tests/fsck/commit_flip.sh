# SPDX-License-Identifier: MIT
# A flipped byte in a commit record that later commits follow (left by a
# writer that flushed several times and did not close).  The next commit
# carries the digest of the damaged one (kv/digest.c), so nothing is lost:
# fsck -n reports the damage (exit 4, store unchanged); -p may repair it
# (it drops nothing: the open rebuilds the commit and writes a snapshot
# past the damage, exit 1); then -n is clean and every file reads back
# exact.
. "$(dirname "$0")/lib.sh"

mkstore
populate 18 200
damage crash-write
manifest
damage flip-commit
before=$(digest)
run_fsck 4 -n
says "The log is damaged in 1 place; the changes committed after it are kept \\(1 commit rebuilt"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 1 -p
says "FIXED"
run_fsck 0 -n
verify
