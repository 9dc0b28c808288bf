/* SPDX-License-Identifier: MIT */
/*
 * fsutil.h: the fixture and small helpers the unit tests of the larchfs
 * core (tests/fs/test_*.c) share.
 *
 * Each test gets its own store: fx_setup makes a fresh directory with
 * mkdtemp under $TMPDIR (default /tmp), formats a filesystem in DIR/store
 * with default options, mounts it with default options, and fx_teardown
 * unmounts it and removes the whole directory.  Operations run as root
 * (cred uid 0, gid 0, umask 022) unless a test says otherwise.
 *
 * Every helper that creates or looks up an inode drops the reference the
 * core hands out (lfs_forget), so an unlinked inode is reclaimed at once
 * unless a test holds a reference on purpose.
 *
 * Header-only: every function is static inline so that a test file that
 * does not use one still builds with -Werror.
 */
#ifndef LARCHFS_TESTS_FSUTIL_H
#define LARCHFS_TESTS_FSUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lfs.h"
#include "../support/testrng.h"

/* ---- checking return codes ------------------------------------------- */

static inline const char *fx_errname(long long v)
{
	return v < 0 ? strerror((int)-v) : "ok";
}

/* Fails with both values and their errno names unless expr == want. */
#define assert_rc(expr, want)                                                  \
	do {                                                                   \
		long long got_ = (long long)(expr);                            \
		long long want_ = (long long)(want);                           \
		if (got_ != want_)                                             \
			fail_msg("%s:%d: %s = %lld (%s), want %lld (%s)",      \
				 __FILE__, __LINE__, #expr, got_,              \
				 fx_errname(got_), want_, fx_errname(want_));  \
	} while (0)

#define assert_ok(expr) assert_rc((expr), 0)

/* ---- the fixture ----------------------------------------------------- */

struct fx {
	char dir[PATH_MAX];       /* the mkdtemp directory */
	char store[PATH_MAX + 16]; /* DIR/store: the filesystem */
	lfs *fs;
	struct lfs_cred cred;     /* root, umask 022 */
	struct lfs_info info;     /* of the mounted filesystem */
	struct lfs_format_options fo;
	struct lfs_mount_options mo;
	char log[8192];           /* what the core logged */
};

static inline void fx_log(void *arg, int level, const char *msg)
{
	struct fx *f = arg;
	size_t n = strlen(f->log);

	(void)level;
	if (n + 1 < sizeof(f->log))
		snprintf(f->log + n, sizeof(f->log) - n, "%s\n", msg);
}

static inline struct lfs_cred fx_cred(uid_t uid, gid_t gid, mode_t umask)
{
	struct lfs_cred c = { .uid = uid, .gid = gid, .umask = umask,
			      .groups = NULL, .ngroups = 0 };
	return c;
}

/* Mounts f->store with f->mo; fails the test on error. */
static inline void fx_mount(struct fx *f)
{
	int rc = lfs_mount(f->store, &f->mo, &f->fs);

	if (rc)
		fail_msg("lfs_mount(%s) = %d (%s); log:\n%s", f->store, rc,
			 fx_errname(rc), f->log);
	lfs_get_info(f->fs, &f->info);
}

static inline void fx_unmount(struct fx *f)
{
	lfs *fs = f->fs;

	f->fs = NULL;
	assert_ok(lfs_unmount(fs));
}

static inline void fx_remount(struct fx *f)
{
	fx_unmount(f);
	fx_mount(f);
}

/* Makes the temporary directory only (for tests of format and mount). */
static inline struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return NULL;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/larchfs-utest-XXXXXX", tmp);
	if (!mkdtemp(f->dir)) {
		free(f);
		return NULL;
	}
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->cred = fx_cred(0, 0, 022);
	lfs_format_options_default(&f->fo);
	lfs_mount_options_default(&f->mo);
	f->mo.log = fx_log;
	f->mo.log_arg = f;
	return f;
}

/* fx_new + format (with f->fo as set by `tune`, may be NULL) + mount. */
static inline int fx_setup_with(void **state, void (*tune)(struct fx *))
{
	struct fx *f = fx_new();
	char why[256] = "";
	int rc;

	if (!f)
		return -1;
	*state = f;
	if (tune)
		tune(f);
	rc = lfs_format(f->store, &f->fo, NULL, why);
	if (rc) {
		fprintf(stderr, "lfs_format(%s) = %d (%s): %s\n", f->store, rc,
			fx_errname(rc), why);
		return -1;
	}
	rc = lfs_mount(f->store, &f->mo, &f->fs);
	if (rc) {
		fprintf(stderr, "lfs_mount(%s) = %d (%s)\n%s", f->store, rc,
			fx_errname(rc), f->log);
		f->fs = NULL;
		return -1;
	}
	lfs_get_info(f->fs, &f->info);
	return 0;
}

static inline int fx_setup(void **state)
{
	return fx_setup_with(state, NULL);
}

/* fx_new only: the test formats and mounts by itself. */
static inline int fx_setup_bare(void **state)
{
	*state = fx_new();
	return *state ? 0 : -1;
}

static inline int fx_rm_one(const char *path, const struct stat *st, int flag,
			    struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	int rc = 0;

	if (!f)
		return 0;
	if (f->fs)
		lfs_unmount(f->fs);
	if (f->dir[0] && nftw(f->dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS))
		rc = -1;
	free(f);
	return rc;
}

#define fx_test(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* A store of 4 KiB blocks with a 1 KiB blob threshold: files span many
 * more blocks, and most blocks are blobs. */
static inline void fx_small_blocks(struct fx *f)
{
	f->fo.block_size = 4096;
	f->fo.blob_threshold = 1024;
}

static inline int fx_setup_small(void **state)
{
	return fx_setup_with(state, fx_small_blocks);
}

#define fx_test_small(fn) \
	cmocka_unit_test_setup_teardown(fn, fx_setup_small, fx_teardown)
#define fx_test_bare(fn) \
	cmocka_unit_test_setup_teardown(fn, fx_setup_bare, fx_teardown)

/* ---- bugs the core must catch ---------------------------------------- */

/*
 * Runs bug(f), a call that breaks one of the core's own rules.  With
 * assertions on (no NDEBUG, our builds) LFS_ASSERT must abort: bug runs in
 * a child process, which must die of SIGABRT before it touches the
 * engine.  Without them the core must refuse or report it instead, which
 * bug checks: it returns 0 when it saw the error or the message.
 */
static inline void fx_expect_bug(struct fx *f, int (*bug)(struct fx *))
{
#ifdef NDEBUG
	assert_ok(bug(f));
#else
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		_exit(bug(f) ? 2 : 1);         /* reached only without an abort */
	}
	assert_true(waitpid(pid, &status, 0) == pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
#endif
}

/* ---- time ------------------------------------------------------------ */

/* A time no later than any clock reading the core takes afterwards
 * (the coarse clock never runs ahead of the fine one). */
static inline struct timespec ts_before(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME_COARSE, &t);
	return t;
}

/* A time no earlier than any clock reading the core took before. */
static inline struct timespec ts_after(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static inline int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

static inline struct timespec ts_make(time_t s, long ns)
{
	struct timespec t = { .tv_sec = s, .tv_nsec = ns };
	return t;
}

#define assert_ts_equal(a, b)                                                  \
	do {                                                                   \
		struct timespec a_ = (a), b_ = (b);                            \
		if (ts_cmp(a_, b_))                                            \
			fail_msg("%s:%d: %s = %lld.%09ld, want %s = "          \
				 "%lld.%09ld", __FILE__, __LINE__, #a,         \
				 (long long)a_.tv_sec, a_.tv_nsec, #b,         \
				 (long long)b_.tv_sec, b_.tv_nsec);            \
	} while (0)

/* lo <= t <= hi */
#define assert_ts_within(t, lo, hi)                                            \
	do {                                                                   \
		struct timespec t_ = (t), lo_ = (lo), hi_ = (hi);              \
		if (ts_cmp(t_, lo_) < 0 || ts_cmp(t_, hi_) > 0)                \
			fail_msg("%s:%d: %s = %lld.%09ld not within "          \
				 "[%lld.%09ld, %lld.%09ld]", __FILE__,         \
				 __LINE__, #t, (long long)t_.tv_sec,           \
				 t_.tv_nsec, (long long)lo_.tv_sec,            \
				 lo_.tv_nsec, (long long)hi_.tv_sec,           \
				 hi_.tv_nsec);                                 \
	} while (0)

/* ---- inodes and names ------------------------------------------------ */

static inline struct stat st_get(struct fx *f, uint64_t ino)
{
	struct stat st;

	memset(&st, 0xa5, sizeof(st));
	assert_ok(lfs_getattr(f->fs, ino, &st));
	assert_int_equal(st.st_ino, ino);
	return st;
}

/* The inode `name` in `parent` names (the lookup's reference dropped). */
static inline uint64_t ino_of(struct fx *f, uint64_t parent, const char *name)
{
	struct stat st;
	int rc = lfs_lookup(f->fs, parent, name, &st);

	if (rc)
		fail_msg("lookup(%" PRIu64 ", \"%s\") = %d (%s)", parent, name,
			 rc, fx_errname(rc));
	lfs_forget(f->fs, st.st_ino, 1);
	return st.st_ino;
}

/* lfs_lookup's return code, the reference dropped on success. */
static inline int lookup_rc(struct fx *f, uint64_t parent, const char *name)
{
	struct stat st;
	int rc = lfs_lookup(f->fs, parent, name, &st);

	if (!rc)
		lfs_forget(f->fs, st.st_ino, 1);
	return rc;
}

static inline uint64_t mk_node(struct fx *f, uint64_t parent,
			       const char *name, mode_t mode, dev_t rdev)
{
	struct stat st;
	int rc = lfs_mknod(f->fs, &f->cred, parent, name, mode, rdev, &st);

	if (rc)
		fail_msg("mknod(%" PRIu64 ", \"%s\", 0%o) = %d (%s)", parent,
			 name, (unsigned)mode, rc, fx_errname(rc));
	lfs_forget(f->fs, st.st_ino, 1);
	return st.st_ino;
}

static inline uint64_t mk_file(struct fx *f, uint64_t parent, const char *name)
{
	return mk_node(f, parent, name, S_IFREG | 0644, 0);
}

static inline uint64_t mk_dir(struct fx *f, uint64_t parent, const char *name)
{
	struct stat st;
	int rc = lfs_mkdir(f->fs, &f->cred, parent, name, 0755, &st);

	if (rc)
		fail_msg("mkdir(%" PRIu64 ", \"%s\") = %d (%s)", parent, name,
			 rc, fx_errname(rc));
	lfs_forget(f->fs, st.st_ino, 1);
	return st.st_ino;
}

static inline uint64_t mk_symlink(struct fx *f, uint64_t parent,
				  const char *name, const char *target)
{
	struct stat st;
	int rc = lfs_symlink(f->fs, &f->cred, target, parent, name, &st);

	if (rc)
		fail_msg("symlink(\"%s\", %" PRIu64 ", \"%s\") = %d (%s)",
			 target, parent, name, rc, fx_errname(rc));
	lfs_forget(f->fs, st.st_ino, 1);
	return st.st_ino;
}

/* Sets atime, mtime and ctime of ino to `sec` seconds (so that a later
 * change to any of them is visible whatever the clock's resolution). */
static inline void set_times(struct fx *f, uint64_t ino, time_t sec)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_atim = ts_make(sec, 0);
	st.st_mtim = ts_make(sec, 0);
	st.st_ctim = ts_make(sec, 0);
	assert_ok(lfs_setattr(f->fs, &f->cred, ino, &st,
			      LFS_SET_ATIME | LFS_SET_MTIME | LFS_SET_CTIME,
			      NULL));
	st = st_get(f, ino);
	assert_ts_equal(st.st_mtim, ts_make(sec, 0));
	assert_ts_equal(st.st_ctim, ts_make(sec, 0));
}

/* ---- file data ------------------------------------------------------- */

static inline void fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = rng_next(&s);
		size_t n = len - i < 8 ? len - i : 8;
		memcpy(p + i, &r, n);
	}
}

static inline void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

static inline void write_at(struct fx *f, uint64_t ino, const void *buf,
			    size_t len, off_t off)
{
	ssize_t n = lfs_write(f->fs, ino, buf, len, off, 0);

	if (n != (ssize_t)len)
		fail_msg("write(%" PRIu64 ", len %zu, off %lld) = %zd (%s)",
			 ino, len, (long long)off, n, fx_errname(n));
}

/* Reads exactly what is there in [off, off + len), looping over short
 * reads; returns the count (less than len only at EOF). */
static inline size_t read_at(struct fx *f, uint64_t ino, void *buf,
			     size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = lfs_read(f->fs, ino, (char *)buf + done,
				     len - done, off + (off_t)done);
		if (n < 0)
			fail_msg("read(%" PRIu64 ", len %zu, off %lld) = %zd "
				 "(%s)", ino, len - done,
				 (long long)(off + (off_t)done), n,
				 fx_errname(n));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return done;
}

/* Fails unless buf[0..len) == want[0..len), naming the first difference. */
static inline void assert_bytes(const void *got, const void *want, size_t len,
				off_t base, const char *what)
{
	const uint8_t *g = got, *w = want;

	if (!memcmp(g, w, len))
		return;
	for (size_t i = 0; i < len; i++)
		if (g[i] != w[i])
			fail_msg("%s: byte at %lld is 0x%02x, want 0x%02x",
				 what, (long long)base + (long long)i, g[i],
				 w[i]);
}

/* Fails unless ino's size is `size` and its bytes are model[0..size). */
static inline void assert_content(struct fx *f, uint64_t ino,
				  const uint8_t *model, size_t size)
{
	struct stat st = st_get(f, ino);
	uint8_t *buf = xmalloc(size + 1);

	if ((size_t)st.st_size != size)
		fail_msg("ino %" PRIu64 ": size %lld, want %zu", ino,
			 (long long)st.st_size, size);
	size_t n = read_at(f, ino, buf, size + 1, 0);
	if (n != size)
		fail_msg("ino %" PRIu64 ": read %zu bytes, want %zu", ino, n,
			 size);
	assert_bytes(buf, model, size, 0, "content");
	free(buf);
}

/* Fails unless [off, off + len) of ino reads back as zeros. */
static inline void assert_zeros(struct fx *f, uint64_t ino, off_t off,
				size_t len)
{
	uint8_t *buf = xmalloc(len), *zero = calloc(1, len ? len : 1);

	memset(buf, 0xee, len);
	assert_int_equal(read_at(f, ino, buf, len, off), len);
	assert_bytes(buf, zero, len, off, "hole");
	free(buf);
	free(zero);
}

/* ---- directories ----------------------------------------------------- */

struct dent {
	char name[LFS_NAME_MAX + 1];
	uint64_t ino;
	unsigned type;
	off_t next;
	bool group_start;
};

/* What one lfs_readdir call took, following the group protocol of lfs.h:
 * room for at most `cap` entries; on running out inside a group the
 * entries of that group are dropped before returning 1. */
struct dlist {
	struct dent *e;
	size_t n, cap;
	size_t group_at;          /* index of the current group's start */
	unsigned calls;           /* fn invocations */
	bool bad_group;           /* a non-start entry's next differed */
	bool full;                /* fn returned 1 */
	char why[200];
};

static inline int dlist_fn(void *arg, const char *name, size_t namelen,
			   uint64_t ino, unsigned type, off_t next,
			   bool group_start)
{
	struct dlist *d = arg;

	d->calls++;
	if (group_start)
		d->group_at = d->n;
	else if (d->n == 0 || d->n == d->group_at) {
		/* a continuation whose start we never saw: only possible when
		 * the group began in an earlier call, which the protocol
		 * forbids (groups are emitted together). */
		if (!d->bad_group)
			snprintf(d->why, sizeof(d->why),
				 "entry \"%.*s\" continues a group not "
				 "started in this call", (int)namelen, name);
		d->bad_group = true;
	} else if (d->e[d->n - 1].next != next) {
		if (!d->bad_group)
			snprintf(d->why, sizeof(d->why),
				 "entry \"%.*s\" next %lld, group's next "
				 "%lld", (int)namelen, name, (long long)next,
				 (long long)d->e[d->n - 1].next);
		d->bad_group = true;
	}
	if (d->n == d->cap) {
		d->n = d->group_at;
		d->full = true;
		return 1;
	}
	if (namelen > LFS_NAME_MAX) {
		snprintf(d->why, sizeof(d->why), "name of %zu bytes", namelen);
		d->bad_group = true;
		namelen = LFS_NAME_MAX;
	}
	struct dent *e = &d->e[d->n++];
	memcpy(e->name, name, namelen);
	e->name[namelen] = 0;
	e->ino = ino;
	e->type = type;
	e->next = next;
	e->group_start = group_start;
	return 0;
}

/* One lfs_readdir call with room for `cap` entries into d (reset). */
static inline int readdir_once(struct fx *f, uint64_t dir, off_t off,
			       size_t cap, struct dlist *d)
{
	d->n = 0;
	d->group_at = 0;
	d->cap = cap;
	d->bad_group = false;
	d->full = false;
	d->calls = 0;
	d->why[0] = 0;
	int rc = lfs_readdir(f->fs, dir, off, dlist_fn, d);
	if (d->bad_group)
		fail_msg("readdir(%" PRIu64 ", %lld): %s", dir,
			 (long long)off, d->why);
	return rc;
}

/* The whole directory, read `chunk` entries per call; the caller frees
 * out->e.  "." and ".." included. */
static inline void readdir_all(struct fx *f, uint64_t dir, size_t chunk,
			       struct dlist *out)
{
	struct dlist d = { .e = xmalloc(chunk * sizeof(struct dent)) };
	size_t cap = 64;
	off_t off = 0;

	out->e = xmalloc(cap * sizeof(struct dent));
	out->n = 0;
	for (;;) {
		assert_ok(readdir_once(f, dir, off, chunk, &d));
		if (d.n == 0) {
			if (d.full)
				fail_msg("readdir(%" PRIu64 ", %lld): a group "
					 "larger than %zu entries", dir,
					 (long long)off, chunk);
			break;
		}
		if (out->n > 10000000)
			fail_msg("readdir(%" PRIu64 ") does not end", dir);
		if (out->n + d.n > cap) {
			while (out->n + d.n > cap)
				cap *= 2;
			out->e = realloc(out->e, cap * sizeof(struct dent));
			assert_non_null(out->e);
		}
		memcpy(out->e + out->n, d.e, d.n * sizeof(struct dent));
		out->n += d.n;
		off = d.e[d.n - 1].next;
	}
	free(d.e);
}

/* Index of `name` in d, or -1. */
static inline long dlist_find(const struct dlist *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->e[i].name, name))
			return (long)i;
	return -1;
}

/* ---- POSIX ACL xattr blobs ------------------------------------------- */

#define ACL_VERSION    2u
#define ACL_USER_OBJ   0x01
#define ACL_USER       0x02
#define ACL_GROUP_OBJ  0x04
#define ACL_GROUP      0x08
#define ACL_MASK       0x10
#define ACL_OTHER      0x20
#define ACL_UNDEF_ID   0xffffffffu

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Encodes n entries (in the order given) into buf; returns the length.
 * Entries other than USER and GROUP get id ACL_UNDEF_ID as the kernel
 * writes them. */
static inline size_t acl_encode(uint8_t *buf, const struct acl_ent *e,
				size_t n)
{
	put_le32(buf, ACL_VERSION);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + 4 + 8 * i;
		uint32_t id = (e[i].tag == ACL_USER || e[i].tag == ACL_GROUP)
				? e[i].id : ACL_UNDEF_ID;
		put_le16(p, e[i].tag);
		put_le16(p + 2, e[i].perm);
		put_le32(p + 4, id);
	}
	return 4 + 8 * n;
}

#endif
