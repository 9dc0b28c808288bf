# SPDX-License-Identifier: MIT
# Inodes that no entry names (a file, and a directory with its subtree):
# fsck -y links them into /lost+found as #INO and fixes the counts; their
# contents read back exact at their new paths.
. "$(dirname "$0")/lib.sh"

mkstore
populate 15 400
damage write /lonely 150000 2 > /dev/null
damage mkdir /lonedir > /dev/null
damage mkdir /lonedir/sub > /dev/null
damage write /lonedir/sub/f 3000 3 > /dev/null
manifest
damage unlink-entry /lonely
f=$(ino_from_damage)
damage unlink-entry /lonedir
d=$(ino_from_damage)
e2fsck_cycle "Inode $f \(150000 bytes\) is in no directory; linking it into /lost\+found as '#$f'" \
	"Directory $d \(1 entries\) is in no directory"
verify -m "/lonely=/lost+found/#$f" -m "/lonedir=/lost+found/#$d"
