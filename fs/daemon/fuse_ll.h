/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level glue (fuse_ll.c) as main.c sees it: the operation
 * table to hand to fp_session_init() and the session state it expects as
 * userdata.
 */
#ifndef LARCHFS_FUSE_LL_H
#define LARCHFS_FUSE_LL_H

#include <stdbool.h>
#include <stdint.h>

#include "fuse_proto.h"
#include "lfs.h"

#define LARCH_MAX_WRITE (1u << 20)   /* bytes per WRITE/READ request */

/* The userdata of the session.  main.c fills fs and writeback before the
 * session starts; init() fills the rest, before any other request, and
 * nothing changes afterwards, so the handlers read it without locks. */
struct larch_ll {
	lfs *fs;
	bool writeback;      /* asked for (no -o nowriteback) */
	bool writeback_on;   /* granted by the kernel */
	bool skip_opendir;   /* the kernel may go without OPENDIR */
	bool skip_open;      /* ... and without OPEN, CREATE and RELEASE (not
				where the store's opens are checked) */
	bool strictatime;    /* every read moves the atime: none is cached */
};

/* lfs_mount_options.touched, with the struct larch_ll as its arg. */
void ll_touched(void *arg, uint64_t ino);

extern const struct fp_ops larch_ll_ops;

/* inval.c: the cached pages of a file dropped off the request's thread,
 * so that the next read comes to the daemon (len 0: to the end): at once
 * (a read's, under strictatime); after a change, at once (and, for
 * INVAL_WAIT, waited for a little while) unless the file's changes come
 * fast, then once they pause. */
enum inval_when { INVAL_NOW, INVAL_CHANGE, INVAL_WAIT };
int  inval_start(void);
void inval_stop(void);
void inval_pages(uint64_t ino, off_t off, off_t len, enum inval_when when);
void inval_read(uint64_t ino);   /* a read moved ino's atime */

#endif
