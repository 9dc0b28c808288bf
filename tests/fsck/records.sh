# SPDX-License-Identifier: MIT
# Damage to single records, each found by its own check: an inode record
# that does not decode (its entry then dangles), a block stored past the
# end of a file, an entry with the wrong file type, an entry stored under
# a wrong hash (kept: moved under its name's hash), an xattr in a namespace
# larchfs does not store, an ACL that does not decode, an xattr of an inode that is gone,
# sub-block writes that reach past their block, sub-block writes beside a hole, and a
# superblock whose next inode number is below inodes that exist.
. "$(dirname "$0")/lib.sh"

mkstore
populate 25 300
damage mkdir /r > /dev/null
for f in junk past typed hashed xattr acl gone; do
	damage write /r/$f 20000 7 > /dev/null
done
damage write /r/patched 200000 8 > /dev/null
damage raw-xattr /r/gone user.keep value > /dev/null
manifest

damage bad-record /r/junk
junk=$(ino_from_damage)
damage put-block /r/past 5 1000
past=$(ino_from_damage)
damage bad-type /r/typed > /dev/null
damage bad-hash /r/hashed > /dev/null
damage raw-xattr /r/xattr bogus.name value
xattr=$(ino_from_damage)
damage raw-xattr /r/acl system.posix_acl_access junk
acl=$(ino_from_damage)
damage drop-inode /r/gone
gone=$(ino_from_damage)
damage bad-patch /r/patched 1
patched=$(ino_from_damage)
damage bad-patch /r/past 2 > /dev/null
damage low-next-ino > /dev/null

before=$(digest)
run_fsck 4 -n
[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
says "Inode $junk: a bad record"
says "Entry /r/junk names inode $junk, which does not exist"
says "Inode $past: block 5 lies past the end of the file \(size 20000\)"
says "Entry /r/typed says fifo, but inode [0-9]+ is a regular file"
says "Entry /r/hashed is stored under a wrong hash"
says "Inode $xattr, extended attribute 'bogus.name': a name in a namespace larchfs does not store"
says "Inode $acl, extended attribute 'system.posix_acl_access': an ACL that does not decode"
says "Inode $gone does not exist but has extended attributes"
says "Inode $patched: block 1 has sub-block writes that are damaged"
says "Inode $past: block 2 has sub-block writes that belong to no stored block"
says "The superblock's next inode number is 1040, but inode [0-9]+ exists"
run_fsck 1 -y
run_fsck 0 -n
verify -x /r/junk -x /r/gone
