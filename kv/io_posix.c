/* SPDX-License-Identifier: MIT */
/*
 * The POSIX I/O layer: the only code in the engine that calls the kernel's
 * file API.  Files are opened relative to a directory descriptor; sync is
 * fdatasync (the size of an appended file is part of what it flushes);
 * sync_dir is fsync of the directory; the store lock is flock on LOCK,
 * whose exclusive holder writes its pid and whether it is closing there.
 * Interrupted calls are retried; short writes are continued.  writeback
 * is sync_file_range(SYNC_FILE_RANGE_WRITE), a hint whose errors the next
 * fdatasync reports.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "larchkv.h"

struct posix_io {
	lkv_io io;
	int dirfd;
	int lockfd;
};

struct lkv_file {
	int fd;
};

static struct posix_io *P(lkv_io *io) { return (struct posix_io *)io; }

static int px_open(lkv_io *io, const char *name, int flags, lkv_file **out)
{
	int of = O_CLOEXEC | ((flags & LKV_IO_RDONLY) ? O_RDONLY : O_RDWR);
	if (flags & LKV_IO_CREATE)
		of |= O_CREAT;
	if (flags & LKV_IO_EXCL)
		of |= O_EXCL;
	lkv_file *f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	do
		f->fd = openat(P(io)->dirfd, name, of, 0644);
	while (f->fd < 0 && errno == EINTR);
	if (f->fd < 0) {
		int err = -errno;
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

static void px_close(lkv_file *f)
{
	close(f->fd);
	free(f);
}

static ssize_t px_pread(lkv_file *f, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return (ssize_t)done;
}

static ssize_t px_pwrite(lkv_file *f, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += n;
	}
	return (ssize_t)done;
}

static int px_sync(lkv_file *f)
{
	return fdatasync(f->fd) ? -errno : 0;
}

static int px_truncate(lkv_file *f, uint64_t size)
{
	return ftruncate(f->fd, (off_t)size) ? -errno : 0;
}

static void px_writeback(lkv_file *f, uint64_t off, uint64_t len)
{
	sync_file_range(f->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

static int px_size(lkv_file *f, uint64_t *size)
{
	struct stat st;
	if (fstat(f->fd, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int px_unlink(lkv_io *io, const char *name)
{
	return unlinkat(P(io)->dirfd, name, 0) ? -errno : 0;
}

static int px_rename(lkv_io *io, const char *from, const char *to)
{
	return renameat(P(io)->dirfd, from, P(io)->dirfd, to) ? -errno : 0;
}

static int px_sync_dir(lkv_io *io)
{
	return fsync(P(io)->dirfd) ? -errno : 0;
}

static int px_list(lkv_io *io, int (*fn)(void *, const char *), void *arg)
{
	int fd = openat(P(io)->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	int ret = 0;
	struct dirent *de;
	while (!ret && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ret = fn(arg, de->d_name);
	closedir(d);
	return ret;
}

/* The exclusive holder writes "PID STATE\n" into the lock file (STATE:
 * open, or closing once it is on its way out), so that an open that finds
 * the lock taken can tell a store in use from one about to be let go. */
static void lock_say(struct posix_io *p, const char *state)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%ld %s\n", (long)getpid(), state);
	if (p->lockfd >= 0 && ftruncate(p->lockfd, 0) == 0 &&
	    pwrite(p->lockfd, buf, (size_t)n, 0) != n)
		return;         /* only a hint for others: nothing else to do */
}

static int px_lock(lkv_io *io, bool exclusive)
{
	struct posix_io *p = P(io);
	if (p->lockfd < 0) {
		p->lockfd = openat(p->dirfd, LKV_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (p->lockfd < 0 && errno == EROFS)
			p->lockfd = openat(p->dirfd, LKV_LOCK_FILE, O_RDONLY | O_CLOEXEC);
		if (p->lockfd < 0)
			return errno == ENOENT && !exclusive ? 0 : -errno;
	}
	if (flock(p->lockfd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB))
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	if (exclusive)
		lock_say(p, "open");
	return 0;
}

static void px_lock_closing(lkv_io *io)
{
	lock_say(P(io), "closing");
}

/* The holder's pid and state, from the lock file (see lock_say). */
static int px_lock_holder(lkv_io *io, pid_t *pid, bool *closing)
{
	char buf[64] = "";
	int fd = openat(P(io)->dirfd, LKV_LOCK_FILE, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);
	int err = fd < 0 || n < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	long v = 0;
	char state[16] = "";
	if (!err && sscanf(buf, "%ld %15s", &v, state) != 2)
		v = 0;
	*pid = (pid_t)v;
	*closing = !strcmp(state, "closing");
	return err;
}

static void px_destroy(lkv_io *io)
{
	struct posix_io *p = P(io);
	if (p->lockfd >= 0)
		close(p->lockfd);
	close(p->dirfd);
	free(p);
}

static const struct lkv_io_ops posix_ops = {
	.open = px_open, .close = px_close, .pread = px_pread, .pwrite = px_pwrite,
	.sync = px_sync, .truncate = px_truncate, .size = px_size,
	.unlink = px_unlink, .rename = px_rename, .sync_dir = px_sync_dir,
	.list = px_list, .lock = px_lock, .destroy = px_destroy,
	.writeback = px_writeback, .lock_closing = px_lock_closing,
	.lock_holder = px_lock_holder,
};

int lkv_io_posix(const char *dir, bool create, lkv_io **out)
{
	if (create && mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	struct posix_io *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		int err = -errno;
		free(p);
		return err;
	}
	p->io.ops = &posix_ops;
	p->lockfd = -1;
	*out = &p->io;
	return 0;
}
