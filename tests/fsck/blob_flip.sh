# SPDX-License-Identifier: MIT
# A flipped byte in a blob (a full data block in a blob segment): fsck -n
# names the file by path, fsck -y deletes the lost block (the file keeps
# its other blocks; the lost one reads as zeros) and fixes `stored`.
. "$(dirname "$0")/lib.sh"

mkstore
populate 11 400
damage mkdir /dir > /dev/null
damage write /dir/big 300000 5 > /dev/null
manifest
damage flip-blob /dir/big 1
e2fsck_cycle "data block 1: blob at .* fails its checksum" \
	"File /dir/big: block 1 unreadable \(repaired: now a hole\)"
verify -h /dir/big:1
