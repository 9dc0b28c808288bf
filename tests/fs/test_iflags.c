/* SPDX-License-Identifier: MIT */
/*
 * test_iflags.c: inode flags through the core (fs/lfs.h, fs/iflags.c):
 * which a store may keep (format version 4; i and a only where opens are
 * checked, which the mount option open_checks makes the store remember),
 * what the immutable and append-only flags refuse, as Linux's VFS and
 * ext4 refuse it (the errnos of tests/generic/086, ext4's), the count of
 * descriptors open for writing that chattr +i waits for and refuses
 * (-EBUSY), the no-atime flag, and fsck.larchfs's check of the flags a
 * record may hold.
 */
#include <linux/falloc.h>

#include "fsimage.h"
#include "internal.h"

#define I LFS_FL_IMMUTABLE
#define A LFS_FL_APPEND

static void with_open_checks(struct fx *f)
{
	f->mo.open_checks = true;
}

static int setup_checked(void **state)
{
	return fx_setup_with(state, with_open_checks);
}

#define fx_test_checked(fn) cmocka_unit_test_setup_teardown(fn, setup_checked, fx_teardown)

static unsigned flags_of(struct fx *f, uint64_t ino)
{
	unsigned fl = 0xdead;

	assert_ok(lfs_get_iflags(f->fs, ino, &fl));
	return fl;
}

/* Makes ino's format version v (the superblock record rewritten). */
static void set_version(struct fx *f, uint32_t v)
{
	uint8_t sb[256];
	size_t len;

	assert_ok(lkv_get(f->fs->t_super, "sb", 2, sb, sizeof(sb), &len));
	le32_put(sb + 8, v);
	assert_ok(lkv_put(f->fs->t_super, "sb", 2, sb, len, NULL));
	fx_remount(f);
	assert_int_equal(f->info.format_version, v);
}

/* Which flags a store keeps, and a flag change's ctime. */
static void test_what_is_kept(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");

	assert_int_equal(f->info.format_version, 4);
	assert_int_equal(f->info.features, 0);
	assert_int_equal(flags_of(f, x), 0);
	set_times(f, x, 1000);
	assert_ok(lfs_set_iflags(f->fs, x, LFS_FL_NODUMP | LFS_FL_NOATIME));
	assert_int_equal(flags_of(f, x), LFS_FL_NODUMP | LFS_FL_NOATIME);
	assert_true(st_get(f, x).st_ctim.tv_sec > 1000);
	assert_ok(lfs_set_iflags(f->fs, d, LFS_FL_NODUMP));
	/* i and a need checked opens; unknown flags are never kept */
	assert_rc(lfs_set_iflags(f->fs, x, I), -EOPNOTSUPP);
	assert_rc(lfs_set_iflags(f->fs, x, A | LFS_FL_NODUMP), -EOPNOTSUPP);
	assert_non_null(strstr(f->log, "mount with -o iflags"));
	assert_rc(lfs_set_iflags(f->fs, x, 0x1), -EOPNOTSUPP);            /* s */
	assert_rc(lfs_set_iflags(f->fs, x, 0x00800000), -EOPNOTSUPP);     /* C */
	assert_int_equal(flags_of(f, x), LFS_FL_NODUMP | LFS_FL_NOATIME);
	fx_remount(f);
	assert_int_equal(flags_of(f, x), LFS_FL_NODUMP | LFS_FL_NOATIME);
	assert_int_equal(flags_of(f, d), LFS_FL_NODUMP);
	assert_ok(lfs_set_iflags(f->fs, x, 0));
	assert_int_equal(flags_of(f, x), 0);
}

/* open_checks: the store remembers it; a read-only mount sets nothing;
 * a store of format version 3 keeps no flags and refuses the option. */
static void test_open_checks(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	f->mo.open_checks = true;
	f->mo.read_only = true;
	fx_remount(f);
	assert_int_equal(f->info.features, 0);
	f->mo.read_only = false;
	fx_remount(f);
	assert_int_equal(f->info.features, LFS_FEAT_OPEN_CHECKS);
	assert_ok(lfs_set_iflags(f->fs, x, I | A));
	f->mo.open_checks = false;
	fx_remount(f);
	assert_int_equal(f->info.features, LFS_FEAT_OPEN_CHECKS);
	assert_int_equal(flags_of(f, x), I | A);
	assert_ok(lfs_set_iflags(f->fs, x, 0));
	struct lfs_info copy;
	assert_ok(sb_copy_get(lfs_store(f->fs), &copy));
	assert_int_equal(copy.features, LFS_FEAT_OPEN_CHECKS);

	fx_unmount(f);
	f->fo.force = true;
	assert_ok(lfs_format(f->store, &f->fo, NULL, NULL));
	fx_mount(f);
	x = mk_file(f, LFS_ROOT_INO, "x");
	set_version(f, 3);
	assert_int_equal(flags_of(f, x), 0);
	assert_ok(lfs_set_iflags(f->fs, x, 0));
	assert_rc(lfs_set_iflags(f->fs, x, LFS_FL_NODUMP), -EOPNOTSUPP);
	fx_unmount(f);
	f->mo.open_checks = true;
	assert_rc(lfs_mount(f->store, &f->mo, &f->fs), -EOPNOTSUPP);
	assert_non_null(strstr(f->log, "has no inode flags"));
}

/* An immutable file: nothing changes it, but the flag's removal. */
static void test_immutable_file(void **state)
{
	struct fx *f = *state;
	struct stat st = { .st_mode = 0600 };
	uint8_t buf[8];
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");

	write_at(f, x, "data", 4, 0);
	assert_ok(lfs_setxattr(f->fs, x, "user.a", "1", 1, 0));
	assert_ok(lfs_set_iflags(f->fs, x, I));
	assert_rc(lfs_open(f->fs, &f->cred, x, O_WRONLY), -EPERM);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_RDWR | O_APPEND), -EPERM);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_RDONLY | O_TRUNC), -EPERM);
	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDONLY));
	assert_rc(lfs_write(f->fs, x, "z", 1, 4, 0), -EPERM);
	assert_rc(lfs_write(f->fs, x, "z", 1, 0, LFS_WRITE_CACHED), -EPERM);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MODE, NULL), -EPERM);
	st.st_size = 0;
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL), -EPERM);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME_NOW |
			      LFS_SET_MTIME_NOW, NULL), -EPERM);
	assert_rc(lfs_fallocate(f->fs, x, 0, 0, 4096), -EPERM);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1),
		  -EPERM);
	assert_rc(lfs_setxattr(f->fs, x, "user.b", "2", 1, 0), -EPERM);
	assert_rc(lfs_removexattr(f->fs, x, "user.a"), -EPERM);
	assert_rc(lfs_link(f->fs, x, LFS_ROOT_INO, "x2", &st), -EPERM);
	assert_rc(lfs_unlink(f->fs, LFS_ROOT_INO, "x"), -EPERM);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "x", LFS_ROOT_INO, "x3", 0), -EPERM);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "y", LFS_ROOT_INO, "x", 0), -EPERM);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "y", LFS_ROOT_INO, "x",
			     LFS_RENAME_EXCHANGE), -EPERM);
	assert_int_equal(read_at(f, x, buf, sizeof(buf), 0), 4);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "x"), x);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "y"), y);
	assert_ok(lfs_set_iflags(f->fs, x, 0));
	write_at(f, x, "z", 1, 4);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "x"));
}

/* An immutable directory: no entry made or removed in it; its files
 * are not immutable themselves. */
static void test_immutable_dir(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t in = mk_file(f, d, "in");
	uint64_t out = mk_file(f, LFS_ROOT_INO, "out");
	mk_dir(f, d, "sub");

	assert_ok(lfs_set_iflags(f->fs, d, I));
	assert_rc(lfs_mknod(f->fs, &f->cred, d, "n", S_IFREG | 0644, 0, &st), -EPERM);
	assert_rc(lfs_mkdir(f->fs, &f->cred, d, "n", 0755, &st), -EPERM);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", d, "n", &st), -EPERM);
	assert_rc(lfs_create(f->fs, &f->cred, d, "n", S_IFREG | 0644, O_CREAT | O_RDWR, &st),
		  -EPERM);
	assert_rc(lfs_create(f->fs, &f->cred, d, "in", S_IFREG | 0644, O_CREAT | O_EXCL,
			     &st), -EEXIST);       /* as may_create: EEXIST first */
	assert_rc(lfs_tmpfile(f->fs, &f->cred, d, S_IFREG | 0600, O_RDWR, &st), -EPERM);
	assert_rc(lfs_link(f->fs, out, d, "n", &st), -EPERM);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "out", d, "n", 0), -EPERM);
	assert_rc(lfs_rename(f->fs, d, "in", LFS_ROOT_INO, "n", 0), -EPERM);
	assert_rc(lfs_unlink(f->fs, d, "in"), -EPERM);
	assert_rc(lfs_rmdir(f->fs, d, "sub"), -EPERM);
	assert_rc(lfs_rmdir(f->fs, LFS_ROOT_INO, "d"), -EPERM);   /* before ENOTEMPTY */
	assert_rc(lfs_setxattr(f->fs, d, "user.b", "2", 1, 0), -EPERM);
	write_at(f, in, "free", 4, 0);
	assert_int_equal(st_get(f, d).st_size, 2);
	assert_ok(lfs_set_iflags(f->fs, d, 0));
	assert_ok(lfs_unlink(f->fs, d, "in"));
}

/* An append-only file: opens for appending, writes at the end, and
 * touch; none of the rest.  The kernel's cached data (written through a
 * descriptor older than the flag) goes where it belongs. */
static void test_append_file(void **state)
{
	struct fx *f = *state;
	struct stat st = { .st_mode = 0600, .st_uid = 5 };
	uint8_t buf[16];
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	write_at(f, x, "0123", 4, 0);
	assert_ok(lfs_set_iflags(f->fs, x, A));
	assert_rc(lfs_open(f->fs, &f->cred, x, O_WRONLY), -EPERM);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_RDWR), -EPERM);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_WRONLY | O_APPEND | O_TRUNC), -EPERM);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_RDONLY | O_TRUNC), -EPERM);
	assert_ok(lfs_open(f->fs, &f->cred, x, O_WRONLY | O_APPEND));
	lfs_release(f->fs, x, O_WRONLY | O_APPEND);
	assert_rc(lfs_write(f->fs, x, "z", 1, 0, 0), -EPERM);
	assert_rc(lfs_write(f->fs, x, "z", 1, 3, 0), -EPERM);
	assert_int_equal(lfs_write(f->fs, x, "45", 2, 4, 0), 2);          /* at the end */
	assert_int_equal(lfs_write(f->fs, x, "67", 2, 0, LFS_WRITE_APPEND), 2);
	assert_int_equal(lfs_write(f->fs, x, "AB", 2, 0, LFS_WRITE_CACHED), 2);
	assert_int_equal(read_at(f, x, buf, sizeof(buf), 0), 8);
	assert_memory_equal(buf, "AB234567", 8);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MODE, NULL), -EPERM);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_UID, NULL), -EPERM);
	st.st_size = 100;
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL), -EPERM);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MTIME | LFS_SET_TIMES_GIVEN,
			      NULL), -EPERM);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME_NOW | LFS_SET_MTIME_NOW,
			      NULL));
	assert_ok(lfs_fallocate(f->fs, x, 0, 0, 4096));
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_KEEP_SIZE, 0, 8192));
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1),
		  -EPERM);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_ZERO_RANGE, 0, 1), -EPERM);
	assert_rc(lfs_setxattr(f->fs, x, "user.b", "2", 1, 0), -EPERM);
	assert_rc(lfs_link(f->fs, x, LFS_ROOT_INO, "x2", &st), -EPERM);
	assert_rc(lfs_unlink(f->fs, LFS_ROOT_INO, "x"), -EPERM);
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "x", LFS_ROOT_INO, "x3", 0), -EPERM);
	assert_int_equal(st_get(f, x).st_size, 4096);
}

/* An append-only directory: entries made, none removed or replaced. */
static void test_append_dir(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	mk_file(f, d, "old");
	mk_file(f, LFS_ROOT_INO, "out");
	mk_file(f, LFS_ROOT_INO, "out2");

	assert_ok(lfs_set_iflags(f->fs, d, A));
	mk_file(f, d, "new");
	mk_dir(f, d, "nd");
	assert_ok(lfs_rename(f->fs, LFS_ROOT_INO, "out", d, "in", 0));
	assert_rc(lfs_rename(f->fs, LFS_ROOT_INO, "out2", d, "in", 0), -EPERM);
	assert_rc(lfs_rename(f->fs, d, "old", LFS_ROOT_INO, "x", 0), -EPERM);
	assert_rc(lfs_rename(f->fs, d, "old", d, "x", 0), -EPERM);
	assert_rc(lfs_unlink(f->fs, d, "old"), -EPERM);
	assert_rc(lfs_rmdir(f->fs, d, "nd"), -EPERM);
	assert_ok(lfs_tmpfile(f->fs, &f->cred, d, S_IFREG | 0600, O_RDWR, &st));
	lfs_release(f->fs, st.st_ino, O_RDWR);
	assert_ok(lfs_link(f->fs, st.st_ino, d, "was-tmp", NULL));
	lfs_forget(f->fs, st.st_ino, 2);
	assert_int_equal(st_get(f, d).st_size, 5);
}

/* chattr +i waits for descriptors open for writing, then refuses; +a
 * does not wait.  Read-only opens are not counted. */
static void test_writers(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDONLY));
	assert_ok(lfs_set_iflags(f->fs, x, I));
	assert_ok(lfs_set_iflags(f->fs, x, 0));
	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDWR));
	assert_ok(lfs_open(f->fs, &f->cred, x, O_WRONLY));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_rc(lfs_set_iflags(f->fs, x, I), -EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 400);
	assert_ok(lfs_set_iflags(f->fs, x, A));
	lfs_release(f->fs, x, O_RDWR);
	assert_rc(lfs_set_iflags(f->fs, x, I), -EBUSY);
	lfs_release(f->fs, x, O_WRONLY);
	assert_ok(lfs_set_iflags(f->fs, x, I | A));
	assert_ok(lfs_set_iflags(f->fs, x, 0));
	/* create and tmpfile open for writing too */
	assert_ok(lfs_create(f->fs, &f->cred, LFS_ROOT_INO, "c", S_IFREG | 0644,
			     O_CREAT | O_WRONLY, &st));
	assert_rc(lfs_set_iflags(f->fs, st.st_ino, I), -EBUSY);
	lfs_release(f->fs, st.st_ino, O_WRONLY);
	assert_ok(lfs_set_iflags(f->fs, st.st_ino, I));
	lfs_forget(f->fs, st.st_ino, 1);
	assert_ok(lfs_tmpfile(f->fs, &f->cred, LFS_ROOT_INO, S_IFREG | 0600, O_RDWR, &st));
	assert_rc(lfs_set_iflags(f->fs, st.st_ino, I), -EBUSY);
	lfs_release(f->fs, st.st_ino, O_RDWR);
	lfs_forget(f->fs, st.st_ino, 1);
}

/* Where opens are not checked, nothing is counted (nothing needs to). */
static void test_writers_unchecked(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDWR));
	assert_int_equal(inocounts_get(&f->fs->writers, x), 0);
	lfs_release(f->fs, x, O_RDWR);
	assert_ok(lfs_set_iflags(f->fs, x, LFS_FL_NODUMP));
}

/* The no-atime flag: reads leave atime alone even under strictatime. */
static void test_noatime(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4];
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");

	write_at(f, x, "data", 4, 0);
	write_at(f, y, "data", 4, 0);
	f->mo.atime = LFS_ATIME_STRICT;
	fx_remount(f);
	assert_ok(lfs_set_iflags(f->fs, x, LFS_FL_NOATIME));
	set_times(f, x, 1000);
	set_times(f, y, 1000);
	read_at(f, x, buf, sizeof(buf), 0);
	read_at(f, y, buf, sizeof(buf), 0);
	assert_int_equal(st_get(f, x).st_atim.tv_sec, 1000);
	assert_true(st_get(f, y).st_atim.tv_sec > 1000);
}

/* fsck.larchfs: flags a store cannot keep (i without checked opens, an
 * unknown bit) are a problem -n reports and -y clears. */
static void test_fsck(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");
	struct inode in;
	char dir[PATH_MAX];

	if (!getenv("FSCK_LARCHFS")) {
		print_message("skipped: FSCK_LARCHFS is not set\n");
		return;
	}
	assert_ok(lfs_set_iflags(f->fs, y, LFS_FL_NODUMP));
	lkv_batch *b = lkv_batch_new(lfs_store(f->fs));
	assert_ok(inode_get(f->fs, x, &in));
	in.flags |= I | 0x100;
	assert_ok(inode_put(f->fs, b, &in));
	assert_ok(lkv_batch_commit(b, NULL));
	lkv_batch_free(b);
	fx_unmount(f);
	snprintf(dir, sizeof(dir), "%s", f->dir);
	strncat(dir, "/store", sizeof(dir) - strlen(dir) - 1);
	fsck_says(dir, "-n", 4, "has flags this store cannot keep (0x110, unknown)");
	fsck_says(dir, "-y", 1, "has flags this store cannot keep");
	fsck_says(dir, "-n", 0, NULL);
	fx_mount(f);
	assert_int_equal(flags_of(f, x), 0);
	assert_int_equal(flags_of(f, y), LFS_FL_NODUMP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_what_is_kept),
		fx_test(test_open_checks),
		fx_test_checked(test_immutable_file),
		fx_test_checked(test_immutable_dir),
		fx_test_checked(test_append_file),
		fx_test_checked(test_append_dir),
		fx_test_checked(test_writers),
		fx_test(test_writers_unchecked),
		fx_test(test_noatime),
		fx_test(test_fsck),
	};
	return cmocka_run_group_tests_name("fs_iflags", tests, NULL, NULL);
}
