/* SPDX-License-Identifier: MIT */
/*
 * test_namei.c: names through the core (fs/lfs.h): lookup, mknod, mkdir,
 * rmdir, unlink, link, symlink and rename with NOREPLACE, EXCHANGE and
 * WHITEOUT.
 *
 * The rules are POSIX as Linux applies them on ext4: exact errnos for
 * every refusal, link counts exact for files and directories (a
 * directory's is 2 plus its subdirectories), ".." of a moved directory
 * following it, the parents' mtime and ctime set by every change of their
 * entries, and inode numbers never reused (lfs.h).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/sysmacros.h>

#include "fsutil.h"

/* ---- helpers --------------------------------------------------------- */

/* The ino ".." names in dir, read with readdir (not lookup). */
static uint64_t dotdot_of(struct fx *f, uint64_t dir)
{
	struct dlist d;

	readdir_all(f, dir, 64, &d);
	long i = dlist_find(&d, "..");
	assert_true(i >= 0);
	uint64_t ino = d.e[i].ino;
	free(d.e);
	return ino;
}

static nlink_t nlink_of(struct fx *f, uint64_t ino)
{
	return st_get(f, ino).st_nlink;
}

/* mtime and ctime of dir within [lo, hi], atime still the old one. */
static void assert_touched(struct fx *f, uint64_t dir, struct timespec lo,
			   struct timespec hi)
{
	struct stat st = st_get(f, dir);

	assert_ts_within(st.st_mtim, lo, hi);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_atim, ts_make(1000, 0));
}

static void assert_untouched(struct fx *f, uint64_t ino)
{
	struct stat st = st_get(f, ino);

	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_ts_equal(st.st_ctim, ts_make(1000, 0));
}

static void name_of_len(char *buf, size_t len, char c)
{
	memset(buf, c, len);
	buf[len] = 0;
}

/* ---- lookup ---------------------------------------------------------- */

static void test_lookup(void **state)
{
	struct fx *f = *state;
	struct stat st, ga;

	assert_rc(lfs_lookup(f->fs, LFS_ROOT_INO, "nope", &st), -ENOENT);
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	assert_true(d != x && d != LFS_ROOT_INO && x != LFS_ROOT_INO);

	assert_ok(lfs_lookup(f->fs, d, "x", &st));
	ga = st_get(f, x);
	assert_int_equal(st.st_ino, x);
	assert_int_equal(st.st_mode, ga.st_mode);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, 0);
	assert_ts_equal(st.st_mtim, ga.st_mtim);
	lfs_forget(f->fs, x, 1);

	assert_rc(lfs_lookup(f->fs, d, "X", &st), -ENOENT);
	assert_rc(lfs_lookup(f->fs, d, "x ", &st), -ENOENT);
	assert_rc(lfs_lookup(f->fs, LFS_ROOT_INO, "x", &st), -ENOENT);
	assert_rc(lfs_lookup(f->fs, x, "x", &st), -ENOTDIR);
	assert_rc(lfs_lookup(f->fs, 987654321, "x", &st), -ENOENT);

	/* the format made lost+found, the one lfs_info names */
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "lost+found"),
			 f->info.lost_found_ino);
	st = st_get(f, f->info.lost_found_ino);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_nlink, 2);
	st = st_get(f, LFS_ROOT_INO);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_nlink, 4);      /* ., .., lost+found/.., d/.. */
}

/* ".." and "." as lookups: what the kernel sends to find the parent of
 * an NFS file handle's directory (fuse_get_parent). */
static void test_lookup_dot_dotdot(void **state)
{
	struct fx *f = *state;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, a, "b");

	assert_int_equal(ino_of(f, b, ".."), a);
	assert_int_equal(ino_of(f, a, ".."), LFS_ROOT_INO);
	assert_int_equal(ino_of(f, b, "."), b);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, ".."), LFS_ROOT_INO);
}

/* ---- mknod, mkdir ---------------------------------------------------- */

static void test_mknod_types(void **state)
{
	struct fx *f = *state;
	struct {
		const char *name;
		mode_t mode;
		dev_t rdev;
	} k[] = {
		{ "reg", S_IFREG | 0666, 0 },
		{ "fifo", S_IFIFO | 0640, 0 },
		{ "sock", S_IFSOCK | 0777, 0 },
		{ "chr", S_IFCHR | 0620, makedev(4, 64) },
		{ "blk", S_IFBLK | 0660, makedev(259, 1048575) },
	};
	f->cred = fx_cred(1000, 2000, 022);
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t seen[5];

	for (size_t i = 0; i < 5; i++) {
		struct stat st;
		struct timespec lo = ts_before();
		assert_ok(lfs_mknod(f->fs, &f->cred, d, k[i].name, k[i].mode,
				    k[i].rdev, &st));
		struct timespec hi = ts_after();
		lfs_forget(f->fs, st.st_ino, 1);
		seen[i] = st.st_ino;
		for (size_t j = 0; j < i; j++)
			assert_true(seen[j] != st.st_ino);
		struct stat g = st_get(f, st.st_ino);
		assert_int_equal(st.st_mode, k[i].mode & ~(mode_t)022);
		assert_int_equal(g.st_mode, k[i].mode & ~(mode_t)022);
		assert_int_equal(g.st_rdev, k[i].rdev);
		assert_int_equal(g.st_nlink, 1);
		assert_int_equal(g.st_uid, 1000);
		assert_int_equal(g.st_gid, 2000);
		assert_int_equal(g.st_size, 0);
		assert_int_equal(g.st_blocks, 0);
		assert_ts_within(g.st_mtim, lo, hi);
		assert_ts_equal(g.st_atim, g.st_mtim);
		assert_ts_equal(g.st_ctim, g.st_mtim);
		struct timespec bt;
		assert_ok(lfs_get_btime(f->fs, st.st_ino, &bt));
		assert_ts_equal(bt, g.st_mtim);
		assert_int_equal(ino_of(f, d, k[i].name), st.st_ino);
	}
	/* umask applies exactly */
	f->cred.umask = 0;
	uint64_t a = mk_node(f, d, "u0", S_IFREG | 06777, 0);
	assert_int_equal(st_get(f, a).st_mode, S_IFREG | 06777);
	f->cred.umask = 077;
	a = mk_node(f, d, "u77", S_IFREG | 0666, 0);
	assert_int_equal(st_get(f, a).st_mode, S_IFREG | 0600);
}

static void test_mknod_refusals(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	mk_dir(f, d, "sub");

	assert_rc(lfs_mknod(f->fs, &f->cred, d, "x", S_IFREG | 0644, 0, &st),
		  -EEXIST);
	assert_rc(lfs_mknod(f->fs, &f->cred, d, "sub", S_IFIFO | 0644, 0,
			    &st), -EEXIST);
	assert_rc(lfs_mknod(f->fs, &f->cred, x, "y", S_IFREG | 0644, 0, &st),
		  -ENOTDIR);
	assert_rc(lfs_mknod(f->fs, &f->cred, 987654321, "y", S_IFREG | 0644,
			    0, &st), -ENOENT);
	assert_rc(lfs_mkdir(f->fs, &f->cred, d, "x", 0755, &st), -EEXIST);
	assert_rc(lfs_mkdir(f->fs, &f->cred, d, "sub", 0755, &st), -EEXIST);
	assert_rc(lfs_mkdir(f->fs, &f->cred, x, "y", 0755, &st), -ENOTDIR);
	/* nothing changed */
	assert_int_equal(nlink_of(f, d), 3);
	assert_int_equal(nlink_of(f, x), 1);
	assert_rc(lookup_rc(f, x, "y"), -ENOTDIR);
	assert_true(S_ISREG(st_get(f, ino_of(f, d, "x")).st_mode));
}

static void test_mkdir(void **state)
{
	struct fx *f = *state;
	struct stat st;

	f->cred = fx_cred(1234, 4321, 027);
	uint64_t top = mk_dir(f, LFS_ROOT_INO, "top");
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 4);
	assert_int_equal(nlink_of(f, top), 2);
	st = st_get(f, top);
	assert_int_equal(st.st_mode, S_IFDIR | 0750);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 4321);

	assert_ok(lfs_mkdir(f->fs, &f->cred, top, "s", 01777, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	assert_int_equal(st.st_mode, S_IFDIR | 01750);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(nlink_of(f, top), 3);
	mk_file(f, top, "file");
	mk_node(f, top, "fifo", S_IFIFO | 0600, 0);
	assert_int_equal(nlink_of(f, top), 3);     /* files don't count */
	for (int i = 0; i < 10; i++) {
		char n[16];
		snprintf(n, sizeof(n), "d%d", i);
		mk_dir(f, top, n);
		assert_int_equal(nlink_of(f, top), 4 + i);
	}
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 4);
}

/* ---- the parents' times ---------------------------------------------- */

static void test_parent_times(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, LFS_ROOT_INO, "b");
	uint64_t x = mk_file(f, a, "x");
	struct timespec lo, hi;

#define STEP(call, touched1, touched2)                                        \
	do {                                                                  \
		set_times(f, a, 1000);                                        \
		set_times(f, b, 1000);                                        \
		lo = ts_before();                                             \
		assert_ok(call);                                              \
		hi = ts_after();                                              \
		if (touched1)                                                 \
			assert_touched(f, touched1, lo, hi);                  \
		if (touched2)                                                 \
			assert_touched(f, touched2, lo, hi);                  \
		if (touched1 != a && touched2 != a)                           \
			assert_untouched(f, a);                               \
		if (touched1 != b && touched2 != b)                           \
			assert_untouched(f, b);                               \
	} while (0)

	STEP(lfs_mknod(f->fs, &f->cred, a, "n", S_IFREG | 0600, 0, &st), a, 0);
	lfs_forget(f->fs, st.st_ino, 1);
	STEP(lfs_mkdir(f->fs, &f->cred, a, "m", 0700, &st), a, 0);
	lfs_forget(f->fs, st.st_ino, 1);
	STEP(lfs_symlink(f->fs, &f->cred, "t", a, "s", &st), a, 0);
	lfs_forget(f->fs, st.st_ino, 1);
	STEP(lfs_create(f->fs, &f->cred, a, "c", S_IFREG | 0600, O_RDWR | O_CREAT,
			&st), a, 0);
	lfs_forget(f->fs, st.st_ino, 1);
	STEP(lfs_link(f->fs, x, b, "x2", &st), b, 0);
	lfs_forget(f->fs, st.st_ino, 1);
	STEP(lfs_unlink(f->fs, b, "x2"), b, 0);
	STEP(lfs_rmdir(f->fs, a, "m"), a, 0);
	STEP(lfs_rename(f->fs, a, "n", a, "n2", 0), a, 0);
	STEP(lfs_rename(f->fs, a, "n2", b, "n3", 0), a, b);
	STEP(lfs_rename(f->fs, a, "x", b, "n3", LFS_RENAME_EXCHANGE), a, b);
	STEP(lfs_unlink(f->fs, a, "s"), a, 0);
#undef STEP
	/* creating an existing file without O_EXCL changes nothing */
	set_times(f, a, 1000);
	assert_ok(lfs_create(f->fs, &f->cred, a, "c", S_IFREG | 0600, O_RDWR |
			     O_CREAT, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	assert_untouched(f, a);
	/* refusals change nothing either */
	assert_rc(lfs_mkdir(f->fs, &f->cred, a, "c", 0700, &st), -EEXIST);
	assert_rc(lfs_unlink(f->fs, a, "zz"), -ENOENT);
	assert_untouched(f, a);
}

/* ---- unlink, rmdir --------------------------------------------------- */

static void test_unlink(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	uint64_t sub = mk_dir(f, d, "sub");

	assert_rc(lfs_unlink(f->fs, d, "sub"), -EISDIR);
	assert_rc(lfs_unlink(f->fs, d, "nope"), -ENOENT);
	assert_int_equal(ino_of(f, d, "sub"), sub);

	assert_ok(lfs_link(f->fs, x, d, "y", &st));
	lfs_forget(f->fs, x, 1);
	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_unlink(f->fs, d, "x"));
	struct timespec hi = ts_after();
	assert_rc(lookup_rc(f, d, "x"), -ENOENT);
	st = st_get(f, x);
	assert_int_equal(st.st_nlink, 1);
	assert_ts_within(st.st_ctim, lo, hi);        /* the inode's ctime */
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_int_equal(ino_of(f, d, "y"), x);
	assert_ok(lfs_unlink(f->fs, d, "y"));
	assert_rc(lfs_getattr(f->fs, x, &st), -ENOENT);
	assert_rc(lfs_unlink(f->fs, d, "y"), -ENOENT);

	uint64_t s = mk_symlink(f, d, "sym", "sub");
	uint64_t p = mk_node(f, d, "pipe", S_IFIFO | 0600, 0);
	assert_ok(lfs_unlink(f->fs, d, "sym"));
	assert_ok(lfs_unlink(f->fs, d, "pipe"));
	assert_rc(lfs_getattr(f->fs, s, &st), -ENOENT);
	assert_rc(lfs_getattr(f->fs, p, &st), -ENOENT);
	/* the symlink's target is untouched */
	assert_int_equal(ino_of(f, d, "sub"), sub);
	assert_int_equal(nlink_of(f, d), 3);
}

static void test_rmdir(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t e = mk_dir(f, d, "e");
	uint64_t g = mk_dir(f, e, "g");
	uint64_t x = mk_file(f, d, "x");
	(void)x;

	assert_rc(lfs_rmdir(f->fs, d, "x"), -ENOTDIR);
	assert_rc(lfs_rmdir(f->fs, d, "nope"), -ENOENT);
	assert_rc(lfs_rmdir(f->fs, LFS_ROOT_INO, "d"), -ENOTEMPTY);
	assert_rc(lfs_rmdir(f->fs, d, "e"), -ENOTEMPTY);   /* a subdir */
	assert_int_equal(nlink_of(f, d), 3);
	assert_int_equal(nlink_of(f, e), 3);

	assert_ok(lfs_rmdir(f->fs, e, "g"));
	assert_rc(lfs_getattr(f->fs, g, &st), -ENOENT);
	assert_int_equal(nlink_of(f, e), 2);
	mk_file(f, e, "f");                                /* a file */
	assert_rc(lfs_rmdir(f->fs, d, "e"), -ENOTEMPTY);
	mk_symlink(f, e, "l", "f");
	assert_ok(lfs_unlink(f->fs, e, "f"));
	assert_rc(lfs_rmdir(f->fs, d, "e"), -ENOTEMPTY);   /* a symlink */
	assert_ok(lfs_unlink(f->fs, e, "l"));
	assert_ok(lfs_rmdir(f->fs, d, "e"));
	assert_rc(lookup_rc(f, d, "e"), -ENOENT);
	assert_rc(lfs_getattr(f->fs, e, &st), -ENOENT);
	assert_int_equal(nlink_of(f, d), 2);
	assert_rc(lfs_rmdir(f->fs, d, "e"), -ENOENT);
	assert_ok(lfs_unlink(f->fs, d, "x"));
	assert_ok(lfs_rmdir(f->fs, LFS_ROOT_INO, "d"));
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 3);
}

/* ---- link ------------------------------------------------------------ */

static void test_link(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, LFS_ROOT_INO, "b");
	uint64_t x = mk_file(f, a, "x");

	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_link(f->fs, x, b, "x1", &st));
	struct timespec hi = ts_after();
	lfs_forget(f->fs, x, 1);
	assert_int_equal(st.st_ino, x);
	assert_int_equal(st.st_nlink, 2);
	st = st_get(f, x);
	assert_int_equal(st.st_nlink, 2);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_int_equal(ino_of(f, b, "x1"), x);
	assert_int_equal(ino_of(f, a, "x"), x);

	for (int i = 0; i < 20; i++) {
		char n[16];
		snprintf(n, sizeof(n), "l%d", i);
		assert_ok(lfs_link(f->fs, x, a, n, &st));
		lfs_forget(f->fs, x, 1);
		assert_int_equal(st.st_nlink, 3 + i);
	}
	assert_int_equal(nlink_of(f, x), 22);
	assert_int_equal(nlink_of(f, a), 2);
	assert_int_equal(nlink_of(f, b), 2);

	assert_rc(lfs_link(f->fs, a, b, "dirlink", &st), -EPERM);
	assert_rc(lfs_link(f->fs, x, b, "x1", &st), -EEXIST);
	assert_rc(lfs_link(f->fs, x, a, "l0", &st), -EEXIST);
	assert_rc(lfs_link(f->fs, x, x, "z", &st), -ENOTDIR);
	assert_rc(lfs_link(f->fs, 987654321, a, "z", &st), -ENOENT);
	assert_rc(lfs_link(f->fs, x, 987654321, "z", &st), -ENOENT);
	assert_int_equal(nlink_of(f, x), 22);
	assert_rc(lookup_rc(f, b, "dirlink"), -ENOENT);

	/* links to a symlink and to a fifo */
	uint64_t s = mk_symlink(f, a, "s", "target");
	assert_ok(lfs_link(f->fs, s, b, "s2", &st));
	lfs_forget(f->fs, s, 1);
	assert_int_equal(nlink_of(f, s), 2);
	char buf[16];
	assert_rc(lfs_readlink(f->fs, ino_of(f, b, "s2"), buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "target", 6);

	/* unlinking each name brings the count down by one */
	for (int i = 0; i < 20; i++) {
		char n[16];
		snprintf(n, sizeof(n), "l%d", i);
		assert_ok(lfs_unlink(f->fs, a, n));
		assert_int_equal(nlink_of(f, x), 21 - i);
	}
	assert_ok(lfs_unlink(f->fs, a, "x"));
	assert_int_equal(nlink_of(f, x), 1);
	assert_ok(lfs_unlink(f->fs, b, "x1"));
	assert_rc(lfs_getattr(f->fs, x, &st), -ENOENT);
}

/* ---- symlink, readlink ----------------------------------------------- */

static void test_symlink(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char target[LFS_SYMLINK_MAX + 2], buf[LFS_SYMLINK_MAX + 16];

	f->cred = fx_cred(77, 88, 077);
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t s = mk_symlink(f, d, "s", "../some/where");
	st = st_get(f, s);
	assert_int_equal(st.st_mode, S_IFLNK | 0777);   /* umask not applied */
	assert_int_equal(st.st_size, 13);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, 77);
	assert_int_equal(st.st_gid, 88);
	memset(buf, 'Z', sizeof(buf));
	assert_rc(lfs_readlink(f->fs, s, buf, sizeof(buf)), 13);
	assert_memory_equal(buf, "../some/where", 13);
	assert_int_equal(buf[13], 'Z');                /* not NUL-terminated */

	/* truncated to cap, as readlink(2) */
	memset(buf, 'Z', sizeof(buf));
	assert_rc(lfs_readlink(f->fs, s, buf, 5), 5);
	assert_memory_equal(buf, "../soZ", 6);

	/* the longest target, and one past */
	for (size_t i = 0; i < LFS_SYMLINK_MAX; i++)
		target[i] = (char)('a' + i % 26);
	target[LFS_SYMLINK_MAX] = 0;
	uint64_t l = mk_symlink(f, d, "long", target);
	assert_int_equal(st_get(f, l).st_size, LFS_SYMLINK_MAX);
	assert_rc(lfs_readlink(f->fs, l, buf, sizeof(buf)), LFS_SYMLINK_MAX);
	assert_memory_equal(buf, target, LFS_SYMLINK_MAX);
	target[LFS_SYMLINK_MAX] = 'x';
	target[LFS_SYMLINK_MAX + 1] = 0;
	assert_rc(lfs_symlink(f->fs, &f->cred, target, d, "toolong", &st),
		  -ENAMETOOLONG);
	assert_rc(lookup_rc(f, d, "toolong"), -ENOENT);

	/* one-byte target, a target with odd bytes */
	uint64_t one = mk_symlink(f, d, "one", "/");
	assert_rc(lfs_readlink(f->fs, one, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '/');
	uint64_t odd = mk_symlink(f, d, "odd", "a b\n\xff\x01/c");
	assert_rc(lfs_readlink(f->fs, odd, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "a b\n\xff\x01/c", 8);

	assert_rc(lfs_symlink(f->fs, &f->cred, "x", d, "s", &st), -EEXIST);
	assert_rc(lfs_readlink(f->fs, d, buf, sizeof(buf)), -EINVAL);
	uint64_t x = mk_file(f, d, "x");
	assert_rc(lfs_readlink(f->fs, x, buf, sizeof(buf)), -EINVAL);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", x, "s", &st), -ENOTDIR);
	assert_int_equal(nlink_of(f, d), 2);
}

/* ---- names ----------------------------------------------------------- */

static void test_name_lengths(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char n255[LFS_NAME_MAX + 1], n256[LFS_NAME_MAX + 2], m255[256];

	name_of_len(n255, 255, 'a');
	name_of_len(m255, 255, 'm');
	name_of_len(n256, 256, 'b');
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");

	uint64_t x = mk_node(f, d, n255, S_IFREG | 0644, 0);
	assert_int_equal(ino_of(f, d, n255), x);
	uint64_t sd = mk_dir(f, d, m255);
	assert_int_equal(ino_of(f, d, m255), sd);

	assert_rc(lfs_mknod(f->fs, &f->cred, d, n256, S_IFREG | 0644, 0, &st),
		  -ENAMETOOLONG);
	assert_rc(lfs_mkdir(f->fs, &f->cred, d, n256, 0755, &st),
		  -ENAMETOOLONG);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", d, n256, &st),
		  -ENAMETOOLONG);
	assert_rc(lfs_create(f->fs, &f->cred, d, n256, S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -ENAMETOOLONG);
	assert_rc(lfs_link(f->fs, x, d, n256, &st), -ENAMETOOLONG);
	assert_rc(lfs_rename(f->fs, d, n255, d, n256, 0), -ENAMETOOLONG);
	assert_rc(lfs_lookup(f->fs, d, n256, &st), -ENAMETOOLONG);
	assert_rc(lfs_unlink(f->fs, d, n256), -ENAMETOOLONG);
	assert_rc(lfs_rmdir(f->fs, d, n256), -ENAMETOOLONG);
	assert_int_equal(nlink_of(f, x), 1);

	/* 255-byte names through link, symlink, rename */
	char l255[256];
	name_of_len(l255, 255, 'l');
	assert_ok(lfs_link(f->fs, x, sd, l255, &st));
	lfs_forget(f->fs, x, 1);
	assert_ok(lfs_unlink(f->fs, d, n255));
	char r255[256];
	name_of_len(r255, 255, 'r');
	assert_ok(lfs_rename(f->fs, sd, l255, d, r255, 0));
	assert_int_equal(ino_of(f, d, r255), x);
	char s255[256];
	name_of_len(s255, 255, 's');
	mk_symlink(f, sd, s255, n255);

	struct dlist dl;
	readdir_all(f, d, 16, &dl);
	assert_int_equal(dl.n, 4);
	assert_true(dlist_find(&dl, r255) >= 0);
	assert_true(dlist_find(&dl, m255) >= 0);
	free(dl.e);
}

/* Names are bytes: case, spaces, newlines, high bytes all distinct. */
static void test_name_bytes(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "a", "A", "a ", " a", "a\n", "\xff", "\xc3\xa9",
				"e\xcc\x81", "a.b", "..a", "...", "-", "a\\b",
				"\x01\x02\x7f" };
	size_t n = sizeof(names) / sizeof(names[0]);
	uint64_t inos[sizeof(names) / sizeof(names[0])];
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");

	for (size_t i = 0; i < n; i++)
		inos[i] = mk_file(f, d, names[i]);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ino_of(f, d, names[i]), inos[i]);
	struct dlist dl;
	readdir_all(f, d, 5, &dl);
	assert_int_equal(dl.n, n + 2);
	for (size_t i = 0; i < n; i++) {
		long k = dlist_find(&dl, names[i]);
		assert_true(k >= 0);
		assert_int_equal(dl.e[k].ino, inos[i]);
	}
	free(dl.e);
	assert_rc(lookup_rc(f, d, "b"), -ENOENT);
	assert_rc(lookup_rc(f, d, "a\\"), -ENOENT);
}

/* Inode numbers are never reused (lfs.h), even across a remount. */
static void test_ino_not_reused(void **state)
{
	struct fx *f = *state;
	uint64_t seen[64];
	size_t n = 0;

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 8; i++) {
			uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
			for (size_t j = 0; j < n; j++)
				assert_true(seen[j] != x);
			seen[n++] = x;
			assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "x"));
		}
		fx_remount(f);
	}
	struct stat st;
	for (size_t j = 0; j < n; j++)
		assert_rc(lfs_getattr(f->fs, seen[j], &st), -ENOENT);
	assert_true(f->info.next_ino > seen[n - 1]);
}

/* Every name operation with a non-directory as the parent: -ENOTDIR
 * (as the *at() calls with a file descriptor of a file). */
static void test_nondir_parent(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");

	assert_rc(lfs_lookup(f->fs, x, "x", &st), -ENOTDIR);
	assert_rc(lfs_mknod(f->fs, &f->cred, x, "n", S_IFREG | 0644, 0, &st),
		  -ENOTDIR);
	assert_rc(lfs_mkdir(f->fs, &f->cred, x, "n", 0755, &st), -ENOTDIR);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", x, "n", &st), -ENOTDIR);
	assert_rc(lfs_create(f->fs, &f->cred, x, "n", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -ENOTDIR);
	assert_rc(lfs_link(f->fs, x, x, "n", &st), -ENOTDIR);
	assert_rc(lfs_unlink(f->fs, x, "x"), -ENOTDIR);
	assert_rc(lfs_rmdir(f->fs, x, "x"), -ENOTDIR);
	assert_rc(lfs_rename(f->fs, d, "x", x, "w", 0), -ENOTDIR);
	assert_rc(lfs_rename(f->fs, x, "x", d, "w", 0), -ENOTDIR);
	assert_int_equal(ino_of(f, d, "x"), x);
	assert_int_equal(st_get(f, x).st_nlink, 1);
}

/* ---- rename ---------------------------------------------------------- */

static void test_rename_file(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, LFS_ROOT_INO, "b");
	uint64_t x = mk_file(f, a, "x");
	uint8_t data[100];

	fill_random(data, sizeof(data), 1);
	write_at(f, x, data, sizeof(data), 0);

	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_rename(f->fs, a, "x", a, "y", 0));
	struct timespec hi = ts_after();
	assert_rc(lookup_rc(f, a, "x"), -ENOENT);
	assert_int_equal(ino_of(f, a, "y"), x);
	st = st_get(f, x);
	assert_ts_within(st.st_ctim, lo, hi);       /* as ext4 */
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_int_equal(st.st_nlink, 1);

	assert_ok(lfs_rename(f->fs, a, "y", b, "z", 0));
	assert_rc(lookup_rc(f, a, "y"), -ENOENT);
	assert_int_equal(ino_of(f, b, "z"), x);
	assert_content(f, x, data, sizeof(data));
	assert_int_equal(nlink_of(f, a), 2);
	assert_int_equal(nlink_of(f, b), 2);

	assert_rc(lfs_rename(f->fs, a, "nope", b, "w", 0), -ENOENT);
	assert_rc(lfs_rename(f->fs, 987654321, "z", b, "w", 0), -ENOENT);
	assert_rc(lfs_rename(f->fs, b, "z", 987654321, "w", 0), -ENOENT);
	assert_rc(lfs_rename(f->fs, b, "z", b, "w", 1u << 7), -EINVAL);
	assert_int_equal(ino_of(f, b, "z"), x);
	assert_rc(lookup_rc(f, b, "w"), -ENOENT);
}

static void test_rename_over_file(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	uint64_t y = mk_file(f, d, "y");
	uint8_t dx[10] = "xxxxxxxxxx", dy[5] = "yyyyy";

	write_at(f, x, dx, sizeof(dx), 0);
	write_at(f, y, dy, sizeof(dy), 0);
	set_times(f, y, 1000);
	assert_ok(lfs_rename(f->fs, d, "x", d, "y", 0));
	assert_rc(lookup_rc(f, d, "x"), -ENOENT);
	assert_int_equal(ino_of(f, d, "y"), x);
	assert_rc(lfs_getattr(f->fs, y, &st), -ENOENT);
	assert_content(f, x, dx, sizeof(dx));

	/* the replaced inode has another name: it loses one link */
	uint64_t z = mk_file(f, d, "z");
	assert_ok(lfs_link(f->fs, z, d, "z2", &st));
	lfs_forget(f->fs, z, 1);
	set_times(f, z, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_rename(f->fs, d, "y", d, "z", 0));
	struct timespec hi = ts_after();
	st = st_get(f, z);
	assert_int_equal(st.st_nlink, 1);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_int_equal(ino_of(f, d, "z"), x);
	assert_int_equal(ino_of(f, d, "z2"), z);

	/* a symlink and a fifo over a file */
	uint64_t s = mk_symlink(f, d, "s", "t");
	assert_ok(lfs_rename(f->fs, d, "s", d, "z2", 0));
	assert_rc(lfs_getattr(f->fs, z, &st), -ENOENT);
	assert_int_equal(ino_of(f, d, "z2"), s);
	uint64_t p = mk_node(f, d, "p", S_IFIFO | 0600, 0);
	assert_ok(lfs_rename(f->fs, d, "p", d, "z2", 0));
	assert_rc(lfs_getattr(f->fs, s, &st), -ENOENT);
	assert_int_equal(ino_of(f, d, "z2"), p);

	struct dlist dl;
	readdir_all(f, d, 16, &dl);
	assert_int_equal(dl.n, 4);       /* ., .., z, z2 */
	free(dl.e);
	assert_int_equal(nlink_of(f, d), 2);
}

static void test_rename_dirs(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, LFS_ROOT_INO, "b");
	uint64_t d = mk_dir(f, a, "d");
	mk_dir(f, d, "dsub");
	uint64_t e = mk_dir(f, b, "e");        /* empty */
	uint64_t ne = mk_dir(f, b, "ne");      /* not empty */
	mk_file(f, ne, "f");
	uint64_t x = mk_file(f, b, "x");

	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, b), 4);

	/* over a non-empty directory */
	assert_rc(lfs_rename(f->fs, a, "d", b, "ne", 0), -ENOTEMPTY);
	/* a directory over a file, a file over a directory */
	assert_rc(lfs_rename(f->fs, a, "d", b, "x", 0), -ENOTDIR);
	assert_rc(lfs_rename(f->fs, b, "x", b, "e", 0), -EISDIR);
	assert_rc(lfs_rename(f->fs, b, "x", a, "d", 0), -EISDIR);
	assert_int_equal(ino_of(f, a, "d"), d);
	assert_int_equal(ino_of(f, b, "ne"), ne);
	assert_int_equal(ino_of(f, b, "x"), x);
	assert_int_equal(ino_of(f, b, "e"), e);
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, b), 4);

	/* over an empty directory, in another parent */
	assert_ok(lfs_rename(f->fs, a, "d", b, "e", 0));
	assert_rc(lfs_getattr(f->fs, e, &st), -ENOENT);
	assert_int_equal(ino_of(f, b, "e"), d);
	assert_rc(lookup_rc(f, a, "d"), -ENOENT);
	assert_int_equal(nlink_of(f, a), 2);
	assert_int_equal(nlink_of(f, b), 4);
	assert_int_equal(nlink_of(f, d), 3);
	assert_int_equal(dotdot_of(f, d), b);

	/* plain move to another parent */
	assert_ok(lfs_rename(f->fs, b, "e", a, "d2", 0));
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, b), 3);
	assert_int_equal(dotdot_of(f, d), a);

	/* over an empty directory in the same parent */
	uint64_t e2 = mk_dir(f, a, "e2");
	assert_int_equal(nlink_of(f, a), 4);
	assert_ok(lfs_rename(f->fs, a, "d2", a, "e2", 0));
	assert_rc(lfs_getattr(f->fs, e2, &st), -ENOENT);
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(dotdot_of(f, d), a);

	/* rename within the same parent keeps counts */
	assert_ok(lfs_rename(f->fs, a, "e2", a, "d", 0));
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, d), 3);
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 5);
}

static void test_rename_into_subtree(void **state)
{
	struct fx *f = *state;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, a, "b");
	uint64_t c = mk_dir(f, b, "c");
	uint64_t e = mk_dir(f, c, "e");        /* empty */

	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "a", a, "x", 0), -EINVAL);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "a", c, "x", 0), -EINVAL);
	assert_rc(lfs_rename(f->fs, a, "b", c, "x", 0), -EINVAL);
	assert_rc(lfs_rename(f->fs, a, "b", b, "x", 0), -EINVAL);
	/* over an empty directory inside itself */
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "a", c, "e", 0), -EINVAL);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "a", c, "e",
			     LFS_RENAME_EXCHANGE), -EINVAL);
	assert_rc(lfs_rename(f->fs, a, "b", c, "e", LFS_RENAME_EXCHANGE),
		  -EINVAL);
	/* exchanging with an ancestor, from below */
	assert_rc(lfs_rename(f->fs, c, "e", LFS_ROOT_INO, "a",
			     LFS_RENAME_EXCHANGE), -EINVAL);
	assert_rc(lfs_rename(f->fs, b, "c", a, "b", LFS_RENAME_EXCHANGE),
		  -EINVAL);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "a", a, "x",
			     LFS_RENAME_NOREPLACE), -EINVAL);
	/* nothing moved */
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "a"), a);
	assert_int_equal(ino_of(f, a, "b"), b);
	assert_int_equal(ino_of(f, b, "c"), c);
	assert_int_equal(ino_of(f, c, "e"), e);
	assert_rc(lookup_rc(f, a, "x"), -ENOENT);
	assert_rc(lookup_rc(f, b, "x"), -ENOENT);
	assert_rc(lookup_rc(f, c, "x"), -ENOENT);
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, c), 3);
	assert_int_equal(dotdot_of(f, a), LFS_ROOT_INO);

	/* over its own ancestor: that one is not empty */
	assert_rc(lfs_rename(f->fs, a, "b", LFS_ROOT_INO, "a", 0), -ENOTEMPTY);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "a"), a);
	assert_int_equal(ino_of(f, a, "b"), b);

	/* moving a deeper directory up is fine */
	assert_ok(lfs_rename(f->fs, c, "e", LFS_ROOT_INO, "e", 0));
	assert_ok(lfs_rename(f->fs, b, "c", LFS_ROOT_INO, "c", 0));
	assert_int_equal(dotdot_of(f, c), LFS_ROOT_INO);
	assert_int_equal(nlink_of(f, b), 2);
	assert_int_equal(nlink_of(f, c), 2);
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 6);
	/* and the former ancestor may now go below it */
	assert_ok(lfs_rename(f->fs, LFS_ROOT_INO, "a", c, "a", 0));
	assert_int_equal(dotdot_of(f, a), c);
	assert_int_equal(nlink_of(f, c), 3);
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 5);
}

static void test_rename_to_itself(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	uint64_t s = mk_dir(f, d, "s");

	assert_ok(lfs_rename(f->fs, d, "x", d, "x", 0));
	assert_ok(lfs_rename(f->fs, d, "s", d, "s", 0));
	assert_ok(lfs_rename(f->fs, d, "x", d, "x", LFS_RENAME_EXCHANGE));
	assert_int_equal(ino_of(f, d, "x"), x);
	assert_int_equal(ino_of(f, d, "s"), s);
	assert_int_equal(nlink_of(f, x), 1);
	assert_int_equal(nlink_of(f, s), 2);
	assert_int_equal(nlink_of(f, d), 3);

	/* two hard links of one inode: rename does nothing, both stay */
	uint64_t e = mk_dir(f, LFS_ROOT_INO, "e");
	assert_ok(lfs_link(f->fs, x, e, "x2", &st));
	lfs_forget(f->fs, x, 1);
	assert_ok(lfs_rename(f->fs, d, "x", e, "x2", 0));
	assert_int_equal(ino_of(f, d, "x"), x);
	assert_int_equal(ino_of(f, e, "x2"), x);
	assert_int_equal(nlink_of(f, x), 2);
	assert_ok(lfs_rename(f->fs, e, "x2", d, "x", 0));
	assert_int_equal(ino_of(f, d, "x"), x);
	assert_int_equal(ino_of(f, e, "x2"), x);
	assert_int_equal(nlink_of(f, x), 2);

	struct dlist dl;
	readdir_all(f, d, 16, &dl);
	assert_int_equal(dl.n, 4);
	free(dl.e);
}

static void test_rename_noreplace(void **state)
{
	struct fx *f = *state;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	uint64_t y = mk_file(f, d, "y");
	uint64_t e = mk_dir(f, d, "e");

	assert_rc(lfs_rename(f->fs, d, "x", d, "y", LFS_RENAME_NOREPLACE),
		  -EEXIST);
	assert_rc(lfs_rename(f->fs, d, "e", d, "y", LFS_RENAME_NOREPLACE),
		  -EEXIST);
	uint64_t ee = mk_dir(f, d, "ee");
	assert_rc(lfs_rename(f->fs, d, "e", d, "ee", LFS_RENAME_NOREPLACE),
		  -EEXIST);
	/* onto itself, or onto another link of the same inode: still EEXIST
	 * (found by the power-cut test) */
	assert_rc(lfs_rename(f->fs, d, "x", d, "x", LFS_RENAME_NOREPLACE), -EEXIST);
	assert_ok(lfs_link(f->fs, x, d, "x2", NULL));
	lfs_forget(f->fs, x, 1);
	assert_rc(lfs_rename(f->fs, d, "x", d, "x2", LFS_RENAME_NOREPLACE), -EEXIST);
	assert_ok(lfs_unlink(f->fs, d, "x2"));
	assert_int_equal(ino_of(f, d, "x"), x);
	assert_int_equal(ino_of(f, d, "y"), y);
	assert_int_equal(ino_of(f, d, "e"), e);
	assert_int_equal(ino_of(f, d, "ee"), ee);

	assert_ok(lfs_rename(f->fs, d, "x", d, "z", LFS_RENAME_NOREPLACE));
	assert_int_equal(ino_of(f, d, "z"), x);
	assert_rc(lookup_rc(f, d, "x"), -ENOENT);
	assert_ok(lfs_rename(f->fs, d, "e", LFS_ROOT_INO, "e",
			     LFS_RENAME_NOREPLACE));
	assert_int_equal(nlink_of(f, d), 3);
	assert_rc(lfs_rename(f->fs, d, "z", d, "y", LFS_RENAME_NOREPLACE |
			     LFS_RENAME_EXCHANGE), -EINVAL);
	assert_int_equal(ino_of(f, d, "z"), x);
	assert_int_equal(ino_of(f, d, "y"), y);
}

static void test_rename_exchange(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, LFS_ROOT_INO, "b");
	uint64_t x = mk_file(f, a, "x");
	uint64_t y = mk_file(f, b, "y");
	uint64_t d = mk_dir(f, a, "d");
	mk_file(f, d, "inside");
	uint64_t e = mk_dir(f, b, "e");
	mk_dir(f, e, "esub");

	/* two files in different directories */
	set_times(f, x, 1000);
	assert_ok(lfs_rename(f->fs, a, "x", b, "y", LFS_RENAME_EXCHANGE));
	assert_int_equal(ino_of(f, a, "x"), y);
	assert_int_equal(ino_of(f, b, "y"), x);
	assert_int_equal(nlink_of(f, x), 1);
	assert_int_equal(nlink_of(f, y), 1);
	st = st_get(f, x);
	assert_true(st.st_ctim.tv_sec > 1000);

	/* two non-empty directories: no ENOTEMPTY, counts unchanged */
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, b), 3);
	assert_ok(lfs_rename(f->fs, a, "d", b, "e", LFS_RENAME_EXCHANGE));
	assert_int_equal(ino_of(f, a, "d"), e);
	assert_int_equal(ino_of(f, b, "e"), d);
	assert_int_equal(dotdot_of(f, e), a);
	assert_int_equal(dotdot_of(f, d), b);
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, b), 3);
	assert_int_equal(nlink_of(f, e), 3);
	assert_int_equal(nlink_of(f, d), 2);

	/* a directory and a file across parents: a loses a subdir, b
	 * gains one */
	assert_ok(lfs_rename(f->fs, a, "d", b, "y", LFS_RENAME_EXCHANGE));
	assert_int_equal(ino_of(f, a, "d"), x);
	assert_int_equal(ino_of(f, b, "y"), e);
	assert_int_equal(dotdot_of(f, e), b);
	assert_int_equal(nlink_of(f, a), 2);
	assert_int_equal(nlink_of(f, b), 4);
	assert_int_equal(nlink_of(f, x), 1);
	/* and back */
	assert_ok(lfs_rename(f->fs, b, "y", a, "d", LFS_RENAME_EXCHANGE));
	assert_int_equal(ino_of(f, a, "d"), e);
	assert_int_equal(ino_of(f, b, "y"), x);
	assert_int_equal(dotdot_of(f, e), a);
	assert_int_equal(nlink_of(f, a), 3);
	assert_int_equal(nlink_of(f, b), 3);

	/* within one directory */
	assert_ok(lfs_rename(f->fs, b, "y", b, "e", LFS_RENAME_EXCHANGE));
	assert_int_equal(ino_of(f, b, "y"), d);
	assert_int_equal(ino_of(f, b, "e"), x);
	assert_int_equal(nlink_of(f, b), 3);
	assert_int_equal(dotdot_of(f, d), b);

	/* a missing side */
	assert_rc(lfs_rename(f->fs, a, "x", b, "nope", LFS_RENAME_EXCHANGE),
		  -ENOENT);
	assert_rc(lfs_rename(f->fs, a, "nope", b, "y", LFS_RENAME_EXCHANGE),
		  -ENOENT);
	assert_int_equal(ino_of(f, a, "x"), y);
	assert_int_equal(ino_of(f, b, "y"), d);
	assert_rc(lookup_rc(f, b, "nope"), -ENOENT);
}

/* The whiteout a name is left to: a character device 0/0 of mode 0. */
static void assert_whiteout(struct fx *f, uint64_t dir, const char *name, uid_t uid,
			    gid_t gid)
{
	struct stat st = st_get(f, ino_of(f, dir, name));

	assert_int_equal(st.st_mode, S_IFCHR);
	assert_int_equal(st.st_rdev, 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
}

/* RENAME_WHITEOUT: the source name stays, now a whiteout owned by the
 * caller (the directory's group when it is setgid); the moved inode and a
 * replaced one fare as in any rename; the counts follow.  The rules of
 * renameat2's flags, and a whiteout needs a caller. */
static void test_rename_whiteout(void **state)
{
	struct fx *f = *state;
	struct stat st;
	struct lfs_cred c = fx_cred(1000, 1001, 022);
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, LFS_ROOT_INO, "b");
	uint64_t x = mk_file(f, a, "x");
	uint64_t y = mk_file(f, a, "y");
	uint64_t d = mk_dir(f, a, "d");

	assert_ok(lfs_renameat2(f->fs, &c, a, "x", a, "x2", LFS_RENAME_WHITEOUT));
	assert_int_equal(ino_of(f, a, "x2"), x);
	assert_whiteout(f, a, "x", 1000, 1001);
	assert_int_equal(st_get(f, a).st_size, 4);        /* x, x2, y, d */
	/* over an existing name: it goes as in a plain rename */
	assert_ok(lfs_renameat2(f->fs, &c, a, "x2", a, "y", LFS_RENAME_WHITEOUT));
	assert_rc(lfs_getattr(f->fs, y, &st), -ENOENT);
	assert_int_equal(ino_of(f, a, "y"), x);
	assert_whiteout(f, a, "x2", 1000, 1001);
	/* a directory to another parent, out of a setgid one */
	st.st_mode = S_ISGID | 0777;
	st.st_gid = 77;
	assert_ok(lfs_setattr(f->fs, &f->cred, a, &st, LFS_SET_MODE | LFS_SET_GID, NULL));
	assert_int_equal(nlink_of(f, a), 3);
	assert_ok(lfs_renameat2(f->fs, &c, a, "d", b, "d", LFS_RENAME_WHITEOUT |
				LFS_RENAME_NOREPLACE));
	assert_whiteout(f, a, "d", 1000, 77);
	assert_int_equal(dotdot_of(f, d), b);
	assert_int_equal(nlink_of(f, a), 2);
	assert_int_equal(nlink_of(f, b), 3);
	assert_int_equal(st_get(f, a).st_size, 4);        /* x, x2, y, d */
	assert_int_equal(st_get(f, b).st_size, 1);
	/* refusals make no whiteout */
	assert_rc(lfs_renameat2(f->fs, &c, a, "y", b, "d", LFS_RENAME_WHITEOUT), -EISDIR);
	assert_rc(lfs_renameat2(f->fs, &c, a, "y", a, "x", LFS_RENAME_WHITEOUT |
				LFS_RENAME_NOREPLACE), -EEXIST);
	assert_rc(lfs_renameat2(f->fs, &c, a, "y", a, "x", LFS_RENAME_WHITEOUT |
				LFS_RENAME_EXCHANGE), -EINVAL);
	assert_rc(lfs_rename(f->fs, a, "y", a, "z", LFS_RENAME_WHITEOUT), -EINVAL);
	assert_int_equal(ino_of(f, a, "y"), x);
	assert_rc(lookup_rc(f, a, "z"), -ENOENT);
	assert_int_equal(st_get(f, a).st_size, 4);
	fx_remount(f);
	assert_whiteout(f, a, "x", 1000, 1001);
	assert_whiteout(f, a, "d", 1000, 77);
	assert_int_equal(ino_of(f, b, "d"), d);
}

/* Random directory moves against a model of the tree: every directory's
 * link count is 2 + its subdirectories, always. */
static void test_nlink_model(void **state)
{
	struct fx *f = *state;
	enum { N = 12 };
	uint64_t ino[N + 1];          /* 0: the test root */
	int parent[N + 1];            /* -1: not present */
	char name[N + 1][8];
	uint64_t rng = 42;

	ino[0] = mk_dir(f, LFS_ROOT_INO, "top");
	parent[0] = -2;
	for (int i = 1; i <= N; i++) {
		parent[i] = -1;
		snprintf(name[i], sizeof(name[i]), "n%d", i);
	}
	for (int step = 0; step < 400; step++) {
		int i = 1 + (int)rng_below(&rng, N);
		int p = (int)rng_below(&rng, N + 1);
		int op = (int)rng_below(&rng, 3);
		bool p_present = p == 0 || parent[p] >= 0;
		int subs_i = 0, has_file = 0;
		(void)has_file;
		for (int j = 1; j <= N; j++)
			subs_i += parent[j] == i;
		if (parent[i] < 0) {
			if (!p_present)
				continue;
			struct stat st;
			assert_ok(lfs_mkdir(f->fs, &f->cred, ino[p], name[i],
					    0755, &st));
			lfs_forget(f->fs, st.st_ino, 1);
			ino[i] = st.st_ino;
			parent[i] = p;
		} else if (op == 0) {
			int rc = lfs_rmdir(f->fs, ino[parent[i]], name[i]);
			if (subs_i) {
				assert_rc(rc, -ENOTEMPTY);
			} else {
				assert_ok(rc);
				parent[i] = -1;
			}
		} else {
			if (!p_present)
				continue;
			/* is p inside i (or i itself)? */
			bool loop = false;
			for (int k = p; k > 0; k = parent[k])
				if (k == i)
					loop = true;
			int rc = lfs_rename(f->fs, ino[parent[i]], name[i],
					    ino[p], name[i], 0);
			if (loop && p != parent[i]) {
				assert_rc(rc, -EINVAL);
			} else {
				assert_ok(rc);
				parent[i] = p;
			}
		}
		for (int j = 0; j <= N; j++) {
			if (j && parent[j] < 0)
				continue;
			int subs = 0;
			for (int k = 1; k <= N; k++)
				subs += parent[k] == j;
			struct stat st = st_get(f, ino[j]);
			if (st.st_nlink != (nlink_t)(2 + subs))
				fail_msg("step %d: dir %d nlink %ju, want %d",
					 step, j, (uintmax_t)st.st_nlink,
					 2 + subs);
			if (j) {
				uint64_t pino = ino[parent[j]];
				assert_int_equal(ino_of(f, pino, name[j]),
						 ino[j]);
			}
		}
	}
	for (int j = 1; j <= N; j++)
		if (parent[j] >= 0)
			assert_int_equal(dotdot_of(f, ino[j]), ino[parent[j]]);
	fx_remount(f);
	for (int j = 0; j <= N; j++) {
		if (j && parent[j] < 0)
			continue;
		int subs = 0;
		for (int k = 1; k <= N; k++)
			subs += parent[k] == j;
		assert_int_equal(nlink_of(f, ino[j]), 2 + subs);
	}
}

/* ---- concurrent renames ----------------------------------------------- */

/* Threads move directories d0..d7 (each always named dK) under random
 * others at once.  Each rename's loop check must hold against the others:
 * at the end the tree is still a tree hanging from "top", every dK is
 * reachable exactly once, ".." names its parent and link counts are
 * exact.  (The kernel serializes cross-directory renames per filesystem,
 * but lfs.h lets any number of threads call in.) */
enum { CR_DIRS = 8, CR_THREADS = 4, CR_STEPS = 400 };

struct crename {
	struct fx *f;
	uint64_t *ino;             /* [0]: top, [1..CR_DIRS]: dK */
	uint64_t seed;
	int bad;                   /* an unexpected return */
	int moved;                 /* renames that succeeded */
	char why[128];
};

static void *crename_main(void *arg)
{
	struct crename *c = arg;
	uint64_t rng = c->seed;
	char name[8];

	for (int s = 0; s < CR_STEPS && !c->bad; s++) {
		int k = 1 + (int)rng_below(&rng, CR_DIRS);
		int to = (int)rng_below(&rng, CR_DIRS + 1);
		snprintf(name, sizeof(name), "d%d", k);
		/* where is dK now?  try every directory as the parent */
		for (int p = 0; p <= CR_DIRS; p++) {
			int rc = lfs_rename(c->f->fs, c->ino[p], name,
					    c->ino[to], name, 0);
			if (rc == -ENOENT)
				continue;    /* not there (or moved meanwhile) */
			if (rc == 0 || rc == -EINVAL) {
				c->moved += rc == 0;
				break;
			}
			snprintf(c->why, sizeof(c->why),
				 "rename d%d from %d to %d: %d", k, p, to, rc);
			c->bad = 1;
			break;
		}
	}
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_concurrent_renames: deadlock?\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

static void test_concurrent_renames(void **state)
{
	struct fx *f = *state;
	uint64_t ino[CR_DIRS + 1];
	char name[8];
	pthread_t t[CR_THREADS];
	struct crename c[CR_THREADS];

	ino[0] = mk_dir(f, LFS_ROOT_INO, "top");
	for (int k = 1; k <= CR_DIRS; k++) {
		snprintf(name, sizeof(name), "d%d", k);
		ino[k] = mk_dir(f, ino[0], name);
	}
	signal(SIGALRM, on_alarm);
	alarm(120);
	for (int i = 0; i < CR_THREADS; i++) {
		c[i] = (struct crename){ .f = f, .ino = ino, .seed = 100 + i };
		assert_int_equal(pthread_create(&t[i], NULL, crename_main,
						&c[i]), 0);
	}
	for (int i = 0; i < CR_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (c[i].bad)
			fail_msg("%s", c[i].why);
	}
	alarm(0);
	int moved = 0;
	for (int i = 0; i < CR_THREADS; i++)
		moved += c[i].moved;
	assert_true(moved > CR_THREADS * CR_STEPS / 4);
	/* walk the tree from top */
	int parent[CR_DIRS + 1], seen = 0, queue[CR_DIRS + 1], qn = 0;
	for (int k = 0; k <= CR_DIRS; k++)
		parent[k] = -1;
	queue[qn++] = 0;
	for (int qi = 0; qi < qn; qi++) {
		int p = queue[qi];
		struct dlist d;
		readdir_all(f, ino[p], 16, &d);
		for (size_t i = 0; i < d.n; i++) {
			if (!strcmp(d.e[i].name, "."))
				continue;
			if (!strcmp(d.e[i].name, "..")) {
				if (p)
					assert_int_equal(d.e[i].ino,
							 ino[parent[p]]);
				continue;
			}
			int k;
			assert_int_equal(sscanf(d.e[i].name, "d%d", &k), 1);
			assert_true(k >= 1 && k <= CR_DIRS);
			assert_int_equal(d.e[i].ino, ino[k]);
			if (parent[k] != -1)
				fail_msg("d%d reached twice", k);
			parent[k] = p;
			queue[qn++] = k;
			seen++;
		}
		free(d.e);
	}
	assert_int_equal(seen, CR_DIRS);
	for (int k = 0; k <= CR_DIRS; k++) {
		int subs = 0;
		for (int j = 1; j <= CR_DIRS; j++)
			subs += parent[j] == k;
		assert_int_equal(nlink_of(f, ino[k]), 2 + subs);
	}
	assert_int_equal(nlink_of(f, LFS_ROOT_INO), 4);
}

/* Hard links made and removed from several threads: the count stays
 * exact. */
struct linker {
	struct fx *f;
	uint64_t ino, dir;
	unsigned id;
	int err;
};

static void *linker_main(void *arg)
{
	struct linker *l = arg;
	char name[32];
	struct stat st;

	for (unsigned i = 0; i < 200 && !l->err; i++) {
		snprintf(name, sizeof(name), "l%u-%u", l->id, i);
		l->err = lfs_link(l->f->fs, l->ino, l->dir, name, &st);
		if (l->err)
			break;
		lfs_forget(l->f->fs, l->ino, 1);
		if (i % 2) {
			snprintf(name, sizeof(name), "l%u-%u", l->id, i - 1);
			l->err = lfs_unlink(l->f->fs, l->dir, name);
		}
	}
	return NULL;
}

static void test_concurrent_links(void **state)
{
	struct fx *f = *state;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	pthread_t t[4];
	struct linker l[4];

	for (unsigned i = 0; i < 4; i++) {
		l[i] = (struct linker){ f, x, d, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, linker_main,
						&l[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_rc(l[i].err, 0);
	}
	assert_int_equal(nlink_of(f, x), 1 + 4 * 100);
	struct dlist dl;
	readdir_all(f, d, 64, &dl);
	assert_int_equal(dl.n, 2 + 1 + 4 * 100);
	free(dl.e);
	fx_remount(f);
	assert_int_equal(nlink_of(f, x), 1 + 4 * 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_lookup),
		fx_test(test_lookup_dot_dotdot),
		fx_test(test_mknod_types),
		fx_test(test_mknod_refusals),
		fx_test(test_mkdir),
		fx_test(test_parent_times),
		fx_test(test_unlink),
		fx_test(test_rmdir),
		fx_test(test_link),
		fx_test(test_symlink),
		fx_test(test_name_lengths),
		fx_test(test_name_bytes),
		fx_test(test_ino_not_reused),
		fx_test(test_nondir_parent),
		fx_test(test_rename_file),
		fx_test(test_rename_over_file),
		fx_test(test_rename_dirs),
		fx_test(test_rename_into_subtree),
		fx_test(test_rename_to_itself),
		fx_test(test_rename_noreplace),
		fx_test(test_rename_exchange),
		fx_test(test_rename_whiteout),
		fx_test(test_nlink_model),
		fx_test(test_concurrent_renames),
		fx_test(test_concurrent_links),
	};
	return cmocka_run_group_tests_name("fs_namei", tests, NULL, NULL);
}
