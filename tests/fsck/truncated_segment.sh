# SPDX-License-Identifier: MIT
# A blob segment cut short (in the middle of a blob record): the blobs past
# the cut are outside their segment; fsck -y deletes their keys (holes) and
# the segment's accounting is corrected.  The file written last holds
# them; everything else reads back exact.
. "$(dirname "$0")/lib.sh"

mkstore
populate 12 400
damage write /last 300000 9 > /dev/null
manifest
damage cut-segment /last 2
e2fsck_cycle "data block 2: blob at .* outside its segment" \
	"File /last: block 4 unreadable \(repaired: now a hole\)"
verify -h /last:2 -h /last:3 -h /last:4
