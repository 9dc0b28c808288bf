# SPDX-License-Identifier: MIT
# A flipped byte in a commit record that later commits follow (left by a
# writer that flushed several times and did not close): the engine refuses
# a normal open.  fsck -n opens past the damage read-only and reports it
# (exit 4, store unchanged); -p will not drop committed changes (exit 8,
# "run fsck.larchfs -y"); -y cuts the log at the damage (the changes after
# it are lost) and repairs what that leaves (exit 1); then -n is clean
# and the filesystem mounts.
. "$(dirname "$0")/lib.sh"

mkstore
populate 18 200
damage crash-write
damage flip-commit
before=$(digest)
run_fsck 4 -n
says "The log is damaged"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 8 -p
says "RUN fsck.larchfs -y MANUALLY"
[ "$(digest)" = "$before" ] || fail "fsck -p changed the store"
run_fsck 1 -y
says "were dropped"
run_fsck 0 -n
