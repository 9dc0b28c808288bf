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
 */
#include <sys/wait.h>

#include "fsutil.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_unlink_referenced),
		fx_test(test_other_last_links),
		fx_test(test_unmount_reclaims),
		fx_test(test_crash_orphan),
		fx_test(test_crash_orphan_read_only),
		fx_test(test_forget_more_than_held),
	};
	return cmocka_run_group_tests_name("fs_orphan", tests, NULL, NULL);
}
