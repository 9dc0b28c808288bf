/* SPDX-License-Identifier: MIT */
/*
 * inode_change: an operation on one inode as a transaction of its own
 * (txn.c): its lock, one batch, one commit.  Most calls that change a
 * file are one of these (attr.c, file.c).
 *
 * An inode a collapse or insert was left in half-way (after a crash or a
 * failure; shift.c) is finished first, under the same lock, so that no
 * change lands on half-moved data; while it cannot be finished the change
 * fails with its error.
 */
#include <errno.h>

#include "internal.h"

/* Runs fn on inode ino under its lock, in one batch, and commits; *out
 * (may be NULL) gets the inode as written. */
int inode_change(lfs *fs, uint64_t ino, inode_change_fn fn, void *arg, struct inode *out)
{
	struct txn t;
	int err = txn_begin(fs, &t);
	if (err)
		return err;
	struct inode in;
	err = txn_add(&t, ino);
	if (!err) {
		txn_lock(&t);
		err = inode_get(fs, ino, &in);
	}
	if (!err && (in.flags & INODE_SHIFTING))
		err = shift_settle(fs, ino, &in);
	if (!err)
		err = fn(fs, t.b, &in, arg);
	if (!err)
		err = inode_put(fs, t.b, &in);
	if (!err)
		err = txn_commit(&t);
	txn_end(&t);
	if (!err && out)
		*out = in;
	return err;
}
