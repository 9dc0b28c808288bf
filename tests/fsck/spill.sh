# SPDX-License-Identifier: MIT
# A memory bound too small for the per-inode facts: they spill to a scratch
# store (-v says so) and the check gives the same answers: clean is 0,
# damage is found and fixed.  The scratch directory is removed afterwards.
. "$(dirname "$0")/lib.sh"

mkstore
populate 22 300
damage many 20000 > /dev/null
damage write /tail 40000 1 > /dev/null
manifest
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
run_fsck 0 -n -v -m 1M
says "spilled to a scratch store"
damage set-nlink /tail 2 > /dev/null
run_fsck 4 -n -m 1M
says "has 2 links, should have 1"
run_fsck 1 -y -v -m 1M
says "spilled to a scratch store"
run_fsck 0 -n -m 1M
[ -z "$(ls -A "$TMPDIR")" ] || fail "scratch store left behind: $(ls -A "$TMPDIR")"
verify
