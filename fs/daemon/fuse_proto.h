/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level protocol as the daemon speaks it itself: a request as
 * the glue (fuse_ll.c) sees it, the operation table it fills, the replies
 * and the notifications.  libfuse only mounts and unmounts.
 *
 * Who owns what:
 *  - fuse_proto.c: the session (INIT negotiation, the state before and
 *    after it), decoding each request with its length checks, dispatch to
 *    the operation table, FORGET, INTERRUPT, DESTROY, the counts of
 *    requests by kind, and the caller's supplementary groups.
 *  - fuse_reply.c: every reply's and notification's layout.
 *  - fuse_loop.c: /dev/fuse, its reader threads and its writes.
 *  - transport_uring.c: the rings, which hand their requests to
 *    fp_dispatch() through a hook and take the replies into their entries.
 *
 * A request's reply goes wherever it came from: the transport that
 * received it sets send (and chan or fd), and every reply function ends in
 * one call of send.  A handler replies exactly once, before it returns,
 * except to FORGET (never).  The reply functions return 0 when the kernel
 * took the reply, else a negative errno (-ENOENT: the request was
 * interrupted and is gone), so that a handler can give back what a lost
 * reply would have handed over (lookup counts, opens).
 *
 * This header declares nothing of the kernel's ABI (linux/fuse.h) so that
 * main.c can include it beside libfuse's headers, which define some of the
 * same names.
 */
#ifndef LARCHFS_FUSE_PROTO_H
#define LARCHFS_FUSE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

struct fuse_in_header;
struct fp_req;

/* The newest protocol minor (7.x) we speak: the rings' (7.42), STATX's
 * (7.39).  INIT declares the lower of this and the kernel's. */
#define FP_MINOR 42

/* Sends a reply (iov[0] is its fuse_out_header); 0 or a negative errno. */
typedef int (*fp_send_fn)(struct fp_req *r, struct iovec *iov, int count);

/* One request, from its arrival to its reply. */
struct fp_req {
	uint64_t unique;
	uint64_t nodeid;
	uint32_t opcode;            /* as the kernel sent it */
	uint32_t uid, gid, pid;     /* the caller */
	uint32_t umask;             /* MKNOD, MKDIR, CREATE, TMPFILE; else 0 */
	bool write_kills_suid;      /* WRITE: FUSE_WRITE_KILL_SUIDGID */
	bool replied;
	void *userdata;             /* the session's (fp_session_init) */
	fp_send_fn send;            /* set by the transport */
	void *chan;                 /* the transport's, for send */
	int fd;                     /* /dev/fuse (or its clone) it came from */
};

/* What an open file is to the protocol (we keep no per-open state, so
 * fh is 0 in every reply). */
struct fp_file {
	uint64_t fh;
	uint32_t flags;             /* open(2)'s flags */
	bool writepage;             /* WRITE: a cached page written back */
	bool keep_cache, direct_io, cache_readdir;   /* OPEN/OPENDIR replies */
};

/* An inode handed to the kernel: the reply to LOOKUP, MKNOD, ...; ino 0
 * with entry_timeout is a negative entry the kernel may cache. */
struct fp_entry {
	uint64_t ino;
	uint64_t generation;
	struct stat attr;
	unsigned attr_timeout, entry_timeout;   /* seconds */
};

/* INIT: what the kernel offers and what the filesystem takes (the kernel's
 * FUSE_* flag bits, flags2 in the high word). */
struct fp_conn {
	uint64_t capable;
	uint64_t want;
	uint32_t max_write;
	uint32_t max_readahead;
	uint32_t time_gran;
};

/* SETATTR's valid bits are the kernel's FATTR_* (linux/fuse.h), FH and
 * LOCKOWNER removed. */
struct fp_ops {
	void (*init)(void *userdata, struct fp_conn *conn);
	void (*forget)(void *userdata, uint64_t ino, uint64_t nlookup);
	void (*lookup)(struct fp_req *r, uint64_t parent, const char *name);
	void (*getattr)(struct fp_req *r, uint64_t ino);
	void (*statx)(struct fp_req *r, uint64_t ino);
	void (*setattr)(struct fp_req *r, uint64_t ino, struct stat *attr,
			unsigned valid, struct fp_file *fi);
	void (*readlink)(struct fp_req *r, uint64_t ino);
	void (*mknod)(struct fp_req *r, uint64_t parent, const char *name,
		      mode_t mode, dev_t rdev);
	void (*mkdir)(struct fp_req *r, uint64_t parent, const char *name, mode_t mode);
	void (*unlink)(struct fp_req *r, uint64_t parent, const char *name);
	void (*rmdir)(struct fp_req *r, uint64_t parent, const char *name);
	void (*symlink)(struct fp_req *r, const char *target, uint64_t parent,
			const char *name);
	void (*rename)(struct fp_req *r, uint64_t parent, const char *name,
		       uint64_t newparent, const char *newname, unsigned flags);
	void (*link)(struct fp_req *r, uint64_t ino, uint64_t newparent,
		     const char *newname);
	void (*open)(struct fp_req *r, uint64_t ino, struct fp_file *fi);
	void (*release)(struct fp_req *r, uint64_t ino, struct fp_file *fi);
	void (*read)(struct fp_req *r, uint64_t ino, size_t size, off_t off,
		     struct fp_file *fi);
	void (*write)(struct fp_req *r, uint64_t ino, const char *buf, size_t size,
		      off_t off, struct fp_file *fi);
	void (*fsync)(struct fp_req *r, uint64_t ino, int datasync, struct fp_file *fi);
	void (*opendir)(struct fp_req *r, uint64_t ino, struct fp_file *fi);
	void (*readdir)(struct fp_req *r, uint64_t ino, size_t size, off_t off,
			struct fp_file *fi);
	void (*readdirplus)(struct fp_req *r, uint64_t ino, size_t size, off_t off,
			    struct fp_file *fi);
	void (*fsyncdir)(struct fp_req *r, uint64_t ino, int datasync, struct fp_file *fi);
	void (*statfs)(struct fp_req *r, uint64_t ino);
	void (*setxattr)(struct fp_req *r, uint64_t ino, const char *name,
			 const char *value, size_t size, int flags);
	void (*getxattr)(struct fp_req *r, uint64_t ino, const char *name, size_t size);
	void (*listxattr)(struct fp_req *r, uint64_t ino, size_t size);
	void (*removexattr)(struct fp_req *r, uint64_t ino, const char *name);
	void (*create)(struct fp_req *r, uint64_t parent, const char *name,
		       mode_t mode, struct fp_file *fi);
	void (*tmpfile)(struct fp_req *r, uint64_t parent, mode_t mode, struct fp_file *fi);
	void (*fallocate)(struct fp_req *r, uint64_t ino, int mode, off_t off,
			  off_t len, struct fp_file *fi);
	void (*lseek)(struct fp_req *r, uint64_t ino, off_t off, int whence,
		      struct fp_file *fi);
	void (*ioctl)(struct fp_req *r, uint64_t ino, unsigned cmd, unsigned flags,
		      const void *in_buf, size_t in_size, size_t out_size);
	void (*copy_file_range)(struct fp_req *r, uint64_t ino_in, off_t off_in,
				uint64_t ino_out, off_t off_out, size_t len, int flags);
};

/* ---- the session (fuse_proto.c) ---- */

/* Before the mount: the table and its userdata; debug traces each request
 * on stderr (-d). */
void fp_session_init(const struct fp_ops *ops, void *userdata, bool debug);

/*
 * Serves one request: h and its body (len bytes after the in-header,
 * contiguous).  r's send, chan and fd are the transport's; the rest is
 * filled here.  Every request that needs a reply gets exactly one before
 * this returns; a short or malformed one gets EIO or EINVAL.
 */
void fp_dispatch(struct fp_req *r, const struct fuse_in_header *h,
		 const char *body, size_t len);

/* The largest request the kernel may send after INIT: what a reader's
 * buffer must hold. */
size_t fp_max_request(void);

/* Whether INIT took FUSE_HANDLE_KILLPRIV_V2. */
bool fp_killpriv_v2(void);

/* The caller's supplementary groups (from /proc): up to size into list;
 * returns how many it has, or a negative errno. */
int fp_req_groups(const struct fp_req *r, int size, gid_t *list);

/* The live statistics' transport, request and INIT lines, and the
 * request counts for programs (lfs_stats_extra's two printers). */
void fp_stats_print(FILE *f);
void fp_metrics_print(FILE *f);

/* ---- replies (fuse_reply.c) ---- */

int  fp_reply_err(struct fp_req *r, int err);     /* err: 0 or a positive errno */
void fp_reply_none(struct fp_req *r);             /* FORGET: nothing goes back */
int  fp_reply_entry(struct fp_req *r, const struct fp_entry *e);
int  fp_reply_create(struct fp_req *r, const struct fp_entry *e, const struct fp_file *fi);
int  fp_reply_attr(struct fp_req *r, const struct stat *st, unsigned timeout);
int  fp_reply_open(struct fp_req *r, const struct fp_file *fi);
int  fp_reply_write(struct fp_req *r, size_t count);
int  fp_reply_buf(struct fp_req *r, const void *buf, size_t size);
int  fp_reply_readlink(struct fp_req *r, const char *target);
int  fp_reply_statfs(struct fp_req *r, const struct statvfs *sv);
int  fp_reply_xattr(struct fp_req *r, size_t size);
int  fp_reply_lseek(struct fp_req *r, off_t off);
int  fp_reply_ioctl(struct fp_req *r, int result, const void *buf, size_t size);

/*
 * READDIR and READDIRPLUS entries, written at buf when they fit in room.
 * Return the entry's size whether or not it was written (buf may be NULL
 * to ask).
 */
size_t fp_add_direntry(char *buf, size_t room, const char *name,
		       const struct stat *st, off_t next);
size_t fp_add_direntry_plus(char *buf, size_t room, const char *name,
			    const struct fp_entry *e, off_t next);

/* Notifications go to /dev/fuse (fp_notify_device, set by the loop). */
void fp_notify_device(int fd);
/* The kernel drops ino's cached attributes and, unless off < 0, its pages
 * from off for len bytes (0: to the end).  0 or a negative errno. */
int  fp_notify_inval_inode(uint64_t ino, off_t off, off_t len);

/* ---- /dev/fuse (fuse_loop.c) ---- */

struct fp_loop_config {
	int fd;                     /* the session's /dev/fuse */
	bool single;                /* -s: one thread */
	bool clone_fd;              /* a device clone per thread */
	unsigned max_threads;
	unsigned max_idle;          /* UINT_MAX: idle threads never leave */
};

/* Reads and serves requests until the kernel ends the connection (0) or
 * fp_loop_exit() is called (0), or on an error (a negative errno). */
int fp_loop(const struct fp_loop_config *c);

/* Ends fp_loop() now (from another thread; async-signal-unsafe). */
void fp_loop_exit(void);

#endif
