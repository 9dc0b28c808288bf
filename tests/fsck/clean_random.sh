# SPDX-License-Identifier: MIT
# fsck on clean stores built by random workloads (files inline and in blobs,
# directories, symlinks, hard links, renames, unlinks, truncates, xattrs):
# every mode exits 0, -n changes nothing, and every file reads back exact.
. "$(dirname "$0")/lib.sh"

for seed in 1 2 3; do
	rm -rf "$S"
	mkstore
	populate "$seed" 500
	before=$(digest)
	run_fsck 0 -n
	says "files, .* directories, .* space amplification .*x, checked in"
	[ "$(digest)" = "$before" ] || fail "fsck -n changed the store"
	run_fsck 0 -f -n
	run_fsck 0 -y
	run_fsck 0 -p
	run_fsck 0 -n
	verify
done
