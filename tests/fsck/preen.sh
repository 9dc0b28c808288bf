# SPDX-License-Identifier: MIT
# fsck -p (and -a): fixes what is safe (link counts, sizes) without asking
# and says FIXED (exit 1); stops on anything else with UNEXPECTED
# INCONSISTENCY (exit 4) having fixed nothing, for -y to do.
. "$(dirname "$0")/lib.sh"

mkstore
populate 20 300
damage mkdir /dir > /dev/null
damage write /dir/a 20000 1 > /dev/null
damage write /dir/b 20000 2 > /dev/null
manifest

damage set-nlink /dir/a 3 > /dev/null
damage set-size /dir 17 > /dev/null
run_fsck 1 -p
says "store: Inode [0-9]+ \(regular file\) has 3 links, should have 1.  FIXED."
says "has size 17, should be 2.  FIXED."
run_fsck 0 -n
run_fsck 0 -a
verify

damage drop-inode /dir/b > /dev/null
damage set-nlink /dir/a 4 > /dev/null
run_fsck 4 -p
says "Entry /dir/b names inode [0-9]+, which does not exist."
says "UNEXPECTED INCONSISTENCY; RUN fsck.larchfs -y MANUALLY"
run_fsck 4 -n          # -p fixed nothing: both problems are still there
says "has 4 links, should have 1"
run_fsck 1 -y
run_fsck 0 -n
verify -x /dir/b
