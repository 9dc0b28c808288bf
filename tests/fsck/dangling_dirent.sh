# SPDX-License-Identifier: MIT
# An entry whose inode record is gone: fsck -n reports it by path (and the
# data blocks left without an inode), fsck -y removes both and fixes the
# directory's size.
. "$(dirname "$0")/lib.sh"

mkstore
populate 13 400
damage mkdir /dir > /dev/null
damage write /dir/victim 100000 3 > /dev/null
damage write /dir/bystander 5000 4 > /dev/null
manifest
damage drop-inode /dir/victim
ino=$(ino_from_damage)
e2fsck_cycle "Entry /dir/victim names inode $ino, which does not exist" \
	"Inode $ino does not exist but has data blocks.  Fix\? yes"
verify -x /dir/victim
