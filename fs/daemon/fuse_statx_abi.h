/* SPDX-License-Identifier: MIT */
/*
 * The kernel's FUSE_STATX request and reply (FUSE protocol 7.39, Linux
 * 6.6+), declared here because Debian 12's <linux/fuse.h> (Linux 6.1,
 * protocol 7.38) predates them.  Written from the kernel's uapi header
 * (include/uapi/linux/fuse.h); every size and offset is checked below,
 * so that a mistake fails the build instead of garbling a reply.
 *
 * The kernel sends STATX instead of GETATTR when statx(2) asks for the
 * birth time (STATX_BTIME) and the attributes it holds are stale or have
 * never carried one, whatever minor version the daemon's INIT declared
 * (fs/fuse/dir.c, fuse_update_get_attr: the only gate is fc->no_statx,
 * set by one ENOSYS).  The request body is fuse_statx_in, whose first 16
 * bytes are laid out as fuse_getattr_in; the reply is fuse_statx_out,
 * whose mask says which fields hold values.  The kernel keeps the basic
 * attributes only when mask has all of STATX_BASIC_STATS, and the birth
 * time when it has STATX_BTIME (fuse_do_statx).
 */
#ifndef LARCHFS_FUSE_STATX_ABI_H
#define LARCHFS_FUSE_STATX_ABI_H

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

#define LARCH_FUSE_STATX 52     /* the opcode, after FUSE_TMPFILE (51) */

/* A time as statx gives it. */
struct larch_fuse_sx_time {
	int64_t  tv_sec;
	uint32_t tv_nsec;
	int32_t  reserved;
};

/* struct statx's fields, in the kernel's FUSE layout. */
struct larch_fuse_statx {
	uint32_t mask;                  /* STATX_* of the fields set */
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t spare0;
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	struct larch_fuse_sx_time atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor;
	uint32_t dev_major, dev_minor;
	uint64_t spare2[14];
};

struct larch_fuse_statx_in {
	uint32_t getattr_flags;         /* FUSE_GETATTR_FH: fh is set */
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;              /* AT_STATX_* sync hints */
	uint32_t sx_mask;               /* STATX_* asked for */
};

struct larch_fuse_statx_out {
	uint64_t attr_valid;            /* seconds the kernel may keep them */
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	struct larch_fuse_statx stat;
};

_Static_assert(sizeof(struct larch_fuse_sx_time) == 16, "fuse_sx_time size");
_Static_assert(sizeof(struct larch_fuse_statx) == 256, "fuse_statx size");
_Static_assert(offsetof(struct larch_fuse_statx, nlink) == 16, "fuse_statx.nlink");
_Static_assert(offsetof(struct larch_fuse_statx, mode) == 28, "fuse_statx.mode");
_Static_assert(offsetof(struct larch_fuse_statx, ino) == 32, "fuse_statx.ino");
_Static_assert(offsetof(struct larch_fuse_statx, atime) == 64, "fuse_statx.atime");
_Static_assert(offsetof(struct larch_fuse_statx, btime) == 80, "fuse_statx.btime");
_Static_assert(offsetof(struct larch_fuse_statx, rdev_major) == 128, "fuse_statx.rdev");
_Static_assert(offsetof(struct larch_fuse_statx, spare2) == 144, "fuse_statx.spare2");
_Static_assert(sizeof(struct larch_fuse_statx_in) == 24, "fuse_statx_in size");
_Static_assert(offsetof(struct larch_fuse_statx_in, sx_mask) == 20, "fuse_statx_in.sx_mask");
_Static_assert(sizeof(struct larch_fuse_statx_out) == 288, "fuse_statx_out size");
_Static_assert(offsetof(struct larch_fuse_statx_out, stat) == 32, "fuse_statx_out.stat");
/* STATX's body begins as GETATTR's (fuse_proto.c decodes either). */
_Static_assert(offsetof(struct larch_fuse_statx_in, fh) ==
	       offsetof(struct fuse_getattr_in, fh), "statx_in begins as getattr_in");
_Static_assert(sizeof(struct larch_fuse_statx_in) >= sizeof(struct fuse_getattr_in),
	       "statx_in holds a getattr_in");

#endif
