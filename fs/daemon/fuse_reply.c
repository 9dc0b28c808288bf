/* SPDX-License-Identifier: MIT */
/*
 * The replies and notifications of the FUSE protocol, encoded here and
 * nowhere else (layouts: linux/fuse.h, whose structures are used as they
 * are; protocol 7.31 and later, which fuse_proto.c's INIT requires).
 *
 * Every reply is one fuse_out_header (len: the whole reply; error: 0 or a
 * negative errno; unique: the request's) followed by its body:
 *  - error:      nothing;
 *  - entry:      fuse_entry_out (nodeid, generation, entry and attr
 *                validity in seconds + nanoseconds, fuse_attr);
 *  - create:     fuse_entry_out, then fuse_open_out;
 *  - attr:       fuse_attr_out;
 *  - open:       fuse_open_out (fh, FOPEN_* flags);
 *  - write:      fuse_write_out (bytes taken);
 *  - statfs:     fuse_statfs_out;
 *  - xattr size: fuse_getxattr_out;
 *  - lseek:      fuse_lseek_out;
 *  - ioctl:      fuse_ioctl_out (result), then the data it returns;
 *  - data:       the bytes themselves (READ, READLINK without the NUL,
 *                GETXATTR and LISTXATTR values, READDIR(PLUS) buffers).
 * A READDIR buffer is a run of fuse_dirent (ino, next offset, name length,
 * DT_ type) each followed by its name, padded with zeros to 8 bytes; a
 * READDIRPLUS buffer the same with a fuse_entry_out before each dirent.
 *
 * A notification is a fuse_out_header with unique 0 and the notification's
 * code in error, then its body, written to /dev/fuse (never to a ring):
 * INVAL_INODE's is fuse_notify_inval_inode_out (ino, off, len).
 *
 * A reply goes out through the request's send (the transport's); the
 * first reply to a request marks it replied, and a second one is refused
 * with -EALREADY rather than sent.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuse_proto.h"

static int notify_fd = -1;

/* ---- the header, and sending ---- */

static int send_reply(struct fp_req *r, int error, struct iovec *body, int count)
{
	struct fuse_out_header out = { .error = -error, .unique = r->unique };
	struct iovec iov[4];
	size_t len = sizeof(out);

	if (r->replied)
		return -EALREADY;
	r->replied = true;
	iov[0] = (struct iovec){ &out, sizeof(out) };
	for (int i = 0; i < count; i++) {
		iov[i + 1] = body[i];
		len += body[i].iov_len;
	}
	out.len = (uint32_t)len;
	return r->send(r, iov, count + 1);
}

static int send_one(struct fp_req *r, const void *p, size_t n)
{
	struct iovec body = { (void *)p, n };

	return send_reply(r, 0, &body, n ? 1 : 0);
}

int fp_reply_err(struct fp_req *r, int err)
{
	return send_reply(r, err, NULL, 0);
}

void fp_reply_none(struct fp_req *r)
{
	r->replied = true;
}

/* ---- attributes and entries ---- */

static void attr_fill(struct fuse_attr *a, const struct stat *st)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = (uint32_t)st->st_rdev;   /* glibc's dev_t is the kernel's
					      new_encode_dev below 2^32 */
	a->blksize = (uint32_t)st->st_blksize;
}

static void entry_out_fill(struct fuse_entry_out *o, const struct fp_entry *e)
{
	memset(o, 0, sizeof(*o));
	o->nodeid = e->ino;
	o->generation = e->generation;
	o->entry_valid = e->entry_timeout;
	o->attr_valid = e->attr_timeout;
	attr_fill(&o->attr, &e->attr);
}

int fp_reply_entry(struct fp_req *r, const struct fp_entry *e)
{
	struct fuse_entry_out o;

	entry_out_fill(&o, e);
	return send_one(r, &o, sizeof(o));
}

static void open_out_fill(struct fuse_open_out *o, const struct fp_file *fi)
{
	memset(o, 0, sizeof(*o));
	o->fh = fi->fh;
	o->open_flags = (fi->keep_cache ? FOPEN_KEEP_CACHE : 0) |
			(fi->direct_io ? FOPEN_DIRECT_IO : 0) |
			(fi->cache_readdir ? FOPEN_CACHE_DIR : 0);
}

int fp_reply_create(struct fp_req *r, const struct fp_entry *e, const struct fp_file *fi)
{
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	struct iovec body[2] = { { &eo, sizeof(eo) }, { &oo, sizeof(oo) } };

	entry_out_fill(&eo, e);
	open_out_fill(&oo, fi);
	return send_reply(r, 0, body, 2);
}

int fp_reply_attr(struct fp_req *r, const struct stat *st, unsigned timeout)
{
	struct fuse_attr_out o;

	memset(&o, 0, sizeof(o));
	o.attr_valid = timeout;
	attr_fill(&o.attr, st);
	return send_one(r, &o, sizeof(o));
}

int fp_reply_open(struct fp_req *r, const struct fp_file *fi)
{
	struct fuse_open_out o;

	open_out_fill(&o, fi);
	return send_one(r, &o, sizeof(o));
}

/* ---- small fixed replies ---- */

int fp_reply_write(struct fp_req *r, size_t count)
{
	struct fuse_write_out o = { .size = (uint32_t)count };

	return send_one(r, &o, sizeof(o));
}

int fp_reply_buf(struct fp_req *r, const void *buf, size_t size)
{
	return send_one(r, buf, size);
}

int fp_reply_readlink(struct fp_req *r, const char *target)
{
	return send_one(r, target, strlen(target));
}

int fp_reply_statfs(struct fp_req *r, const struct statvfs *sv)
{
	struct fuse_statfs_out o;

	memset(&o, 0, sizeof(o));
	o.st.blocks = sv->f_blocks;
	o.st.bfree = sv->f_bfree;
	o.st.bavail = sv->f_bavail;
	o.st.files = sv->f_files;
	o.st.ffree = sv->f_ffree;
	o.st.bsize = (uint32_t)sv->f_bsize;
	o.st.namelen = (uint32_t)sv->f_namemax;
	o.st.frsize = (uint32_t)sv->f_frsize;
	return send_one(r, &o, sizeof(o));
}

int fp_reply_xattr(struct fp_req *r, size_t size)
{
	struct fuse_getxattr_out o = { .size = (uint32_t)size };

	return send_one(r, &o, sizeof(o));
}

int fp_reply_lseek(struct fp_req *r, off_t off)
{
	struct fuse_lseek_out o = { .offset = (uint64_t)off };

	return send_one(r, &o, sizeof(o));
}

int fp_reply_ioctl(struct fp_req *r, int result, const void *buf, size_t size)
{
	struct fuse_ioctl_out o = { .result = result };
	struct iovec body[2] = { { &o, sizeof(o) }, { (void *)buf, size } };

	return send_reply(r, 0, body, size ? 2 : 1);
}

/* ---- directory listings ---- */

static size_t dirent_put(char *at, size_t room, const char *name, uint64_t ino,
			 unsigned type, off_t next)
{
	size_t namelen = strlen(name);
	size_t size = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
	struct fuse_dirent d = { .ino = ino, .off = (uint64_t)next,
				 .namelen = (uint32_t)namelen, .type = type };

	if (!at || size > room)
		return size;
	memcpy(at, &d, FUSE_NAME_OFFSET);
	memcpy(at + FUSE_NAME_OFFSET, name, namelen);
	memset(at + FUSE_NAME_OFFSET + namelen, 0, size - FUSE_NAME_OFFSET - namelen);
	return size;
}

size_t fp_add_direntry(char *buf, size_t room, const char *name,
		       const struct stat *st, off_t next)
{
	return dirent_put(buf, room, name, st->st_ino, (st->st_mode & S_IFMT) >> 12, next);
}

size_t fp_add_direntry_plus(char *buf, size_t room, const char *name,
			    const struct fp_entry *e, off_t next)
{
	size_t size = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + strlen(name));
	struct fuse_entry_out eo;

	if (!buf || size > room)
		return size;
	entry_out_fill(&eo, e);
	memcpy(buf, &eo, sizeof(eo));
	dirent_put(buf + sizeof(eo), room - sizeof(eo), name, e->attr.st_ino,
		   (e->attr.st_mode & S_IFMT) >> 12, next);
	return size;
}

_Static_assert(FUSE_NAME_OFFSET_DIRENTPLUS == sizeof(struct fuse_entry_out) + FUSE_NAME_OFFSET,
	       "a direntplus is an entry_out and a dirent");

/* ---- notifications ---- */

void fp_notify_device(int fd)
{
	notify_fd = fd;
}

int fp_notify_inval_inode(uint64_t ino, off_t off, off_t len)
{
	struct fuse_notify_inval_inode_out o = { .ino = ino, .off = off, .len = len };
	struct fuse_out_header h = { .len = sizeof(h) + sizeof(o),
				     .error = FUSE_NOTIFY_INVAL_INODE };
	struct iovec iov[2] = { { &h, sizeof(h) }, { &o, sizeof(o) } };

	if (notify_fd < 0)
		return -ENOTCONN;
	return writev(notify_fd, iov, 2) < 0 ? -errno : 0;
}
