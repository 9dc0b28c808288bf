# SPDX-License-Identifier: MIT
# Wrong link counts and directory sizes: a file's nlink, a directory's nlink
# and a directory's size are set wrong; fsck -y sets them from the entries.
. "$(dirname "$0")/lib.sh"

mkstore
populate 14 400
damage mkdir /dir > /dev/null
damage mkdir /dir/sub > /dev/null
damage write /dir/file 70000 1 > /dev/null
manifest
damage set-nlink /dir/file 7
file=$(ino_from_damage)
damage set-nlink /dir 9
damage set-size /dir/sub 5
before=$(digest)
run_fsck 4 -n
says "Inode $file \(regular file\) has 7 links, should have 1.  Fix\? no"
says "Directory /dir \(inode [0-9]+\) has 9 links, should have 3.  Fix\? no"
says "Directory /dir/sub \(inode [0-9]+\) has size 5, should be 0.  Fix\? no"
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
run_fsck 1 -y
says "Inode $file \(regular file\) has 7 links, should have 1.  Fix\? yes"
run_fsck 0 -n
verify
