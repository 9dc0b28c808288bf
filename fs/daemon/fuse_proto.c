/* SPDX-License-Identifier: MIT */
/*
 * The FUSE session: INIT negotiation, the decoding of every request we
 * serve, and dispatch to the operation table (fuse_ll.c's).  Replies are
 * encoded in fuse_reply.c; requests arrive through fuse_loop.c (/dev/fuse)
 * or transport_uring.c (the rings), both of which call fp_dispatch().
 *
 * ---- INIT ----
 *
 * The kernel's fuse_init_in (major, minor, max_readahead, flags, then,
 * with FUSE_INIT_EXT, flags2: the high 32 bits) says what it offers.  We
 * answer major 7, minor min(the kernel's, FP_MINOR), and from the offer
 * the capabilities the protocol layer always takes (PROTO_WANTS) plus the
 * filesystem's (the table's init: fuse_ll.c says which and why), plus
 * FUSE_OVER_IO_URING when the kernel offers it and the rings are ready
 * (transport.h: uring_prepare, then uring_start once the kernel has the
 * reply).  max_write is the filesystem's, max_pages follows from it,
 * max_readahead is the kernel's offer; no congestion threshold or
 * background limit (the kernel's defaults).  A kernel older than
 * FP_MIN_MINOR is refused (EPROTO); one with a newer major is answered
 * with ours alone, after which it sends INIT again.  Before INIT every
 * request gets EIO; a second INIT gets EPROTO.
 *
 * What this negotiates is what the daemon negotiated under libfuse 3.14
 * with its INIT reply patched (flags 0x50d52071 against Linux 6.18:
 * ASYNC_READ, EXPORT_SUPPORT, BIG_WRITES, DONT_MASK, DO_READDIRPLUS,
 * WRITEBACK_CACHE, PARALLEL_DIROPS, POSIX_ACL, MAX_PAGES, CACHE_SYMLINKS,
 * HANDLE_KILLPRIV_V2, INIT_EXT; flags2 OVER_IO_URING on the rings;
 * max_write 1 MiB, max_pages 256, time_gran 1), with the protocol minor
 * now the highest both sides speak instead of libfuse's 31.
 *
 * ---- Requests ----
 *
 * A request is a fuse_in_header (len, opcode, unique, nodeid, uid, gid,
 * pid) and a body whose layout the opcode fixes: a fixed structure of
 * linux/fuse.h, then names (each NUL-terminated) or data.  Each decoder
 * checks that the body holds its structure and that every name ends
 * inside it; a request that does not is answered EINVAL (EIO when it is
 * too short for its header), never read past.  Opcodes we do not serve
 * get ENOSYS, after which the kernel stops sending most of them (FLUSH,
 * ACCESS, GETLK/SETLK: locks are the kernel's, POSIX_LOCKS is not taken);
 * RELEASEDIR gets 0, as we keep no per-open state of directories.
 * TMPFILE and STATX have handlers of their own.
 *
 * FORGET and BATCH_FORGET get no reply.  INTERRUPT gets none either: no
 * handler waits for anything an interrupt could cut short except fsync's
 * group commit, which is better finished, so an interrupted request is
 * answered when it completes (and a reply the kernel no longer wants
 * fails with ENOENT, which the handlers that hand over references check).
 * DESTROY is answered 0; the connection then ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse_proto.h"
#include "fuse_statx_abi.h"
#include "fuse_uring_abi.h"
#include "transport.h"

#define FP_MIN_MINOR 31   /* the layouts fuse_reply.c writes */

/* What the protocol layer takes whenever the kernel offers it. */
#define PROTO_WANTS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | \
		     FUSE_PARALLEL_DIROPS | FUSE_INIT_EXT)

static struct {
	const struct fp_ops *ops;
	void *userdata;
	bool debug;
	atomic_bool init_done;
	uint32_t max_write;         /* set before init_done */
	_Atomic uint64_t offered;   /* INIT: the kernel's flags */
	_Atomic uint64_t granted;   /* and our reply's */
} ses;

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

static const char *flag_state(uint64_t flag)
{
	return atomic_load(&ses.granted) & flag ? "yes"
	       : atomic_load(&ses.offered) & flag ? "no" : "not offered by the kernel";
}

/* The transport, the requests received since the mount, in all and by
 * opcode, and two INIT flags the live statistics have always shown. */
void fp_stats_print(FILE *f)
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
void fp_metrics_print(FILE *f)
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

/* ---- the session ---- */

void fp_session_init(const struct fp_ops *ops, void *userdata, bool debug)
{
	ses.ops = ops;
	ses.userdata = userdata;
	ses.debug = debug;
}

size_t fp_max_request(void)
{
	/* the largest WRITE, its headers, and room for any other request
	 * (names and xattr values are far smaller than max_write) */
	size_t w = atomic_load(&ses.init_done) ? ses.max_write : 0;

	return (w > (1u << 20) ? w : (1u << 20)) + (size_t)sysconf(_SC_PAGESIZE);
}

bool fp_killpriv_v2(void)
{
	return atomic_load(&ses.granted) & FUSE_HANDLE_KILLPRIV_V2;
}

/* ---- INIT ---- */

/* The most the kernel will put in a request's body or take in a reply's:
 * what ring payload buffers are sized by. */
static size_t max_payload(const struct fuse_init_out *out)
{
	size_t n = out->max_write, pages = (size_t)sysconf(_SC_PAGESIZE);

	if (out->flags & FUSE_MAX_PAGES && out->max_pages * pages > n)
		n = out->max_pages * pages;
	return n > 8192 ? n : 8192;
}

/* What the kernel offers, flags2 in the high word. */
static uint64_t init_offer(const struct fuse_init_in *in, size_t len)
{
	uint64_t f = in->flags;

	if ((in->flags & FUSE_INIT_EXT) && len >= offsetof(struct fuse_init_in, flags2) + 4)
		f |= (uint64_t)in->flags2 << 32;
	return f;
}

/* Fills out from the offer and the filesystem's choices. */
static void init_negotiate(const struct fuse_init_in *in, uint64_t offer,
			   struct fuse_init_out *out)
{
	struct fp_conn conn = { .capable = offer, .want = PROTO_WANTS,
				.max_readahead = in->max_readahead, .time_gran = 1 };
	long page = sysconf(_SC_PAGESIZE);

	ses.ops->init(ses.userdata, &conn);
	conn.want &= offer;
	if (conn.max_write < 4096)
		conn.max_write = 4096;
	memset(out, 0, sizeof(*out));
	out->major = FUSE_KERNEL_VERSION;
	out->minor = in->minor < FP_MINOR ? in->minor : FP_MINOR;
	out->max_readahead = conn.max_readahead < in->max_readahead ? conn.max_readahead
								    : in->max_readahead;
	out->flags = (uint32_t)conn.want;
	out->flags2 = (uint32_t)(conn.want >> 32);
	out->max_write = conn.max_write;
	out->time_gran = conn.time_gran;
	out->max_pages = (uint16_t)((conn.max_write - 1) / (uint32_t)page + 1);
	ses.max_write = conn.max_write;
}

static void do_init(struct fp_req *r, const char *body, size_t len)
{
	struct fuse_init_in in;
	struct fuse_init_out out;
	uint64_t offer;
	bool uring;
	int ret;

	if (atomic_load(&ses.init_done) || len < offsetof(struct fuse_init_in, flags) + 4) {
		fp_reply_err(r, EPROTO);
		return;
	}
	memset(&in, 0, sizeof(in));
	memcpy(&in, body, len < sizeof(in) ? len : sizeof(in));
	if (in.major > FUSE_KERNEL_VERSION) {
		memset(&out, 0, sizeof(out));
		out.major = FUSE_KERNEL_VERSION;
		out.minor = FP_MINOR;
		fp_reply_buf(r, &out, sizeof(out));
		return;
	}
	if (in.major < FUSE_KERNEL_VERSION || in.minor < FP_MIN_MINOR) {
		fprintf(stderr, "larchfs: FUSE protocol %u.%u is too old (7.%u or later)\n",
			in.major, in.minor, FP_MIN_MINOR);
		fp_reply_err(r, EPROTO);
		return;
	}
	offer = init_offer(&in, len);
	init_negotiate(&in, offer, &out);
	uring = uring_prepare(offer & FUSE_OVER_IO_URING, max_payload(&out));
	if (uring) {
		out.flags |= FUSE_INIT_EXT;
		out.flags2 |= (uint32_t)(FUSE_OVER_IO_URING >> 32);
	}
	/* before the reply: once the kernel has it, other threads serve
	 * requests that ask what was granted (fp_killpriv_v2, the stats) */
	atomic_store(&ses.offered, offer);
	atomic_store(&ses.granted, out.flags | (uint64_t)out.flags2 << 32);
	atomic_store(&ses.init_done, true);
	ret = fp_reply_buf(r, &out, sizeof(out));
	if (ret < 0)
		atomic_store(&ses.granted, 0);
	if (uring)
		uring_start(ret == 0);
}

/* ---- the caller ---- */

/* Parses the "Groups:" line of /proc/PID/task/TID/status. */
static int groups_parse(const char *line, int size, gid_t *list)
{
	int n = 0;

	for (const char *p = line; *p && *p != '\n'; ) {
		char *end;
		unsigned long g = strtoul(p, &end, 10);

		if (end == p)
			break;
		if (n < size)
			list[n] = (gid_t)g;
		n++;
		p = end;
	}
	return n;
}

int fp_req_groups(const struct fp_req *r, int size, gid_t *list)
{
	char path[64], buf[4096];
	const char *line;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/status", r->pid, r->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	line = strstr(buf, "\nGroups:");
	if (!line)
		return -EIO;
	return groups_parse(line + strlen("\nGroups:"), size, list);
}

/* ---- decoding ---- */

/* A cursor over a request's body. */
struct body {
	const char *p;
	size_t left;
	bool bad;
};

/* The next n bytes as a fixed structure copied to dst (zeros after the
 * end of a short body, which marks the body bad). */
static void take(struct body *b, void *dst, size_t n)
{
	if (b->left < n) {
		memset(dst, 0, n);
		b->bad = true;
		return;
	}
	memcpy(dst, b->p, n);
	b->p += n;
	b->left -= n;
}

/* The next NUL-terminated name, or "" (and bad) when it does not end
 * inside the body. */
static const char *take_name(struct body *b)
{
	size_t n = strnlen(b->p, b->left);
	const char *name = b->p;

	if (n == b->left) {
		b->bad = true;
		return "";
	}
	b->p += n + 1;
	b->left -= n + 1;
	return name;
}

static struct fp_file file_of(uint64_t fh, uint32_t flags)
{
	return (struct fp_file){ .fh = fh, .flags = flags };
}

/* ---- names ---- */

static void do_lookup(struct fp_req *r, struct body *b)
{
	const char *name = take_name(b);

	if (!b->bad)
		ses.ops->lookup(r, r->nodeid, name);
}

static void do_mknod(struct fp_req *r, struct body *b)
{
	struct fuse_mknod_in in;
	const char *name;

	take(b, &in, sizeof(in));
	name = take_name(b);
	r->umask = in.umask;
	if (!b->bad)
		ses.ops->mknod(r, r->nodeid, name, in.mode, in.rdev);
}

static void do_mkdir(struct fp_req *r, struct body *b)
{
	struct fuse_mkdir_in in;
	const char *name;

	take(b, &in, sizeof(in));
	name = take_name(b);
	r->umask = in.umask;
	if (!b->bad)
		ses.ops->mkdir(r, r->nodeid, name, in.mode);
}

/* SYMLINK's body is the new name, then the target. */
static void do_symlink(struct fp_req *r, struct body *b)
{
	const char *name = take_name(b);
	const char *target = take_name(b);

	if (!b->bad)
		ses.ops->symlink(r, target, r->nodeid, name);
}

static void do_unlink(struct fp_req *r, struct body *b)
{
	const char *name = take_name(b);

	if (b->bad)
		return;
	if (r->opcode == FUSE_RMDIR)
		ses.ops->rmdir(r, r->nodeid, name);
	else
		ses.ops->unlink(r, r->nodeid, name);
}

static void do_rename(struct fp_req *r, struct body *b)
{
	struct fuse_rename2_in in = { 0 };
	const char *name, *newname;

	if (r->opcode == FUSE_RENAME2)
		take(b, &in, sizeof(in));
	else
		take(b, &in.newdir, sizeof(in.newdir));
	name = take_name(b);
	newname = take_name(b);
	if (!b->bad)
		ses.ops->rename(r, r->nodeid, name, in.newdir, newname, in.flags);
}

static void do_link(struct fp_req *r, struct body *b)
{
	struct fuse_link_in in;
	const char *name;

	take(b, &in, sizeof(in));
	name = take_name(b);
	if (!b->bad)
		ses.ops->link(r, in.oldnodeid, r->nodeid, name);
}

/* ---- attributes ---- */

static void do_getattr(struct fp_req *r, struct body *b)
{
	struct fuse_getattr_in in;

	take(b, &in, sizeof(in));
	if (!b->bad)
		ses.ops->getattr(r, r->nodeid);
}

static void do_statx(struct fp_req *r, struct body *b)
{
	struct larch_fuse_statx_in in;

	take(b, &in, sizeof(in));
	if (!b->bad)
		ses.ops->statx(r, r->nodeid);
}

static void setattr_stat(const struct fuse_setattr_in *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = in->mode;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_size = (off_t)in->size;
	st->st_atim = (struct timespec){ (time_t)in->atime, in->atimensec };
	st->st_mtim = (struct timespec){ (time_t)in->mtime, in->mtimensec };
	st->st_ctim = (struct timespec){ (time_t)in->ctime, in->ctimensec };
}

#define SETATTR_VALID (FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_SIZE | FATTR_ATIME | \
		       FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_CTIME | \
		       FATTR_KILL_SUIDGID)

static void do_setattr(struct fp_req *r, struct body *b)
{
	struct fuse_setattr_in in;
	struct fp_file fi;
	struct stat st;

	take(b, &in, sizeof(in));
	if (b->bad)
		return;
	setattr_stat(&in, &st);
	fi = file_of(in.fh, 0);
	ses.ops->setattr(r, r->nodeid, &st, in.valid & SETATTR_VALID,
			 in.valid & FATTR_FH ? &fi : NULL);
}

static void do_readlink(struct fp_req *r, struct body *b)
{
	(void)b;
	ses.ops->readlink(r, r->nodeid);
}

/* ---- files ---- */

static void do_open(struct fp_req *r, struct body *b)
{
	struct fuse_open_in in;
	struct fp_file fi;

	take(b, &in, sizeof(in));
	if (b->bad)
		return;
	fi = file_of(0, in.flags);
	if (r->opcode == FUSE_OPENDIR)
		ses.ops->opendir(r, r->nodeid, &fi);
	else
		ses.ops->open(r, r->nodeid, &fi);
}

static void do_release(struct fp_req *r, struct body *b)
{
	struct fuse_release_in in;
	struct fp_file fi;

	take(b, &in, sizeof(in));
	if (b->bad)
		return;
	fi = file_of(in.fh, in.flags);
	if (r->opcode == FUSE_RELEASEDIR)
		fp_reply_err(r, 0);
	else
		ses.ops->release(r, r->nodeid, &fi);
}

/* CREATE's body is fuse_create_in and the name; TMPFILE's the same with
 * "/" for the name. */
static void do_create(struct fp_req *r, struct body *b)
{
	struct fuse_create_in in;
	struct fp_file fi;
	const char *name;

	take(b, &in, sizeof(in));
	name = take_name(b);
	if (b->bad)
		return;
	r->umask = in.umask;
	fi = file_of(0, in.flags);
	if (r->opcode == FUSE_TMPFILE)
		ses.ops->tmpfile(r, r->nodeid, in.mode, &fi);
	else
		ses.ops->create(r, r->nodeid, name, in.mode, &fi);
}

static void do_read(struct fp_req *r, struct body *b)
{
	struct fuse_read_in in;
	struct fp_file fi;

	take(b, &in, sizeof(in));
	if (b->bad)
		return;
	fi = file_of(in.fh, in.flags);
	if (r->opcode == FUSE_READDIR)
		ses.ops->readdir(r, r->nodeid, in.size, (off_t)in.offset, &fi);
	else if (r->opcode == FUSE_READDIRPLUS)
		ses.ops->readdirplus(r, r->nodeid, in.size, (off_t)in.offset, &fi);
	else
		ses.ops->read(r, r->nodeid, in.size, (off_t)in.offset, &fi);
}

/* The data follows the header; the kernel says how much in size. */
static void do_write(struct fp_req *r, struct body *b)
{
	struct fuse_write_in in;
	struct fp_file fi;

	take(b, &in, sizeof(in));
	if (!b->bad && b->left < in.size)
		b->bad = true;
	if (b->bad)
		return;
	fi = file_of(in.fh, in.flags);
	fi.writepage = in.write_flags & FUSE_WRITE_CACHE;
	r->write_kills_suid = in.write_flags & FUSE_WRITE_KILL_SUIDGID;
	ses.ops->write(r, r->nodeid, b->p, in.size, (off_t)in.offset, &fi);
}

static void do_fsync(struct fp_req *r, struct body *b)
{
	struct fuse_fsync_in in;
	struct fp_file fi;
	int datasync;

	take(b, &in, sizeof(in));
	if (b->bad)
		return;
	fi = file_of(in.fh, 0);
	datasync = in.fsync_flags & 1;
	if (r->opcode == FUSE_FSYNCDIR)
		ses.ops->fsyncdir(r, r->nodeid, datasync, &fi);
	else
		ses.ops->fsync(r, r->nodeid, datasync, &fi);
}

static void do_fallocate(struct fp_req *r, struct body *b)
{
	struct fuse_fallocate_in in;
	struct fp_file fi;

	take(b, &in, sizeof(in));
	fi = file_of(in.fh, 0);
	if (!b->bad)
		ses.ops->fallocate(r, r->nodeid, (int)in.mode, (off_t)in.offset,
				   (off_t)in.length, &fi);
}

static void do_lseek(struct fp_req *r, struct body *b)
{
	struct fuse_lseek_in in;
	struct fp_file fi;

	take(b, &in, sizeof(in));
	fi = file_of(in.fh, 0);
	if (!b->bad)
		ses.ops->lseek(r, r->nodeid, (off_t)in.offset, (int)in.whence, &fi);
}

static void do_copy_file_range(struct fp_req *r, struct body *b)
{
	struct fuse_copy_file_range_in in;

	take(b, &in, sizeof(in));
	if (!b->bad)
		ses.ops->copy_file_range(r, r->nodeid, (off_t)in.off_in, in.nodeid_out,
					 (off_t)in.off_out, in.len, (int)in.flags);
}

/* ---- extended attributes ---- */

/* Without FUSE_SETXATTR_EXT (not taken) the header is the 7.32 one:
 * size and flags. */
static void do_setxattr(struct fp_req *r, struct body *b)
{
	struct fuse_setxattr_in in;
	const char *name;

	take(b, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	name = take_name(b);
	if (!b->bad && b->left < in.size)
		b->bad = true;
	if (!b->bad)
		ses.ops->setxattr(r, r->nodeid, name, b->p, in.size, (int)in.flags);
}

static void do_getxattr(struct fp_req *r, struct body *b)
{
	struct fuse_getxattr_in in;
	const char *name = "";

	take(b, &in, sizeof(in));
	if (r->opcode == FUSE_GETXATTR)
		name = take_name(b);
	if (b->bad)
		return;
	if (r->opcode == FUSE_GETXATTR)
		ses.ops->getxattr(r, r->nodeid, name, in.size);
	else
		ses.ops->listxattr(r, r->nodeid, in.size);
}

static void do_removexattr(struct fp_req *r, struct body *b)
{
	const char *name = take_name(b);

	if (!b->bad)
		ses.ops->removexattr(r, r->nodeid, name);
}

/* ---- the rest ---- */

static void do_statfs(struct fp_req *r, struct body *b)
{
	(void)b;
	ses.ops->statfs(r, r->nodeid);
}

static void do_ioctl(struct fp_req *r, struct body *b)
{
	struct fuse_ioctl_in in;

	take(b, &in, sizeof(in));
	if (!b->bad && b->left < in.in_size)
		b->bad = true;
	if (!b->bad)
		ses.ops->ioctl(r, r->nodeid, in.cmd, in.flags, in.in_size ? b->p : NULL,
			       in.in_size, in.out_size);
}

static void do_forget(struct fp_req *r, struct body *b)
{
	struct fuse_forget_in in;

	take(b, &in, sizeof(in));
	if (!b->bad)
		ses.ops->forget(ses.userdata, r->nodeid, in.nlookup);
	fp_reply_none(r);
}

static void do_batch_forget(struct fp_req *r, struct body *b)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;

	take(b, &in, sizeof(in));
	for (uint32_t i = 0; i < in.count && !b->bad; i++) {
		take(b, &one, sizeof(one));
		if (!b->bad)
			ses.ops->forget(ses.userdata, one.nodeid, one.nlookup);
	}
	fp_reply_none(r);
}

static void do_interrupt(struct fp_req *r, struct body *b)
{
	(void)b;
	fp_reply_none(r);   /* see the head of the file */
}

static void do_destroy(struct fp_req *r, struct body *b)
{
	(void)b;
	fp_reply_err(r, 0);
}

/* ---- dispatch ---- */

typedef void (*decoder)(struct fp_req *r, struct body *b);

static const decoder decoders[OPCODES] = {
	[FUSE_LOOKUP] = do_lookup, [FUSE_FORGET] = do_forget,
	[FUSE_GETATTR] = do_getattr, [FUSE_SETATTR] = do_setattr,
	[FUSE_READLINK] = do_readlink, [FUSE_SYMLINK] = do_symlink,
	[FUSE_MKNOD] = do_mknod, [FUSE_MKDIR] = do_mkdir,
	[FUSE_UNLINK] = do_unlink, [FUSE_RMDIR] = do_unlink,
	[FUSE_RENAME] = do_rename, [FUSE_RENAME2] = do_rename, [FUSE_LINK] = do_link,
	[FUSE_OPEN] = do_open, [FUSE_OPENDIR] = do_open,
	[FUSE_READ] = do_read, [FUSE_READDIR] = do_read, [FUSE_READDIRPLUS] = do_read,
	[FUSE_WRITE] = do_write, [FUSE_STATFS] = do_statfs,
	[FUSE_RELEASE] = do_release, [FUSE_RELEASEDIR] = do_release,
	[FUSE_FSYNC] = do_fsync, [FUSE_FSYNCDIR] = do_fsync,
	[FUSE_SETXATTR] = do_setxattr, [FUSE_GETXATTR] = do_getxattr,
	[FUSE_LISTXATTR] = do_getxattr, [FUSE_REMOVEXATTR] = do_removexattr,
	[FUSE_CREATE] = do_create, [FUSE_TMPFILE] = do_create,
	[FUSE_INTERRUPT] = do_interrupt, [FUSE_DESTROY] = do_destroy,
	[FUSE_IOCTL] = do_ioctl, [FUSE_BATCH_FORGET] = do_batch_forget,
	[FUSE_FALLOCATE] = do_fallocate, [FUSE_LSEEK] = do_lseek,
	[FUSE_COPY_FILE_RANGE] = do_copy_file_range, [LARCH_FUSE_STATX] = do_statx,
};

static void trace(const struct fp_req *r, size_t len)
{
	const char *name = r->opcode < OPCODES ? opcode_name[r->opcode] : NULL;

	fprintf(stderr, "unique: %" PRIu64 ", opcode: %s (%u), nodeid: %" PRIu64
		", insize: %zu, pid: %u\n", r->unique, name ? name : "?", r->opcode,
		r->nodeid, len + sizeof(struct fuse_in_header), r->pid);
}

void fp_dispatch(struct fp_req *r, const struct fuse_in_header *h,
		 const char *body, size_t len)
{
	struct body b = { body, len, false };
	decoder d;

	r->unique = h->unique;
	r->nodeid = h->nodeid;
	r->opcode = h->opcode;
	r->uid = h->uid;
	r->gid = h->gid;
	r->pid = h->pid;
	r->umask = 0;
	r->write_kills_suid = false;
	r->replied = false;
	r->userdata = ses.userdata;
	if (h->opcode < OPCODES)
		atomic_fetch_add_explicit(&requests[h->opcode], 1, memory_order_relaxed);
	if (ses.debug)
		trace(r, len);
	if (h->opcode == FUSE_INIT) {
		do_init(r, body, len);
		return;
	}
	if (!atomic_load(&ses.init_done)) {
		fp_reply_err(r, EIO);
		return;
	}
	d = h->opcode < OPCODES ? decoders[h->opcode] : NULL;
	if (!d) {
		fp_reply_err(r, ENOSYS);
		return;
	}
	d(r, &b);
	if (b.bad && !r->replied)
		fp_reply_err(r, EINVAL);
}
