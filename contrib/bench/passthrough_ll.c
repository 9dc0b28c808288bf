/* SPDX-License-Identifier: MIT */
/*
 * passthrough_ll: a FUSE filesystem that mirrors a host directory, written
 * with libfuse's low-level API.  fs-bench mounts it as the FUSE ceiling:
 * what any FUSE filesystem on this machine can reach at best, because
 * every request costs the same round trip to the daemon and the work
 * behind it is only the host filesystem's.
 *
 *   passthrough_ll [-f] [-d] [-s] [-o opts] SOURCE MOUNTPOINT
 *
 * Options: the standard FUSE ones, and -o nowriteback (no kernel
 * writeback cache), -o nosplice (no splice for data), -o timeout=SECS
 * (entry and attribute timeout, default 86400).
 *
 * Tuned as a passthrough meant for speed would be, and as larchfs is:
 * writeback cache, readdirplus always, 1 MiB requests, long entry and
 * attribute timeouts, keep_cache on open, a multi-threaded session loop.
 * Reads reply straight from the host file (fuse_reply_data with an
 * FUSE_BUF_FD_SEEK buffer, spliced when the kernel can), writes go
 * through write_buf (fuse_buf_copy from the request, spliced too).
 *
 * Inodes: each inode the kernel knows has a record with a lookup count;
 * the FUSE inode number is the record's address.  Records are found by
 * (st_dev, st_ino) in a hash table under one mutex, so a second name for a
 * file (a hard link, a lookup racing a create) gets the same inode.  The
 * kernel's FORGET drops the count and the record with it.  A record holds
 * an O_PATH descriptor of the host file, as libfuse's example does, while
 * the descriptors last: the kernel keeps every inode it has seen until
 * memory runs short, 100,000 files are 100,000 inodes, and RLIMIT_NOFILE
 * may be far lower (20,000 in containers without CAP_SYS_RESOURCE).  So
 * the daemon raises the limit as far as it may, and past a budget below it
 * new records keep a file handle instead (name_to_handle_at) and open a
 * descriptor from it for each operation (open_by_handle_at, which needs
 * CAP_DAC_READ_SEARCH: run as root).  That costs a system call or two per
 * operation on those inodes, small against the FUSE round trip.  SOURCE
 * must be one host filesystem (handles are per mount).
 *
 * Not a general-purpose passthrough: it acts with its own credentials (no
 * setfsuid per request: fs-bench runs as root), leaves out xattrs, locks,
 * ioctl and copy_file_range, and with the writeback cache opens write-only
 * files read-write and drops O_APPEND (the kernel needs to read pages it
 * writes partly, and appends itself), as libfuse's example does.
 */
#define FUSE_USE_VERSION 314

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT 86400.0
#define MAX_WRITE       (1u << 20)
#define INITIAL_BUCKETS (1u << 14)

/* ---- types ---- */

struct pt_inode {
	struct pt_inode *next;    /* hash chain, under pt.lock */
	atomic_int fd;            /* O_PATH descriptor of the host file, or -1 */
	struct file_handle *handle;   /* when fd is -1 (fd may be set later) */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;         /* the kernel's references, under pt.lock */
};

struct pt_dir {
	DIR *dp;
	struct dirent *entry;     /* read but not yet sent */
	off_t offset;             /* where dp stands */
};

struct pt {
	pthread_mutex_t lock;
	struct pt_inode **buckets;
	size_t nbuckets, count;
	size_t fds, fd_budget;    /* descriptors records hold, and how many they may */
	size_t handles;           /* records made with a handle */
	struct pt_inode root;
	int mount_fd;             /* SOURCE opened for reading: O_PATH will not do */
	double timeout;
	int writeback, splice;
	char *source;
};

static struct pt pt = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the inode table ---- */

static struct pt_inode *inode_of(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &pt.root : (struct pt_inode *)(uintptr_t)ino;
}

static size_t bucket_of(dev_t dev, ino_t ino, size_t nbuckets)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (nbuckets - 1);
}

/* Doubles the table when it is full; a failed allocation only leaves the
 * chains longer.  Called under pt.lock. */
static void table_grow(void)
{
	size_t n = pt.nbuckets * 2;
	struct pt_inode **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < pt.nbuckets; i++) {
		struct pt_inode *p = pt.buckets[i], *next;
		for (; p; p = next) {
			size_t k = bucket_of(p->dev, p->ino, n);
			next = p->next;
			p->next = b[k];
			b[k] = p;
		}
	}
	free(pt.buckets);
	pt.buckets = b;
	pt.nbuckets = n;
}

/* The file handle of the file open as fd, or NULL with errno set. */
static struct file_handle *handle_of(int fd)
{
	struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	int mount_id;

	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", h, &mount_id, AT_EMPTY_PATH) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

/*
 * Takes one lookup reference on the inode of st, making a record for it
 * when there is none: the record takes *fd (and *fd is set to -1) while the
 * descriptor budget lasts, else keeps a handle of it.  Returns the record,
 * or NULL with errno set.
 */
static struct pt_inode *inode_get(const struct stat *st, int *fd)
{
	struct pt_inode *p;
	size_t k;

	pthread_mutex_lock(&pt.lock);
	k = bucket_of(st->st_dev, st->st_ino, pt.nbuckets);
	for (p = pt.buckets[k]; p; p = p->next)
		if (p->ino == st->st_ino && p->dev == st->st_dev)
			break;
	if (!p && (p = calloc(1, sizeof(*p)))) {
		p->fd = -1;
		if (pt.fds < pt.fd_budget) {
			p->fd = *fd;
			*fd = -1;
			pt.fds++;
		} else if ((p->handle = handle_of(*fd))) {
			pt.handles++;
		} else {
			free(p);
			pthread_mutex_unlock(&pt.lock);
			return NULL;
		}
		p->dev = st->st_dev;
		p->ino = st->st_ino;
		p->next = pt.buckets[k];
		pt.buckets[k] = p;
		if (++pt.count > pt.nbuckets)
			table_grow();
	}
	if (p)
		p->nlookup++;
	pthread_mutex_unlock(&pt.lock);
	return p;
}

/* Drops n lookup references; the last one frees the record. */
static void inode_put(struct pt_inode *p, uint64_t n)
{
	struct pt_inode **pp;

	if (p == &pt.root)
		return;
	pthread_mutex_lock(&pt.lock);
	p->nlookup -= n < p->nlookup ? n : p->nlookup;
	if (p->nlookup) {
		pthread_mutex_unlock(&pt.lock);
		return;
	}
	pp = &pt.buckets[bucket_of(p->dev, p->ino, pt.nbuckets)];
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	pt.count--;
	if (p->fd >= 0)
		pt.fds--;
	if (p->handle)
		pt.handles--;
	pthread_mutex_unlock(&pt.lock);
	if (p->fd >= 0)
		close(p->fd);
	free(p->handle);
	free(p);
}

/* An O_PATH descriptor of the inode, or -1 with errno set: its own, or
 * one opened from its handle, which fd_put closes. */
static int fd_get(fuse_ino_t ino)
{
	struct pt_inode *p = inode_of(ino);
	int fd = p->fd;

	return fd >= 0 ? fd : open_by_handle_at(pt.mount_fd, p->handle, O_PATH);
}

static void fd_put(fuse_ino_t ino, int fd)
{
	if (fd >= 0 && fd != inode_of(ino)->fd)
		close(fd);
}

/* ---- helpers ---- */

static int proc_path(char *buf, size_t len, int fd)
{
	return snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/*
 * Looks name up in parent on the host and fills e, taking a reference.
 * Returns 0 or an errno.
 */
static int do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	struct pt_inode *p;
	int fd;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = pt.timeout;
	e->entry_timeout = pt.timeout;
	int dfd = fd_get(parent);
	if (dfd < 0)
		return errno;
	fd = openat(dfd, name, O_PATH | O_NOFOLLOW);
	int err = errno;
	fd_put(parent, dfd);
	if (fd < 0)
		return err;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
		err = errno;
		close(fd);
		return err;
	}
	p = inode_get(&e->attr, &fd);
	err = errno;
	if (fd >= 0)
		close(fd);
	if (!p)
		return err;
	e->ino = (uintptr_t)p;
	return 0;
}

static void reply_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(parent, name, &e);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* The open flags to use on the host: with the writeback cache the kernel
 * reads pages of files opened write-only, and does appends itself. */
static int host_flags(int flags)
{
	if (pt.writeback) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags & ~O_NOFOLLOW;
}

/* ---- operations ---- */

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	unsigned want = FUSE_CAP_READDIRPLUS | FUSE_CAP_EXPORT_SUPPORT;

	(void)userdata;
	if (pt.writeback)
		want |= FUSE_CAP_WRITEBACK_CACHE;
	if (pt.splice)
		want |= FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want |= want & conn->capable;
	conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_HANDLE_KILLPRIV);
	if (!pt.splice)
		conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
					  FUSE_CAP_SPLICE_MOVE);
	conn->max_write = MAX_WRITE;
	conn->time_gran = 1;
	pt.writeback = !!(conn->want & FUSE_CAP_WRITEBACK_CACHE);
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_lookup(req, parent, name);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_put(inode_of(ino), nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		inode_put(inode_of(f[i].ino), f[i].nlookup);
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int fd = fd_get(ino), r = -1, err;

	(void)fi;
	if (fd >= 0)
		r = fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	err = errno;
	fd_put(ino, fd);
	if (r != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, pt.timeout);
}

/* Applies the time fields of a SETATTR; returns 0 or -1 with errno. */
static int set_times(const char *path, const struct stat *attr, int valid)
{
	struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	return utimensat(AT_FDCWD, path, tv, 0);
}

/* fi, when given, is an open regular file (the kernel sends a handle for
 * no other kind); the rest goes through /proc/self/fd of the O_PATH
 * descriptor, which works for every kind of file. */
static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	int ifd = fd_get(ino), r = 0, err;
	char path[64];

	if (ifd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	proc_path(path, sizeof(path), ifd);
	if (valid & FUSE_SET_ATTR_MODE)
		r = chmod(path, attr->st_mode);
	if (r == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = fchownat(ifd, "",
			     (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
			     (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (r == 0 && (valid & FUSE_SET_ATTR_SIZE))
		r = fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(path, attr->st_size);
	if (r == 0 && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		r = set_times(path, attr, valid);
	err = errno;
	fd_put(ino, ifd);
	if (r != 0)
		fuse_reply_err(req, err);
	else
		pt_getattr(req, ino, fi);
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	int fd = fd_get(ino), err;
	ssize_t n = fd < 0 ? -1 : readlinkat(fd, "", buf, sizeof(buf));

	err = errno;
	fd_put(ino, fd);
	if (n < 0)
		fuse_reply_err(req, err);
	else if (n == (ssize_t)sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = 0;
		fuse_reply_readlink(req, buf);
	}
}

/* mknod, mkdir and symlink: make the node on the host, then look it up. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link)
{
	int dfd = fd_get(parent), r = -1, err;

	if (dfd >= 0 && link)
		r = symlinkat(link, dfd, name);
	else if (dfd >= 0 && S_ISDIR(mode))
		r = mkdirat(dfd, name, mode);
	else if (dfd >= 0)
		r = mknodat(dfd, name, mode, rdev);
	err = errno;
	fd_put(parent, dfd);
	if (r != 0)
		fuse_reply_err(req, err);
	else
		reply_lookup(req, parent, name);
}

static void pt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | mode, 0, NULL);
}

static void pt_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, parent, name, S_IFLNK, 0, link);
}

static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	int fd = fd_get(ino), dfd = fd_get(parent), r = -1, err;
	char path[64];

	if (fd >= 0 && dfd >= 0) {
		proc_path(path, sizeof(path), fd);
		r = linkat(AT_FDCWD, path, dfd, name, AT_SYMLINK_FOLLOW);
	}
	err = errno;
	fd_put(ino, fd);
	fd_put(parent, dfd);
	if (r != 0)
		fuse_reply_err(req, err);
	else
		reply_lookup(req, parent, name);
}

/*
 * Before a file is unlinked, a record of it that keeps only a handle gets a
 * descriptor: the kernel may still send requests for the inode (SETATTR
 * of the times it cached) after the unlink, and the handle of a deleted
 * file is stale.  Costs nothing while no record keeps a handle.
 */
static void pin_before_unlink(int dfd, const char *name)
{
	struct pt_inode *p;
	struct stat st;
	int fd;

	pthread_mutex_lock(&pt.lock);
	size_t handles = pt.handles;
	pthread_mutex_unlock(&pt.lock);
	if (!handles || (fd = openat(dfd, name, O_PATH | O_NOFOLLOW)) < 0)
		return;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0) {
		pthread_mutex_lock(&pt.lock);
		p = pt.buckets[bucket_of(st.st_dev, st.st_ino, pt.nbuckets)];
		while (p && (p->ino != st.st_ino || p->dev != st.st_dev))
			p = p->next;
		if (p && p->fd < 0) {
			p->fd = fd;
			fd = -1;
			pt.fds++;
		}
		pthread_mutex_unlock(&pt.lock);
	}
	if (fd >= 0)
		close(fd);
}

static void reply_unlink(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	int dfd = fd_get(parent), r = -1, err;

	if (dfd >= 0 && !(flags & AT_REMOVEDIR))
		pin_before_unlink(dfd, name);
	if (dfd >= 0)
		r = unlinkat(dfd, name, flags);
	err = errno;

	fd_put(parent, dfd);
	fuse_reply_err(req, r ? err : 0);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_unlink(req, parent, name, 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_unlink(req, parent, name, AT_REMOVEDIR);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	int from = fd_get(parent), to = fd_get(newparent), r = -1, err;

	if (from >= 0 && to >= 0)
		r = renameat2(from, name, to, newname, flags);
	err = errno;
	fd_put(parent, from);
	fd_put(newparent, to);
	fuse_reply_err(req, r ? err : 0);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pt_inode *p = inode_of(ino);
	char path[64];
	int fd, pfd = p->fd;

	if (pfd >= 0) {
		proc_path(path, sizeof(path), pfd);
		fd = open(path, host_flags(fi->flags));
	} else {
		fd = open_by_handle_at(pt.mount_fd, p->handle, host_flags(fi->flags));
	}
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		close(fd);
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int fd, err;

	int dfd = fd_get(parent);

	fd = dfd < 0 ? -1 : openat(dfd, name, host_flags(fi->flags) | O_CREAT, mode);
	err = errno;
	fd_put(parent, dfd);
	if (fd < 0) {
		fuse_reply_err(req, err);
		return;
	}
	err = do_lookup(parent, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		close(fd);
		inode_put(inode_of(e.ino), 1);
	}
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, pt.splice ? FUSE_BUF_SPLICE_MOVE : FUSE_BUF_NO_SPLICE);
}

static void pt_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t r;

	(void)ino;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	r = fuse_buf_copy(&out, in, pt.splice ? 0 : FUSE_BUF_NO_SPLICE);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void pt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* close() of a duplicate reports what close of the file would */
	int r = close(dup((int)fi->fh));

	(void)ino;
	fuse_reply_err(req, r ? errno : 0);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);

	(void)ino;
	fuse_reply_err(req, r ? errno : 0);
}

static void pt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	int r = fallocate((int)fi->fh, mode, off, len);

	(void)ino;
	fuse_reply_err(req, r ? errno : 0);
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pt_dir *d = calloc(1, sizeof(*d));
	int fd, err;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int ifd = fd_get(ino);

	fd = ifd < 0 ? -1 : openat(ifd, ".", O_RDONLY | O_DIRECTORY);
	fd_put(ino, ifd);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		err = errno;
		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0) {
		closedir(d->dp);
		free(d);
	}
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/*
 * READDIR and READDIRPLUS.  An entry read from the host that does not fit
 * the reply is kept for the next call.  With plus, each entry but . and
 * .. is looked up (a reference the kernel now holds); an entry that did
 * not fit gives its reference back.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct pt_dir *d = (struct pt_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct fuse_entry_param e;
		size_t n;

		if (!d->entry) {
			errno = 0;
			if (!(d->entry = readdir(d->dp))) {
				err = errno;
				break;
			}
		}
		const char *name = d->entry->d_name;
		off_t next = d->entry->d_off;
		if (!plus) {
			struct stat st = { .st_ino = d->entry->d_ino,
					   .st_mode = (mode_t)d->entry->d_type << 12 };
			n = fuse_add_direntry(req, p, rem, name, &st, next);
			if (n > rem)
				break;
		} else if (is_dot(name)) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = d->entry->d_ino;
			e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			n = fuse_add_direntry_plus(req, p, rem, name, &e, next);
			if (n > rem)
				break;
		} else {
			if ((err = do_lookup(ino, name, &e)) != 0)
				break;
			n = fuse_add_direntry_plus(req, p, rem, name, &e, next);
			if (n > rem) {
				inode_put(inode_of(e.ino), 1);
				break;
			}
		}
		p += n;
		rem -= n;
		d->entry = NULL;
		d->offset = next;
	}
	/* an error after some entries: send those, the error comes next time */
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pt_dir *d = (struct pt_dir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = dirfd(((struct pt_dir *)(uintptr_t)fi->fh)->dp);
	int r = datasync ? fdatasync(fd) : fsync(fd);

	(void)ino;
	fuse_reply_err(req, r ? errno : 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int fd = fd_get(ino), r = fd < 0 ? -1 : fstatvfs(fd, &sv), err = errno;

	fd_put(ino, fd);
	if (r != 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.forget_multi = pt_forget_multi,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.symlink = pt_symlink,
	.link = pt_link,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.open = pt_open,
	.create = pt_create,
	.read = pt_read,
	.write_buf = pt_write_buf,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.fallocate = pt_fallocate,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
};

/* ---- main ---- */

struct pt_opts {
	int nowriteback, nosplice;
	double timeout;
};

static const struct fuse_opt pt_opt_spec[] = {
	{ "nowriteback", offsetof(struct pt_opts, nowriteback), 1 },
	{ "nosplice", offsetof(struct pt_opts, nosplice), 1 },
	{ "timeout=%lf", offsetof(struct pt_opts, timeout), 0 },
	FUSE_OPT_END
};

/* Takes the first non-option argument as SOURCE and leaves the rest
 * (the mount point) to fuse_parse_cmdline. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !pt.source) {
		pt.source = strdup(arg);
		return 0;
	}
	return 1;
}

/* Raises RLIMIT_NOFILE as far as allowed; returns how many descriptors
 * inode records may keep, leaving room for open files and directories. */
static size_t raise_nofile(void)
{
	struct rlimit rl;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	unsigned long nr = 0;

	if (f) {
		if (fscanf(f, "%lu", &nr) != 1)
			nr = 0;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 512;
	if (nr > rl.rlim_max) {
		struct rlimit up = { nr, nr };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 4096 ? (size_t)(rl.rlim_cur - 2048) : (size_t)rl.rlim_cur / 2;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct pt_opts o = { .timeout = DEFAULT_TIMEOUT };
	struct fuse_cmdline_opts co = { 0 };
	struct fuse_loop_config *cfg;
	struct fuse_session *se = NULL;
	int ret = 1;

	if (fuse_opt_parse(&args, &o, pt_opt_spec, opt_proc) != 0 ||
	    fuse_parse_cmdline(&args, &co) != 0)
		return 1;
	if (co.show_help || !pt.source || !co.mountpoint) {
		printf("usage: %s [-f] [-d] [-s] [-o opts] SOURCE MOUNTPOINT\n"
		       "    -o nowriteback  no kernel writeback cache\n"
		       "    -o nosplice     no splice for read and write data\n"
		       "    -o timeout=S    entry and attribute timeout (default %.0f)\n",
		       argv[0], DEFAULT_TIMEOUT);
		if (co.show_help)
			fuse_lowlevel_help();
		ret = co.show_help ? 0 : 1;
		goto out;
	}
	pt.timeout = o.timeout;
	pt.writeback = !o.nowriteback;
	pt.splice = !o.nosplice;
	pt.nbuckets = INITIAL_BUCKETS;
	pt.buckets = calloc(pt.nbuckets, sizeof(*pt.buckets));
	pt.root.nlookup = 2;
	pt.root.fd = open(pt.source, O_PATH | O_DIRECTORY);
	pt.mount_fd = open(pt.source, O_RDONLY | O_DIRECTORY);
	if (!pt.buckets || pt.root.fd < 0 || pt.mount_fd < 0) {
		fprintf(stderr, "passthrough_ll: %s: %s\n", pt.source, strerror(errno));
		goto out;
	}
	pt.fd_budget = raise_nofile();
	umask(0);   /* the kernel has applied the caller's umask already */
	if (fuse_opt_add_arg(&args, "-odefault_permissions,fsname=passthrough") != 0)
		goto out;
	se = fuse_session_new(&args, &pt_ops, sizeof(pt_ops), NULL);
	if (!se || fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, co.mountpoint) != 0)
		goto out_handlers;
	fuse_daemonize(co.foreground);
	if (co.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		cfg = fuse_loop_cfg_create();
		if (!cfg)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(cfg, (unsigned)co.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, co.max_threads);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	ret = ret < 0 ? 1 : 0;
out_unmount:
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	free(co.mountpoint);
	free(pt.source);
	fuse_opt_free_args(&args);
	return ret;
}
