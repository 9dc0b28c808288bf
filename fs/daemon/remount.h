/* SPDX-License-Identifier: MIT */
/*
 * Remounting a larchfs mount: `mount -o remount,ro MOUNTPOINT` (through
 * mount.fuse3, which runs `larchfs STORE MOUNTPOINT -o ...,remount,...`)
 * or `larchfs -o remount,ro STORE MOUNTPOINT`.
 *
 * Two parties must agree: the kernel, which refuses changes on a read-only
 * superblock itself (EROFS, but EEXIST for a name that exists, and device
 * nodes still open for writing), and the daemon serving the mount, which
 * must flush and stop writing the store (lfs_remount).  remount.c changes
 * the kernel's flags with mount(2) MS_REMOUNT and tells the daemon with
 * the ioctl below on the mount's root directory, answered once done:
 *   - to read-only, the kernel first (it writes back its cached pages and
 *     refuses if a file is open for writing), then the daemon;
 *   - to read-write, the daemon first, then the kernel;
 * and undoes the first step when the second fails.
 */
#ifndef LARCHFS_REMOUNT_H
#define LARCHFS_REMOUNT_H

#include <stdint.h>
#include <sys/ioctl.h>

/* The ioctl's argument (copied in by the kernel: a restricted ioctl). */
struct larch_remount {
	uint32_t flags;             /* LARCH_REMOUNT_* */
	uint32_t reserved;          /* 0 */
};

#define LARCH_REMOUNT_RO 0x1u      /* read-only; else read-write */

/* Only root may send it, on the root directory (fuse_ll.c). */
#define LARCH_IOC_REMOUNT _IOW(0xb7, 0x01, struct larch_remount)

_Static_assert(sizeof(struct larch_remount) == 8, "the ioctl's size is its ABI");

/* What `larchfs -o remount` was asked. */
struct remount_request {
	const char *store;          /* as given */
	const char *mnt;            /* as given */
	int ro;                     /* 1 read-only, 0 read-write, -1 as it is */
	unsigned long set, clear;   /* MS_ flags the options name (others are
				       kept as the mount has them) */
};

/* Does it; says what went wrong on stderr.  Returns the exit status. */
int remount_run(const struct remount_request *r);

#endif
