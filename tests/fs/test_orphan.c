/* SPDX-License-Identifier: MIT */
/*
 * test_orphan.c: the lifetime of unlinked inodes (the head of fs/lfs.h).
 *
 * An inode whose last link goes while the kernel holds a reference (from
 * lfs_create, lfs_lookup, lfs_ref, ...) stays readable and writable until
 * lfs_forget drops the last reference; an unmount without the forget
 * reclaims it, and so does the next mount after a crash (here a child
 * process that _exits without unmounting).  "Reclaimed" is checked three
 * ways: getattr says -ENOENT, no key of the inode is left in the inodes,
 * extents, xattrs and orphans trees (internal.h names them; each test
 * first sees the keys there, so a wrong name cannot pass), and the blob
 * bytes the engine counts as live are back where they were.
 *
 * An O_TMPFILE file (lfs_tmpfile) is such an orphan from birth, until
 * lfs_link names it: the same three ways of dying, and power cuts at
 * random points (faultio) never leave one half made or half named.
 */
#include <sys/wait.h>

#include "fsimage.h"

/* Keys in tree `name` that start with be64 ino. */
static size_t keys_of(struct fx *f, const char *name, uint64_t ino)
{
	lkv_tree *t;
	lkv_iter *it;
	uint8_t pfx[8];
	size_t n = 0;
	const void *k, *v;
	size_t kl, vl;

	for (int i = 0; i < 8; i++)
		pfx[i] = (uint8_t)(ino >> (56 - 8 * i));
	assert_ok(lkv_tree_open(lfs_store(f->fs), name, &t));
	assert_ok(lkv_iter_prefix(t, pfx, 8, 0, &it));
	int rc;
	while ((rc = lkv_iter_next(it, &k, &kl, &v, &vl)) == 1)
		n++;
	assert_rc(rc, 0);
	lkv_iter_close(it);
	return n;
}

static uint64_t blob_live(struct fx *f)
{
	struct lkv_stats st;

	lkv_stats(lfs_store(f->fs), &st);
	return st.blob_live_bytes;
}

/* Fails unless nothing of ino is left anywhere. */
static void assert_reclaimed(struct fx *f, uint64_t ino)
{
	struct stat st;

	assert_rc(lfs_getattr(f->fs, ino, &st), -ENOENT);
	assert_int_equal(keys_of(f, "inodes", ino), 0);
	assert_int_equal(keys_of(f, "extents", ino), 0);
	assert_int_equal(keys_of(f, "xattrs", ino), 0);
	assert_int_equal(keys_of(f, "orphans", ino), 0);
}

/* A file of `len` random bytes and an xattr, created with lfs_create
 * (one reference held). */
static uint64_t make_held(struct fx *f, uint64_t dir, const char *name,
			  uint8_t *data, size_t len, uint64_t seed)
{
	struct stat st;

	assert_ok(lfs_create(f->fs, &f->cred, dir, name, S_IFREG | 0644,
			     O_CREAT | O_EXCL | O_RDWR, &st));
	fill_random(data, len, seed);
	write_at(f, st.st_ino, data, len, 0);
	assert_ok(lfs_setxattr(f->fs, st.st_ino, "user.x", "xattr", 5, 0));
	assert_true(keys_of(f, "inodes", st.st_ino) == 1);
	assert_true(keys_of(f, "extents", st.st_ino) > 0);
	assert_true(keys_of(f, "xattrs", st.st_ino) == 1);
	assert_int_equal(keys_of(f, "orphans", st.st_ino), 0);
	return st.st_ino;
}

static void test_unlink_referenced(void **state)
{
	struct fx *f = *state;
	size_t len = 300000;
	uint8_t *data = xmalloc(len);
	struct stat st;
	uint64_t b0 = blob_live(f);
	uint64_t x = make_held(f, LFS_ROOT_INO, "x", data, len, 1);

	assert_ok(lfs_sync(f->fs));
	assert_true(blob_live(f) >= b0 + len / 2);
	/* a second reference from lookup, a third and fourth from ref */
	assert_ok(lfs_lookup(f->fs, LFS_ROOT_INO, "x", &st));
	lfs_ref(f->fs, x, 2);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "x"));
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "x"), -ENOENT);
	assert_int_equal(keys_of(f, "orphans", x), 1);

	st = st_get(f, x);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, len);
	assert_content(f, x, data, len);
	assert_rc(lfs_getxattr(f->fs, x, "user.x", NULL, 0), 5);
	/* still writable, as through an open descriptor */
	write_at(f, x, "tail", 4, (off_t)len);
	memcpy(data + len - 4, "TAIL", 4);
	write_at(f, x, "TAIL", 4, (off_t)len - 4);
	lfs_forget(f->fs, x, 3);
	st = st_get(f, x);
	assert_int_equal(st.st_size, len + 4);
	uint8_t tail[8];
	assert_rc(lfs_read(f->fs, x, tail, 8, (off_t)len - 4), 8);
	assert_memory_equal(tail, "TAILtail", 8);
	/* the last reference */
	lfs_forget(f->fs, x, 1);
	assert_reclaimed(f, x);
	assert_ok(lfs_sync(f->fs));
	assert_int_equal(blob_live(f), b0);
	/* and nothing is left for the next mount to find */
	fx_remount(f);
	assert_reclaimed(f, x);
	assert_int_equal(blob_live(f), b0);
	free(data);
}

/* The last link going by rename over it, by rmdir, and a hard link
 * that keeps the inode linked. */
static void test_other_last_links(void **state)
{
	struct fx *f = *state;
	uint8_t data[5000];
	struct stat st;

	uint64_t y = make_held(f, LFS_ROOT_INO, "y", data, sizeof(data), 2);
	mk_file(f, LFS_ROOT_INO, "z");
	assert_ok(lfs_rename(f->fs, LFS_ROOT_INO, "z", LFS_ROOT_INO, "y", 0));
	assert_int_equal(st_get(f, y).st_nlink, 0);
	assert_content(f, y, data, sizeof(data));
	lfs_forget(f->fs, y, 1);
	assert_reclaimed(f, y);

	/* a referenced directory removed: nlink 0, no new entries */
	assert_ok(lfs_mkdir(f->fs, &f->cred, LFS_ROOT_INO, "d", 0755, &st));
	uint64_t d = st.st_ino;
	assert_ok(lfs_rmdir(f->fs, LFS_ROOT_INO, "d"));
	assert_int_equal(st_get(f, d).st_nlink, 0);
	assert_rc(lfs_mknod(f->fs, &f->cred, d, "n", S_IFREG | 0644, 0, &st),
		  -ENOENT);
	assert_rc(lfs_mkdir(f->fs, &f->cred, d, "n", 0755, &st), -ENOENT);
	assert_rc(lfs_create(f->fs, &f->cred, d, "n", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -ENOENT);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", d, "n", &st), -ENOENT);
	uint64_t into = mk_file(f, LFS_ROOT_INO, "into");
	assert_rc(lfs_link(f->fs, into, d, "n", &st), -ENOENT);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "into", d, "n", 0), -ENOENT);
	assert_int_equal(st_get(f, into).st_nlink, 1);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "into"), into);
	lfs_forget(f->fs, d, 1);
	assert_reclaimed(f, d);

	/* an unlinked inode cannot be linked back (vfs_link: -ENOENT) */
	uint64_t u = make_held(f, LFS_ROOT_INO, "u", data, 10, 4);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "u"));
	assert_rc(lfs_link(f->fs, u, LFS_ROOT_INO, "u-again", &st), -ENOENT);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "u-again"), -ENOENT);
	assert_int_equal(st_get(f, u).st_nlink, 0);
	lfs_forget(f->fs, u, 1);
	assert_reclaimed(f, u);

	/* with another link the inode is no orphan */
	uint64_t h = make_held(f, LFS_ROOT_INO, "h", data, sizeof(data), 3);
	assert_ok(lfs_link(f->fs, h, LFS_ROOT_INO, "h2", &st));
	lfs_forget(f->fs, h, 1);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "h"));
	assert_int_equal(keys_of(f, "orphans", h), 0);
	lfs_forget(f->fs, h, 1);
	assert_int_equal(st_get(f, h).st_nlink, 1);
	assert_content(f, h, data, sizeof(data));
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "h2"), h);
	/* an unreferenced last unlink reclaims at once */
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "h2"));
	assert_reclaimed(f, h);
}

/* Unmount with the reference still held: reclaimed by the unmount. */
static void test_unmount_reclaims(void **state)
{
	struct fx *f = *state;
	size_t len = 1u << 20;
	uint8_t *data = xmalloc(len);
	uint64_t b0 = blob_live(f);
	uint64_t ino[8];

	for (int i = 0; i < 8; i++) {
		char n[8];
		snprintf(n, sizeof(n), "o%d", i);
		ino[i] = make_held(f, LFS_ROOT_INO, n, data, i ? 3000 : len,
				   10 + i);
		assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, n));
	}
	uint64_t keep = make_held(f, LFS_ROOT_INO, "keep", data, 4000, 20);
	lfs_forget(f->fs, keep, 1);
	assert_ok(lfs_sync(f->fs));
	assert_true(blob_live(f) >= b0 + len / 2);
	assert_int_equal(st_get(f, ino[0]).st_nlink, 0);
	fx_remount(f);
	for (int i = 0; i < 8; i++)
		assert_reclaimed(f, ino[i]);
	assert_true(blob_live(f) < b0 + len / 2);
	assert_content(f, keep, data, 4000);
	free(data);
}

/* The crash: a child process creates, writes, unlinks while holding the
 * reference, makes it durable and _exits without unmounting.  The next
 * mount reclaims the orphan and its space. */
static void test_crash_orphan(void **state)
{
	struct fx *f = *state;
	size_t len = 2u << 20;
	uint8_t *data = xmalloc(len);
	uint64_t b0 = blob_live(f);
	int pfd[2];

	fx_unmount(f);
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lfs *fs;
		struct stat st;
		uint64_t out[2] = { 0, 0 };
		f->mo.flush_interval_ms = 3600000;   /* only lfs_sync flushes */
		if (lfs_mount(f->store, &f->mo, &fs))
			_exit(2);
		if (lfs_create(fs, &f->cred, LFS_ROOT_INO, "gone",
			       S_IFREG | 0644, O_CREAT | O_RDWR, &st))
			_exit(3);
		out[0] = st.st_ino;
		fill_random(data, len, 30);
		if (lfs_write(fs, st.st_ino, data, len, 0, 0) != (ssize_t)len)
			_exit(4);
		if (lfs_setxattr(fs, st.st_ino, "user.x", "x", 1, 0))
			_exit(5);
		if (lfs_mknod(fs, &f->cred, LFS_ROOT_INO, "stays",
			      S_IFREG | 0644, 0, &st))
			_exit(6);
		out[1] = st.st_ino;
		if (lfs_write(fs, st.st_ino, "kept", 4, 0, 0) != 4)
			_exit(7);
		if (lfs_sync(fs))
			_exit(8);
		if (lfs_unlink(fs, LFS_ROOT_INO, "gone"))
			_exit(9);
		if (lfs_sync(fs))
			_exit(10);
		if (write(pfd[1], out, sizeof(out)) != sizeof(out))
			_exit(11);
		_exit(0);                            /* no unmount */
	}
	close(pfd[1]);
	uint64_t ino[2] = { 0, 0 };
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(pfd[0], ino, sizeof(ino)), sizeof(ino));
	close(pfd[0]);

	fx_mount(f);
	assert_reclaimed(f, ino[0]);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "gone"), -ENOENT);
	assert_ok(lfs_sync(f->fs));
	assert_int_equal(blob_live(f), b0);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "stays"), ino[1]);
	assert_content(f, ino[1], (const uint8_t *)"kept", 4);
	/* the disk space itself comes back once the engine collects */
	assert_ok(lkv_gc(lfs_store(f->fs)));
	struct lkv_stats ks;
	lkv_stats(lfs_store(f->fs), &ks);
	assert_true(ks.blob_disk_bytes < len / 2);
	fx_remount(f);
	assert_reclaimed(f, ino[0]);
	free(data);
}

/* After such a crash a read-only mount cannot reclaim the orphan, but it
 * mounts, and the name stays gone; the next read-write mount reclaims. */
static void test_crash_orphan_read_only(void **state)
{
	struct fx *f = *state;
	uint64_t ino = 0;
	int pfd[2];

	fx_unmount(f);
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lfs *fs;
		struct stat st;
		uint8_t buf[100000];
		f->mo.flush_interval_ms = 3600000;
		if (lfs_mount(f->store, &f->mo, &fs))
			_exit(2);
		if (lfs_create(fs, &f->cred, LFS_ROOT_INO, "gone",
			       S_IFREG | 0644, O_CREAT | O_RDWR, &st))
			_exit(3);
		memset(buf, 'g', sizeof(buf));
		if (lfs_write(fs, st.st_ino, buf, sizeof(buf), 0, 0) !=
		    (ssize_t)sizeof(buf))
			_exit(4);
		if (lfs_unlink(fs, LFS_ROOT_INO, "gone") || lfs_sync(fs))
			_exit(5);
		if (write(pfd[1], &st.st_ino, sizeof(uint64_t)) !=
		    sizeof(uint64_t))
			_exit(6);
		_exit(0);
	}
	close(pfd[1]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(pfd[0], &ino, sizeof(ino)), sizeof(ino));
	close(pfd[0]);

	f->mo.read_only = true;
	fx_mount(f);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "gone"), -ENOENT);
	struct dlist d;
	readdir_all(f, LFS_ROOT_INO, 16, &d);
	assert_int_equal(d.n, 3);
	free(d.e);
	fx_unmount(f);                 /* returns 0: nothing to report */
	f->mo.read_only = false;
	fx_mount(f);
	assert_reclaimed(f, ino);
}

/* ---- a forget the count does not cover ---- */

static uint64_t held_ino;      /* one reference held */

static int forget_two(struct fx *f)
{
	lfs_forget(f->fs, held_ino, 2);
	return strstr(f->log, "2 references forgotten, but 1 counted") ? 0 : -1;
}

/* Forgetting more references than were handed out means the caller's
 * count and the core's disagree: a bug, reported rather than clamped. */
static void test_forget_more_than_held(void **state)
{
	struct fx *f = *state;
	struct stat st;

	assert_ok(lfs_mknod(f->fs, &f->cred, LFS_ROOT_INO, "f", S_IFREG | 0644, 0, &st));
	held_ino = st.st_ino;
	fx_expect_bug(f, forget_two);
	assert_ok(lfs_getattr(f->fs, held_ino, &st));     /* linked: kept */
}

/* ---- O_TMPFILE ---------------------------------------------------------- */

/* The value of ino's orphan record: 0 none, 1 empty, 2 linkable. */
static int orphan_value(struct fx *f, uint64_t ino)
{
	lkv_tree *t;
	uint8_t k[8], v[4];
	size_t vl;

	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(ino >> (56 - 8 * i));
	assert_ok(lkv_tree_open(lfs_store(f->fs), "orphans", &t));
	int rc = lkv_get(t, k, sizeof(k), v, sizeof(v), &vl);
	if (rc == -ENOENT)
		return 0;
	assert_ok(rc);
	assert_true(vl == 0 || (vl == 1 && v[0] == 'l'));
	return vl ? 2 : 1;
}

/* An unnamed file of `len` random bytes (a reference held). */
static uint64_t make_tmpfile(struct fx *f, uint64_t dir, int flags, uint8_t *data,
			     size_t len, uint64_t seed)
{
	struct stat st;

	assert_ok(lfs_tmpfile(f->fs, &f->cred, dir, S_IFREG | 0640, flags, &st));
	assert_int_equal(st.st_nlink, 0);
	fill_random(data, len, seed);
	write_at(f, st.st_ino, data, len, 0);
	return st.st_ino;
}

static int count_entry(void *arg, const char *name, size_t namelen, uint64_t ino,
		       unsigned type, off_t next, bool group_start)
{
	(void)name; (void)namelen; (void)ino; (void)type; (void)next; (void)group_start;
	(*(int *)arg)++;
	return 0;
}

/* A tmpfile: no entry anywhere, owned like a new file of its directory
 * (setgid inherited), its orphan record linkable; lfs_link names it in
 * one step, after which it is an ordinary file. */
static void test_tmpfile_named(void **state)
{
	struct fx *f = *state;
	uint8_t data[5000];
	struct stat st;
	int n = 0;

	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	st.st_mode = S_ISGID | 0777;
	st.st_gid = 77;
	assert_ok(lfs_setattr(f->fs, &f->cred, d, &st, LFS_SET_MODE | LFS_SET_GID, NULL));
	struct lfs_cred c = fx_cred(1000, 1000, 027);
	assert_ok(lfs_tmpfile(f->fs, &c, d, S_IFREG | 0666, O_RDWR, &st));
	uint64_t x = st.st_ino;
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 77);
	assert_int_equal(orphan_value(f, x), 2);
	fill_random(data, sizeof(data), 41);
	write_at(f, x, data, sizeof(data), 0);
	assert_ok(lfs_readdir(f->fs, d, 0, count_entry, &n));
	assert_int_equal(n, 2);                      /* . and .. */
	assert_int_equal(st_get(f, d).st_size, 0);

	assert_ok(lfs_link(f->fs, x, d, "named", &st));
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(orphan_value(f, x), 0);
	assert_int_equal(ino_of(f, d, "named"), x);
	lfs_forget(f->fs, x, 2);                     /* the tmpfile's, the link's */
	assert_content(f, x, data, sizeof(data));
	fx_remount(f);
	assert_int_equal(ino_of(f, d, "named"), x);
	assert_int_equal(st_get(f, x).st_nlink, 1);
	assert_content(f, x, data, sizeof(data));
}

/* Unnamed, a tmpfile goes as an unlinked file does: on the last forget,
 * or at unmount while still referenced. */
static void test_tmpfile_reclaimed(void **state)
{
	struct fx *f = *state;
	size_t len = 1u << 20;
	uint8_t *data = xmalloc(len);
	uint64_t b0 = blob_live(f);

	uint64_t a = make_tmpfile(f, LFS_ROOT_INO, O_RDWR, data, len, 42);
	assert_ok(lfs_setxattr(f->fs, a, "user.x", "x", 1, 0));
	assert_true(keys_of(f, "extents", a) > 0);
	assert_int_equal(keys_of(f, "xattrs", a), 1);
	lfs_forget(f->fs, a, 1);
	assert_reclaimed(f, a);
	uint64_t b = make_tmpfile(f, LFS_ROOT_INO, O_RDWR, data, len, 43);
	assert_ok(lfs_sync(f->fs));
	assert_true(blob_live(f) >= b0 + len / 2);
	fx_remount(f);
	assert_reclaimed(f, b);
	assert_true(blob_live(f) < b0 + len / 2);
	free(data);
}

/* What lfs_link may not name: a tmpfile made with O_EXCL, a file
 * unlinked while open, a tmpfile named once and unlinked since. */
static void test_tmpfile_unlinkable(void **state)
{
	struct fx *f = *state;
	uint8_t data[100];
	struct stat st;

	uint64_t e = make_tmpfile(f, LFS_ROOT_INO, O_RDWR | O_EXCL, data, sizeof(data), 44);
	assert_int_equal(orphan_value(f, e), 1);
	assert_rc(lfs_link(f->fs, e, LFS_ROOT_INO, "e", &st), -ENOENT);
	assert_ok(lfs_create(f->fs, &f->cred, LFS_ROOT_INO, "u", S_IFREG | 0644,
			     O_CREAT | O_EXCL | O_RDWR, &st));
	uint64_t u = st.st_ino;
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "u"));
	assert_rc(lfs_link(f->fs, u, LFS_ROOT_INO, "u2", &st), -ENOENT);
	uint64_t t = make_tmpfile(f, LFS_ROOT_INO, O_WRONLY, data, sizeof(data), 45);
	assert_ok(lfs_link(f->fs, t, LFS_ROOT_INO, "t", &st));
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "t"));
	assert_int_equal(orphan_value(f, t), 1);
	assert_rc(lfs_link(f->fs, t, LFS_ROOT_INO, "t2", &st), -ENOENT);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "e"), -ENOENT);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "t2"), -ENOENT);
	lfs_forget(f->fs, e, 1);
	lfs_forget(f->fs, u, 1);
	lfs_forget(f->fs, t, 2);
	assert_reclaimed(f, e);
	assert_reclaimed(f, u);
	assert_reclaimed(f, t);
}

static void test_tmpfile_errors(void **state)
{
	struct fx *f = *state;
	struct stat st;

	uint64_t file = mk_file(f, LFS_ROOT_INO, "file");
	assert_rc(lfs_tmpfile(f->fs, &f->cred, file, S_IFREG | 0600, O_RDWR, &st), -ENOTDIR);
	assert_rc(lfs_tmpfile(f->fs, &f->cred, LFS_ROOT_INO, S_IFDIR | 0700, O_RDWR, &st),
		  -EINVAL);
	assert_ok(lfs_mkdir(f->fs, &f->cred, LFS_ROOT_INO, "gone", 0755, &st));
	assert_ok(lfs_rmdir(f->fs, LFS_ROOT_INO, "gone"));
	assert_rc(lfs_tmpfile(f->fs, &f->cred, st.st_ino, S_IFREG | 0600, O_RDWR, &st),
		  -ENOENT);
	lfs_forget(f->fs, st.st_ino, 1);
	fx_unmount(f);
	f->mo.read_only = true;
	fx_mount(f);
	assert_rc(lfs_tmpfile(f->fs, &f->cred, LFS_ROOT_INO, S_IFREG | 0600, O_RDWR, &st),
		  -EROFS);
}

/* A crash (a child that _exits without unmounting): the next mount
 * reclaims the tmpfiles nobody named durably, and keeps the one whose
 * name was made durable. */
static void test_crash_tmpfile(void **state)
{
	struct fx *f = *state;
	uint8_t data[3][20000];
	uint64_t ino[3] = { 0, 0, 0 };
	int pfd[2];

	for (int i = 0; i < 3; i++)
		fill_random(data[i], sizeof(data[i]), 50 + (uint64_t)i);
	fx_unmount(f);
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lfs *fs;
		struct stat st;
		f->mo.flush_interval_ms = 3600000;   /* only lfs_sync flushes */
		if (lfs_mount(f->store, &f->mo, &fs))
			_exit(2);
		for (int i = 0; i < 3; i++) {
			if (lfs_tmpfile(fs, &f->cred, LFS_ROOT_INO, S_IFREG | 0600, O_RDWR, &st) ||
			    lfs_write(fs, st.st_ino, data[i], sizeof(data[i]), 0, 0) !=
			    (ssize_t)sizeof(data[i]))
				_exit(3);
			ino[i] = st.st_ino;
		}
		if (lfs_link(fs, ino[1], LFS_ROOT_INO, "kept", &st) || lfs_sync(fs))
			_exit(4);
		if (lfs_link(fs, ino[2], LFS_ROOT_INO, "lost", &st))  /* never durable */
			_exit(5);
		if (write(pfd[1], ino, sizeof(ino)) != sizeof(ino))
			_exit(6);
		_exit(0);                            /* no unmount */
	}
	close(pfd[1]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(pfd[0], ino, sizeof(ino)), sizeof(ino));
	close(pfd[0]);
	if (fsck_says(f->store, "-n", 0, "will be reclaimed"))
		print_message("fsck -n: the unnamed tmpfiles are the mount's to reclaim\n");
	fx_mount(f);
	assert_reclaimed(f, ino[0]);
	assert_reclaimed(f, ino[2]);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "lost"), -ENOENT);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "kept"), ino[1]);
	assert_int_equal(orphan_value(f, ino[1]), 0);
	assert_content(f, ino[1], data[1], sizeof(data[1]));
}

/* ---- power cuts (faultio) ---- */

static faultio *fault_io;

static void on_faultio(struct fx *f)
{
	fault_io = faultio_new();
	f->fo.io = f->mo.io = faultio_io(fault_io);
	f->mo.flush_interval_ms = 1;     /* epochs sealed as the files are made */
}

static int setup_faultio(void **state)
{
	return fx_setup_with(state, on_faultio);
}

static int teardown_faultio(void **state)
{
	int rc = fx_teardown(state);

	faultio_free(fault_io);
	fault_io = NULL;
	return rc;
}

#define CUT_FILES 12

/* After the cut: tmpfile i of the round is either named "r<round>.<i>",
 * whole, with no orphan record, or gone altogether; nothing else of the
 * round is left. */
static unsigned check_round(struct fx *f, unsigned round, const uint64_t *ino,
			    uint8_t (*data)[6000])
{
	unsigned named = 0;

	for (unsigned i = 0; i < CUT_FILES; i++) {
		char name[32];
		struct stat st;
		snprintf(name, sizeof(name), "r%u.%u", round, i);
		int rc = lfs_lookup(f->fs, LFS_ROOT_INO, name, &st);
		if (rc == -ENOENT) {
			assert_reclaimed(f, ino[i]);
			continue;
		}
		assert_ok(rc);
		lfs_forget(f->fs, st.st_ino, 1);
		assert_int_equal(st.st_ino, ino[i]);
		assert_int_equal(st.st_nlink, 1);
		assert_int_equal(orphan_value(f, ino[i]), 0);
		assert_content(f, ino[i], data[i], sizeof(data[i]));
		named++;
	}
	return named;
}

/*
 * Power cuts at random points while tmpfiles are made, written, named
 * (every other one) and forgotten, the background flush sealing epochs
 * as they go: the image the cut leaves is clean for fsck -n, and after
 * its mount every tmpfile is whole and named or wholly reclaimed.
 */
static void test_tmpfile_power_cuts(void **state)
{
	struct fx *f = *state;
	static uint8_t data[CUT_FILES][6000];
	uint64_t ino[CUT_FILES], r = 7;
	unsigned named = 0, gone = 0;

	assert_ok(lfs_sync(f->fs));
	for (unsigned round = 0; round < 16; round++) {
		faultio_freeze_after(fault_io, rng_next(&r) % 60);
		for (unsigned i = 0; i < CUT_FILES; i++) {
			char name[32];
			struct stat st;
			ino[i] = make_tmpfile(f, LFS_ROOT_INO, O_RDWR, data[i], sizeof(data[i]),
					      rng_next(&r));
			snprintf(name, sizeof(name), "r%u.%u", round, i);
			if (i % 2 == 0)
				assert_ok(lfs_link(f->fs, ino[i], LFS_ROOT_INO, name, &st));
			lfs_forget(f->fs, ino[i], i % 2 == 0 ? 2 : 1);
		}
		assert_ok(lfs_sync(f->fs));
		faultio *img = faultio_crash(fault_io, rng_next(&r), FAULTIO_ORDERED);
		char dir[PATH_MAX], name[32];
		snprintf(name, sizeof(name), "cut%u", round);
		dump_image(f, img, name, dir, sizeof(dir));
		fsck_says(dir, "-n", 0, NULL);
		assert_ok(lfs_unmount(f->fs));
		f->fs = NULL;
		faultio_free(fault_io);
		fault_io = img;
		f->mo.io = faultio_io(img);
		fx_mount(f);
		unsigned n = check_round(f, round, ino, data);
		named += n;
		gone += CUT_FILES - n;
	}
	print_message("power cuts: %u tmpfiles named, %u reclaimed\n", named, gone);
	assert_true(named > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_unlink_referenced),
		fx_test(test_other_last_links),
		fx_test(test_unmount_reclaims),
		fx_test(test_crash_orphan),
		fx_test(test_crash_orphan_read_only),
		fx_test(test_forget_more_than_held),
		fx_test(test_tmpfile_named),
		fx_test(test_tmpfile_reclaimed),
		fx_test(test_tmpfile_unlinkable),
		fx_test(test_tmpfile_errors),
		fx_test(test_crash_tmpfile),
		cmocka_unit_test_setup_teardown(test_tmpfile_power_cuts, setup_faultio,
						teardown_faultio),
	};
	return cmocka_run_group_tests_name("fs_orphan", tests, NULL, NULL);
}
