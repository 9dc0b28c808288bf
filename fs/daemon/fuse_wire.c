/* SPDX-License-Identifier: MIT */
/*
 * The daemon's reads and writes of /dev/fuse: they count the requests by
 * kind (the "FUSE requests" line of the live statistics, and the metric
 * larchfs_fuse_requests_total), and they take two capabilities libfuse
 * 3.14 does not negotiate: FUSE_HANDLE_KILLPRIV_V2 (protocol 7.33), which
 * it does not know, and FUSE_PARALLEL_DIROPS, which it asks for by default
 * but leaves out of its INIT reply.
 *
 * PARALLEL_DIROPS lets the kernel send lookups and readdirs of one
 * directory concurrently (without it, it serialises them per directory:
 * four threads stat'ing names in one directory ran slower than one).  The
 * core's lookups and listings are reads, safe in parallel; changes to a
 * directory still hold its lock in the VFS.
 *
 * HANDLE_KILLPRIV_V2: FUSE mounts clear SB_NOSEC, so before every
 * write(2) the kernel asks whether the file carries security.capability:
 * a GETXATTR round trip per write, which the writeback cache cannot absorb
 * (a 4 KiB write into a cached page costs that trip instead of none).  A
 * connection with HANDLE_KILLPRIV_V2 gets SB_NOSEC back: once an inode is
 * seen to have neither suid/sgid nor that xattr it is marked S_NOSEC and
 * later writes skip the check, until its attributes are refreshed or a
 * security.* xattr is set.  In return the daemon, not the kernel, clears
 * suid and sgid where the kernel says so:
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
 * request's id and the flags the kernel offers, and for each WRITE
 * whether it carries the kill flag, in a thread-local the WRITE handler
 * reads (libfuse processes a request on the thread that read it).
 * wire_writev() adds the flags the kernel offered to libfuse's INIT
 * reply.  Nothing else is changed, and without the kernel's offer nothing
 * is.
 *
 * A request libfuse 3.14 does not know (it answers its opcode with ENOSYS,
 * after which the kernel stops sending it) is handed to libfuse as its
 * nearest kin, which it does know; the handler that gets it asks
 * wire_request_opcode() what the kernel really sent:
 *  - TMPFILE (open(2) with O_TMPFILE) as CREATE: the same body
 *    (fuse_create_in, then the name, "/" for a tmpfile) and the same reply
 *    (fuse_entry_out, fuse_open_out);
 *  - STATX (statx(2) asking for the birth time; fuse_statx_abi.h) as
 *    GETATTR: its body begins as GETATTR's does, and the handler replies
 *    with fuse_statx_out through fuse_reply_buf instead of fuse_attr_out.
 * Requests from the rings pass through the same hook (wire_take_request)
 * before libfuse sees them, so both transports serve them.  libfuse's own
 * trace (-d) names them by their kin; the counts name them right.
 *
 * FUSE over io_uring (transport_uring.c) is negotiated here too: when the
 * kernel offers FUSE_OVER_IO_URING (flags2, with FUSE_INIT_EXT) and
 * uring_prepare() has the rings ready, the INIT reply takes it as well,
 * and uring_start() follows once the kernel has the reply.  From then on
 * wire_writev() first offers each reply to uring_take_reply(): the reply
 * to a request that came from a ring goes back into its ring entry, and
 * everything else (replies to /dev/fuse requests, notifications) to the
 * device.  Requests from the rings are counted and translated by
 * wire_take_request() as those read here are.
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
#include "fuse_statx_abi.h"
#include "fuse_uring_abi.h"
#include "transport.h"

/* The INIT flags added to libfuse's reply when the kernel offers them. */
#define WIRE_ADDS (FUSE_HANDLE_KILLPRIV_V2 | FUSE_PARALLEL_DIROPS)

static _Atomic uint64_t init_unique;        /* the INIT request, 0: none seen */
static _Atomic uint32_t init_offered;       /* WIRE_ADDS the kernel offered */
static _Atomic uint32_t init_added;         /* and our reply took */
static atomic_bool init_uring_offered;      /* FUSE_OVER_IO_URING offered */
static _Thread_local bool write_kills_suid; /* the request this thread read */
static _Thread_local uint32_t kernel_opcode; /* ... and its opcode as sent */

/* ---- request counts ---- */

#define OPCODES 53   /* FUSE_LOOKUP (1) .. FUSE_STATX (52) */

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
	[LARCH_FUSE_STATX] = "STATX",
};

static const char *flag_state(uint32_t flag)
{
	return atomic_load(&init_added) & flag ? "yes"
	       : atomic_load(&init_offered) & flag ? "no" : "not offered by the kernel";
}

/* The requests received since the mount, in all and by opcode, and the
 * INIT flags added. */
void wire_stats_print(FILE *f)
{
	uint64_t total = 0;

	for (size_t op = 0; op < OPCODES; op++)
		total += atomic_load(&requests[op]);
	uring_stats_print(f);
	fprintf(f, "%-22s %" PRIu64, "FUSE requests:", total);
	for (size_t op = 0; op < OPCODES; op++) {
		uint64_t n = atomic_load(&requests[op]);
		if (n)
			fprintf(f, " %s=%" PRIu64, opcode_name[op] ? opcode_name[op] : "?", n);
	}
	fprintf(f, "\n%-22s %s\n", "Killpriv v2:", flag_state(FUSE_HANDLE_KILLPRIV_V2));
	fprintf(f, "%-22s %s\n", "Parallel dirops:", flag_state(FUSE_PARALLEL_DIROPS));
}

/* The same counts for programs: the larchfs.metrics xattr's format
 * (fs/stats.c), one sample per kind received. */
void wire_metrics_print(FILE *f)
{
	fprintf(f, "# HELP larchfs_fuse_requests_total FUSE requests received, by opcode.\n"
		   "# TYPE larchfs_fuse_requests_total counter\n");
	for (size_t op = 0; op < OPCODES; op++) {
		uint64_t n = atomic_load(&requests[op]);
		if (n && opcode_name[op])
			fprintf(f, "larchfs_fuse_requests_total{op=\"%s\"} %" PRIu64 "\n",
				opcode_name[op], n);
	}
}

/* ---- reading requests ---- */

/* What INIT offers, noted for the reply. */
static void note_init(const struct fuse_in_header *h, const void *body, size_t len)
{
	struct fuse_init_in in;

	if (len < offsetof(struct fuse_init_in, flags) + 4)
		return;
	memset(&in, 0, sizeof(in));
	memcpy(&in, body, len < sizeof(in) ? len : sizeof(in));
	atomic_store(&init_offered, in.major == 7 ? in.flags & WIRE_ADDS : 0);
	atomic_store(&init_uring_offered, in.major == 7 && (in.flags & FUSE_INIT_EXT) &&
		     len >= offsetof(struct fuse_init_in, flags2) + 4 &&
		     (in.flags2 & (uint32_t)(FUSE_OVER_IO_URING >> 32)));
	atomic_store(&init_unique, h->unique);
}

/* Whether a WRITE asks the daemon to clear suid/sgid. */
static bool write_kill_flag(const void *body, size_t len)
{
	struct fuse_write_in in;

	if (len < offsetof(struct fuse_write_in, write_flags) + 4)
		return false;
	memcpy(&in, body, offsetof(struct fuse_write_in, write_flags) + 4);
	return in.write_flags & FUSE_WRITE_KILL_SUIDGID;
}

/* The opcode libfuse is to see for one it does not know (head of file);
 * 0: none, the request stays as it is. */
static uint32_t kin_opcode(uint32_t opcode, size_t len)
{
	if (opcode == FUSE_TMPFILE && len > sizeof(struct fuse_create_in))
		return FUSE_CREATE;
	if (opcode == LARCH_FUSE_STATX && len >= sizeof(struct larch_fuse_statx_in))
		return FUSE_GETATTR;
	return 0;
}

/* Notes what the request in buf[0..n) tells us, before libfuse sees it,
 * and hands a request libfuse does not know over as its kin. */
void wire_take_request(void *buf, size_t n)
{
	struct fuse_in_header h;
	const char *body = (const char *)buf + sizeof(h);
	size_t len;
	uint32_t kin;

	write_kills_suid = false;
	kernel_opcode = 0;
	if (n < sizeof(h))
		return;
	memcpy(&h, buf, sizeof(h));
	len = n - sizeof(h);
	kernel_opcode = h.opcode;
	if (h.opcode < OPCODES)
		atomic_fetch_add_explicit(&requests[h.opcode], 1, memory_order_relaxed);
	if (h.opcode == FUSE_INIT)
		note_init(&h, body, len);
	else if (h.opcode == FUSE_WRITE)
		write_kills_suid = write_kill_flag(body, len);
	else if ((kin = kin_opcode(h.opcode, len)) != 0)
		memcpy((char *)buf + offsetof(struct fuse_in_header, opcode), &kin,
		       sizeof(kin));
}

static ssize_t wire_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n > 0)
		wire_take_request(buf, (size_t)n);
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

/* The most the kernel will put in a request's body or take in a reply's:
 * what it sizes ring payload buffers by (max_write, max_pages pages). */
static size_t init_max_payload(const struct fuse_init_out *out)
{
	size_t n = out->max_write, pages = (size_t)sysconf(_SC_PAGESIZE);

	if (out->flags & FUSE_MAX_PAGES && out->max_pages * pages > n)
		n = out->max_pages * pages;
	return n > 8192 ? n : 8192;
}

/* Writes libfuse's INIT reply with the flags it could not ask for, and
 * starts or declines the rings. */
static ssize_t write_init_reply(int fd, struct iovec *iov)
{
	struct fuse_init_out out;
	struct iovec patched[2];
	uint32_t add = atomic_load(&init_offered);
	bool uring;
	ssize_t n;

	memset(&out, 0, sizeof(out));
	memcpy(&out, iov[1].iov_base, iov[1].iov_len);
	out.flags |= add;
	uring = iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + 4 &&
		uring_prepare(atomic_load(&init_uring_offered), init_max_payload(&out));
	if (uring) {
		out.flags |= FUSE_INIT_EXT;
		out.flags2 |= (uint32_t)(FUSE_OVER_IO_URING >> 32);
	}
	patched[0] = iov[0];
	patched[1] = (struct iovec){ &out, iov[1].iov_len };
	n = writev(fd, patched, 2);
	if (n >= 0)
		atomic_store(&init_added, add);
	if (uring)
		uring_start(n >= 0);
	return n;
}

static ssize_t wire_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	ssize_t n;

	(void)userdata;
	if (uring_take_reply(iov, count, &n))
		return n;
	if (count != 2 || !is_init_reply(iov, count))
		return writev(fd, iov, count);
	atomic_store(&init_unique, 0);
	if (iov[1].iov_len > sizeof(struct fuse_init_out))
		return writev(fd, iov, count);
	return write_init_reply(fd, iov);
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
	return atomic_load(&init_added) & FUSE_HANDLE_KILLPRIV_V2;
}

bool wire_write_kills_suid(void)
{
	return write_kills_suid;
}

uint32_t wire_request_opcode(void)
{
	return kernel_opcode;
}
