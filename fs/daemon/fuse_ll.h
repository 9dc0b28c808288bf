/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level glue (fuse_ll.c) as main.c sees it: the operation
 * table to hand to fuse_session_new() and the session state it expects as
 * userdata.
 */
#ifndef LARCHFS_FUSE_LL_H
#define LARCHFS_FUSE_LL_H

#define FUSE_USE_VERSION 314

#include <stdbool.h>
#include <stdint.h>
#include <fuse_lowlevel.h>

#include "lfs.h"

#define LARCH_MAX_WRITE (1u << 20)   /* bytes per WRITE/READ request */

/* The userdata of the session.  main.c fills fs and writeback before the
 * session starts; init() fills the rest, before any other request, and
 * nothing changes afterwards, so the handlers read it without locks. */
struct larch_ll {
	lfs *fs;
	struct fuse_session *se;
	bool writeback;      /* asked for (no -o nowriteback) */
	bool writeback_on;   /* granted by the kernel */
	bool skip_opendir;   /* the kernel may go without OPENDIR */
	bool skip_open;      /* ... and without OPEN, CREATE and RELEASE (not
				where the store's opens are checked) */
	bool strictatime;    /* every read moves the atime: none is cached */
};

/* lfs_mount_options.touched, with the struct larch_ll as its arg. */
void ll_touched(void *arg, uint64_t ino);

extern const struct fuse_lowlevel_ops larch_ll_ops;

/* inval.c: the cached pages of a file dropped off the request's thread,
 * so that the next read comes to the daemon (len 0: to the end): at once
 * (a read's, under strictatime); after a change, at once (and, for
 * INVAL_WAIT, waited for a little while) unless the file's changes come
 * fast, then once they pause. */
enum inval_when { INVAL_NOW, INVAL_CHANGE, INVAL_WAIT };
int  inval_start(struct fuse_session *se);
void inval_stop(void);
void inval_pages(uint64_t ino, off_t off, off_t len, enum inval_when when);
void inval_read(uint64_t ino);   /* a read moved ino's atime */

/* fuse_wire.c: the device I/O that negotiates HANDLE_KILLPRIV_V2. */
int  wire_install(struct fuse_session *se);
bool wire_killpriv_v2(void);
bool wire_write_kills_suid(void);
void wire_stats_print(FILE *f);
void wire_metrics_print(FILE *f);
/* Counts a request the rings read as one read from the device is counted,
 * notes what its WRITE flags say and hands a request libfuse does not know
 * over as its kin (fuse_wire.c): transport.h's take_request. */
void wire_take_request(void *buf, size_t n);
/* The opcode the kernel sent for the request this thread is serving
 * (FUSE_TMPFILE reaches ll_create, LARCH_FUSE_STATX ll_getattr). */
uint32_t wire_request_opcode(void);

#endif
