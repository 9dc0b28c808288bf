/* SPDX-License-Identifier: MIT */
/*
 * The daemon's reads and writes of /dev/fuse: they count the requests by
 * kind (the "FUSE requests" line of the live statistics), and they take
 * the one capability libfuse 3.14 cannot negotiate, FUSE_HANDLE_KILLPRIV_V2
 * (protocol 7.33).
 *
 * Why it matters: FUSE mounts clear SB_NOSEC, so before every write(2) the
 * kernel asks whether the file carries security.capability: a GETXATTR
 * round trip per write, which the writeback cache cannot absorb (a 4 KiB
 * write into a cached page costs that trip instead of none).  A connection with
 * HANDLE_KILLPRIV_V2 gets SB_NOSEC back: once an inode is seen to have
 * neither suid/sgid nor that xattr it is marked S_NOSEC and later writes
 * skip the check, until its attributes are refreshed or a security.*
 * xattr is set.  In return the daemon, not the kernel, clears suid and
 * sgid where the kernel says so:
 *  - a WRITE with FUSE_WRITE_KILL_SUIDGID in write_flags (the writer
 *    lacks CAP_FSETID; with the writeback cache the kernel sends such
 *    writes through rather than caching them);
 *  - a SETATTR with FATTR_KILL_SUIDGID (a chown of a non-directory, or a
 *    truncate without CAP_FSETID), which libfuse 3.14 passes on as
 *    FUSE_SET_ATTR_KILL_SUID (the same bit).
 * The kernel itself still removes security.capability (setattr_prepare,
 * file_remove_privs), and OPEN's FUSE_OPEN_KILL_SUIDGID never comes: the
 * daemon refuses OPEN, so O_TRUNC arrives as a SETATTR.
 *
 * How: libfuse lets a session read and write the device through our
 * functions (fuse_session_custom_io).  wire_read() notes the INIT
 * request's id and whether the kernel offers the flag, and for each WRITE
 * whether it carries the kill flag, in a thread-local the WRITE handler
 * reads (libfuse processes a request on the thread that read it).
 * wire_writev() adds the flag to libfuse's INIT reply.  Nothing else is
 * changed, and without the kernel's offer nothing is.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuse_ll.h"

static _Atomic uint64_t init_unique;        /* the INIT request, 0: none seen */
static atomic_bool init_offers_v2;          /* the kernel offered the flag */
static atomic_bool v2_granted;              /* and our reply took it */
static _Thread_local bool write_kills_suid; /* the request this thread read */

/* ---- request counts ---- */

#define OPCODES 52   /* FUSE_LOOKUP (1) .. FUSE_TMPFILE (51) */

static _Atomic uint64_t requests[OPCODES];

static const char *const opcode_name[OPCODES] = {
	[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET", [FUSE_GETATTR] = "GETATTR",
	[FUSE_SETATTR] = "SETATTR", [FUSE_READLINK] = "READLINK", [FUSE_SYMLINK] = "SYMLINK",
	[FUSE_MKNOD] = "MKNOD", [FUSE_MKDIR] = "MKDIR", [FUSE_UNLINK] = "UNLINK",
	[FUSE_RMDIR] = "RMDIR", [FUSE_RENAME] = "RENAME", [FUSE_LINK] = "LINK",
	[FUSE_OPEN] = "OPEN", [FUSE_READ] = "READ", [FUSE_WRITE] = "WRITE",
	[FUSE_STATFS] = "STATFS", [FUSE_RELEASE] = "RELEASE", [FUSE_FSYNC] = "FSYNC",
	[FUSE_SETXATTR] = "SETXATTR", [FUSE_GETXATTR] = "GETXATTR",
	[FUSE_LISTXATTR] = "LISTXATTR", [FUSE_REMOVEXATTR] = "REMOVEXATTR",
	[FUSE_FLUSH] = "FLUSH", [FUSE_INIT] = "INIT", [FUSE_OPENDIR] = "OPENDIR",
	[FUSE_READDIR] = "READDIR", [FUSE_RELEASEDIR] = "RELEASEDIR",
	[FUSE_FSYNCDIR] = "FSYNCDIR", [FUSE_GETLK] = "GETLK", [FUSE_SETLK] = "SETLK",
	[FUSE_SETLKW] = "SETLKW", [FUSE_ACCESS] = "ACCESS", [FUSE_CREATE] = "CREATE",
	[FUSE_INTERRUPT] = "INTERRUPT", [FUSE_BMAP] = "BMAP", [FUSE_DESTROY] = "DESTROY",
	[FUSE_IOCTL] = "IOCTL", [FUSE_POLL] = "POLL", [FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
	[FUSE_BATCH_FORGET] = "BATCH_FORGET", [FUSE_FALLOCATE] = "FALLOCATE",
	[FUSE_READDIRPLUS] = "READDIRPLUS", [FUSE_RENAME2] = "RENAME2",
	[FUSE_LSEEK] = "LSEEK", [FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
	[FUSE_SYNCFS] = "SYNCFS", [FUSE_TMPFILE] = "TMPFILE",
};

/* One line: the requests received since the mount, in all and by opcode. */
void wire_stats_print(FILE *f)
{
	uint64_t total = 0;

	for (size_t op = 0; op < OPCODES; op++)
		total += atomic_load(&requests[op]);
	fprintf(f, "%-22s %" PRIu64, "FUSE requests:", total);
	for (size_t op = 0; op < OPCODES; op++) {
		uint64_t n = atomic_load(&requests[op]);
		if (n)
			fprintf(f, " %s=%" PRIu64, opcode_name[op] ? opcode_name[op] : "?", n);
	}
	fprintf(f, "\n%-22s %s\n", "Killpriv v2:", wire_killpriv_v2() ? "yes"
		: atomic_load(&init_offers_v2) ? "no" : "not offered by the kernel");
}

/* ---- reading requests ---- */

/* Notes what the request in buf[0..n) tells us, before libfuse sees it. */
static void note_request(const void *buf, size_t n)
{
	struct fuse_in_header h;

	write_kills_suid = false;
	if (n < sizeof(h))
		return;
	memcpy(&h, buf, sizeof(h));
	if (h.opcode < OPCODES)
		atomic_fetch_add_explicit(&requests[h.opcode], 1, memory_order_relaxed);
	if (h.opcode == FUSE_INIT && n >= sizeof(h) + offsetof(struct fuse_init_in, flags) + 4) {
		struct fuse_init_in in;
		size_t len = n - sizeof(h) < sizeof(in) ? n - sizeof(h) : sizeof(in);

		memset(&in, 0, sizeof(in));
		memcpy(&in, (const char *)buf + sizeof(h), len);
		atomic_store(&init_offers_v2, in.major == 7 && in.minor >= 33 &&
						(in.flags & FUSE_HANDLE_KILLPRIV_V2));
		atomic_store(&init_unique, h.unique);
	} else if (h.opcode == FUSE_WRITE &&
		   n >= sizeof(h) + offsetof(struct fuse_write_in, write_flags) + 4) {
		struct fuse_write_in in;

		memcpy(&in, (const char *)buf + sizeof(h), offsetof(struct fuse_write_in, write_flags) + 4);
		write_kills_suid = in.write_flags & FUSE_WRITE_KILL_SUIDGID;
	}
}

static ssize_t wire_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n > 0)
		note_request(buf, (size_t)n);
	return n;
}

/* Whether iov is the successful reply to the INIT request. */
static bool is_init_reply(const struct iovec *iov, int count)
{
	struct fuse_out_header h;
	uint64_t u = atomic_load(&init_unique);

	if (!u || count < 2 || iov[0].iov_len != sizeof(h) ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags) + 4)
		return false;
	memcpy(&h, iov[0].iov_base, sizeof(h));
	return h.unique == u && h.error == 0;
}

static ssize_t wire_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_init_out out;
	struct iovec patched[2];

	(void)userdata;
	if (count != 2 || !is_init_reply(iov, count))
		return writev(fd, iov, count);
	atomic_store(&init_unique, 0);
	if (!atomic_load(&init_offers_v2) || iov[1].iov_len > sizeof(out))
		return writev(fd, iov, count);
	memset(&out, 0, sizeof(out));
	memcpy(&out, iov[1].iov_base, iov[1].iov_len);
	out.flags |= FUSE_HANDLE_KILLPRIV_V2;
	patched[0] = iov[0];
	patched[1] = (struct iovec){ &out, iov[1].iov_len };
	ssize_t n = writev(fd, patched, 2);
	if (n >= 0)
		atomic_store(&v2_granted, true);
	return n;
}

int wire_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = wire_read,
		.writev = wire_writev,
	};
	int err = fuse_session_custom_io(se, &io, fuse_session_fd(se));

	return err < 0 ? err : 0;
}

bool wire_killpriv_v2(void)
{
	return atomic_load(&v2_granted);
}

bool wire_write_kills_suid(void)
{
	return write_kills_suid;
}
