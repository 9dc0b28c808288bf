# SPDX-License-Identifier: MIT
# Two directories that name each other (/a holds b, b holds a) and that
# the root no longer reaches: fsck -y breaks the cycle by moving /a into
# /lost+found; everything under it reads back exact there.
. "$(dirname "$0")/lib.sh"

mkstore
populate 16 300
damage mkdir /a > /dev/null
damage mkdir /a/b > /dev/null
damage write /a/b/f 90000 5 > /dev/null
damage write /a/g 1000 6 > /dev/null
manifest
damage cycle a b
a=$(awk '/^ino /{print $2}' "$T/damage")
e2fsck_cycle "Directories .* form a cycle that the root does not reach; moving directory $a into /lost\+found as '#$a'" \
	"Directory /lost\+found \(inode [0-9]+\) has 2 links, should have 3"
verify -m "/a=/lost+found/#$a"
