/* SPDX-License-Identifier: MIT */
/*
 * test_attr.c: attributes through the core (fs/lfs.h): lfs_setattr's
 * chmod, chown with suid/sgid clearing, KILL_SUIDGID (and S_ISGID without
 * group-exec for callers outside the group), truncate, utimensat
 * with explicit nanosecond times and with the clock, ctime on every
 * change, birth time, atime under the three atime modes, suid clearing by
 * writes, and st_blocks of sparse and dense files.
 */
#include <linux/falloc.h>

#include "fsutil.h"

static struct stat set_mode(struct fx *f, uint64_t ino, mode_t mode)
{
	struct stat st = { .st_mode = mode }, out;

	memset(&out, 0, sizeof(out));
	assert_ok(lfs_setattr(f->fs, &f->cred, ino, &st, LFS_SET_MODE, &out));
	return out;
}

static void chown_to(struct fx *f, uint64_t ino, uid_t uid, gid_t gid,
		     unsigned valid)
{
	struct stat st = { .st_uid = uid, .st_gid = gid };

	assert_ok(lfs_setattr(f->fs, &f->cred, ino, &st, valid, NULL));
}

static mode_t perm_of(struct fx *f, uint64_t ino)
{
	return st_get(f, ino).st_mode & 07777;
}

static void test_chmod(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");

	write_at(f, x, "data", 4, 0);
	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	struct stat out = set_mode(f, x, S_IFREG | 04751);
	struct timespec hi = ts_after();
	struct stat st = st_get(f, x);
	assert_int_equal(st.st_mode, S_IFREG | 04751);
	assert_int_equal(out.st_mode, S_IFREG | 04751);
	assert_int_equal(out.st_ino, x);
	assert_int_equal(out.st_size, 4);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(out.st_ctim, st.st_ctim);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_ts_equal(st.st_atim, ts_make(1000, 0));
	assert_int_equal(st.st_size, 4);

	/* permission bits alone: the type stays */
	set_mode(f, x, 0600);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0600);
	set_mode(f, x, 07777);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 07777);
	set_mode(f, x, 0);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG);
	set_mode(f, d, S_IFDIR | 01777);
	assert_int_equal(st_get(f, d).st_mode, S_IFDIR | 01777);
	set_mode(f, d, 02700);
	assert_int_equal(st_get(f, d).st_mode, S_IFDIR | 02700);
	/* chmod clears nothing by itself, even with other ids */
	f->cred = fx_cred(1000, 1000, 022);
	set_mode(f, x, 06755);
	assert_int_equal(perm_of(f, x), 06755);
	assert_int_equal(st_get(f, x).st_uid, 0);
	fx_remount(f);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 06755);
	assert_int_equal(st_get(f, d).st_mode, S_IFDIR | 02700);
}

static void test_chown(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");

	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	chown_to(f, x, 1001, 0, LFS_SET_UID);
	struct timespec hi = ts_after();
	struct stat st = st_get(f, x);
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(st.st_gid, 0);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	chown_to(f, x, 0, 2002, LFS_SET_GID);
	st = st_get(f, x);
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(st.st_gid, 2002);
	chown_to(f, x, 3, 4, LFS_SET_UID | LFS_SET_GID);
	st = st_get(f, x);
	assert_int_equal(st.st_uid, 3);
	assert_int_equal(st.st_gid, 4);
	/* the largest ids fit */
	chown_to(f, x, 0xfffffffeu, 0xfffffffdu, LFS_SET_UID | LFS_SET_GID);
	fx_remount(f);
	st = st_get(f, x);
	assert_int_equal(st.st_uid, 0xfffffffeu);
	assert_int_equal(st.st_gid, 0xfffffffdu);

	/* suid goes, sgid goes when group-executable (files only) */
	struct {
		mode_t before, after;
		unsigned valid;
	} k[] = {
		{ 04755, 00755, LFS_SET_UID },
		{ 06755, 00755, LFS_SET_UID },
		{ 02755, 00755, LFS_SET_GID },
		{ 02745, 02745, LFS_SET_GID },      /* no group exec */
		{ 06745, 02745, LFS_SET_UID | LFS_SET_GID },
		{ 04644, 00644, LFS_SET_GID },
		{ 00755, 00755, LFS_SET_UID },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		set_mode(f, x, k[i].before);
		chown_to(f, x, 500 + (uid_t)i, 600 + (gid_t)i, k[i].valid);
		if (perm_of(f, x) != k[i].after)
			fail_msg("case %zu: chown of 0%o left 0%o, want 0%o",
				 i, (unsigned)k[i].before,
				 (unsigned)perm_of(f, x),
				 (unsigned)k[i].after);
	}
	/* even when the owner does not change (as chown(2) on Linux) */
	set_mode(f, x, 06755);
	chown_to(f, x, st_get(f, x).st_uid, 0, LFS_SET_UID);
	assert_int_equal(perm_of(f, x), 0755);
	/* directories keep theirs */
	set_mode(f, d, 06755);
	chown_to(f, d, 7, 8, LFS_SET_UID | LFS_SET_GID);
	st = st_get(f, d);
	assert_int_equal(st.st_mode, S_IFDIR | 06755);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
}

static void test_kill_suidgid(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	struct stat st = { 0 };
	mode_t k[][2] = { { 06755, 0755 }, { 06745, 02745 }, { 04700, 0700 },
			  { 02710, 0710 }, { 0777, 0777 } };

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		set_mode(f, x, k[i][0]);
		set_times(f, x, 1000);
		assert_ok(lfs_setattr(f->fs, &f->cred, x, &st,
				      LFS_SET_KILL_SUIDGID, NULL));
		assert_int_equal(perm_of(f, x), k[i][1]);
		assert_true(st_get(f, x).st_ctim.tv_sec > 1000);
	}
}

static void test_write_kill_suid(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	mode_t k[][2] = { { 06755, 0755 }, { 06745, 02745 }, { 04644, 0644 },
			  { 02775, 0775 }, { 0755, 0755 } };

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		set_mode(f, x, k[i][0]);
		assert_rc(lfs_write(f->fs, x, "a", 1, (off_t)i, 0), 1);
		assert_int_equal(perm_of(f, x), k[i][0]);   /* no flag */
		assert_rc(lfs_write(f->fs, x, "b", 1, (off_t)i,
				    LFS_WRITE_KILL_SUID), 1);
		assert_int_equal(perm_of(f, x), k[i][1]);
	}
	assert_content(f, x, (const uint8_t *)"bbbbb", 5);
}

/*
 * Linux's rule (setattr_should_drop_sgid, 6.2+): S_ISGID without
 * group-exec goes too when the caller is outside the file's group and
 * not root; a member by its own or a supplementary group keeps it.  By
 * KILL_SUIDGID alone (the kernel's bare SETATTR before a write or
 * fallocate), with a truncate, with a chgrp (membership of the group the
 * file had), and by a write with LFS_WRITE_KILL_SGID.
 */
static void test_kill_sgid_outside_group(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	gid_t sup[] = { 3000, 2000 }, other[] = { 3000 };
	struct lfs_cred out = fx_cred(1000, 1000, 022);
	struct lfs_cred own = fx_cred(1000, 2000, 022);
	struct lfs_cred supp = fx_cred(1000, 1000, 022);
	struct lfs_cred supp_other = fx_cred(1000, 1000, 022);
	struct lfs_cred root = fx_cred(0, 0, 022);
	supp.groups = sup;
	supp.ngroups = 2;
	supp_other.groups = other;
	supp_other.ngroups = 1;
	struct {
		const struct lfs_cred *c;
		mode_t before, after;
	} k[] = {
		{ &out, 02666, 0666 }, { &out, 06666, 0666 }, { &out, 02676, 0676 },
		{ &out, 04666, 0666 }, { &out, 0666, 0666 },
		{ &supp_other, 02666, 0666 },
		{ &own, 02666, 02666 }, { &own, 06666, 02666 }, { &own, 02676, 0676 },
		{ &supp, 02666, 02666 }, { &supp, 06646, 02646 },
		{ &root, 02666, 02666 }, { &root, 06676, 0676 },
	};
	struct stat st = { .st_size = 3, .st_uid = 1000, .st_gid = 2000 };
	chown_to(f, x, 1000, 2000, LFS_SET_UID | LFS_SET_GID);
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		for (int how = 0; how < 3; how++) {
			unsigned valid = how == 0 ? LFS_SET_KILL_SUIDGID :
					 how == 1 ? LFS_SET_KILL_SUIDGID | LFS_SET_SIZE :
						    LFS_SET_KILL_SUIDGID | LFS_SET_GID;
			st.st_gid = 2000;
			set_mode(f, x, k[i].before);
			assert_ok(lfs_setattr(f->fs, k[i].c, x, &st, valid, NULL));
			if (perm_of(f, x) != k[i].after)
				fail_msg("case %zu/%d: 0%o left 0%o, want 0%o", i, how,
					 (unsigned)k[i].before, (unsigned)perm_of(f, x),
					 (unsigned)k[i].after);
		}
	}
	/* a chgrp by the owner: membership of the group the file had */
	set_mode(f, x, 02666);
	st.st_gid = 3000;
	assert_ok(lfs_setattr(f->fs, &supp_other, x, &st, LFS_SET_GID | LFS_SET_KILL_SUIDGID,
			      NULL));
	assert_int_equal(perm_of(f, x), 0666);
	chown_to(f, x, 1000, 2000, LFS_SET_GID);
	set_mode(f, x, 02666);
	assert_ok(lfs_setattr(f->fs, &supp, x, &st, LFS_SET_GID | LFS_SET_KILL_SUIDGID, NULL));
	assert_int_equal(perm_of(f, x), 02666);
	assert_int_equal(st_get(f, x).st_gid, 3000);

	/* a write: the glue says whether the writer is outside the group */
	set_mode(f, x, 02666);
	assert_rc(lfs_write(f->fs, x, "a", 1, 0, LFS_WRITE_KILL_SUID), 1);
	assert_int_equal(perm_of(f, x), 02666);
	assert_rc(lfs_write(f->fs, x, "a", 1, 0, LFS_WRITE_KILL_SUID | LFS_WRITE_KILL_SGID), 1);
	assert_int_equal(perm_of(f, x), 0666);
	set_mode(f, x, 06676);
	assert_rc(lfs_write(f->fs, x, "a", 1, 0, LFS_WRITE_KILL_SUID), 1);
	assert_int_equal(perm_of(f, x), 0676);
	fx_remount(f);
	assert_int_equal(perm_of(f, x), 0676);
}

static void test_truncate_attr(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	struct stat st = { .st_size = 12345 }, out;

	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, &out));
	struct timespec hi = ts_after();
	assert_int_equal(out.st_size, 12345);
	st = st_get(f, x);
	assert_int_equal(st.st_size, 12345);
	assert_ts_within(st.st_mtim, lo, hi);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_atim, ts_make(1000, 0));

	set_times(f, x, 1000);
	st.st_size = 10;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, &out));
	st = st_get(f, x);
	assert_int_equal(st.st_size, 10);
	assert_true(st.st_mtim.tv_sec > 1000);
	assert_true(st.st_ctim.tv_sec > 1000);

	/* size with explicit times in one call */
	st.st_size = 20;
	st.st_mtim = ts_make(5000, 5);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st,
			      LFS_SET_SIZE | LFS_SET_MTIME, NULL));
	st = st_get(f, x);
	assert_int_equal(st.st_size, 20);
	assert_ts_equal(st.st_mtim, ts_make(5000, 5));

	/* up to the largest size there is (the kernel's MAX_LFS_FILESIZE,
	 * as tmpfs), and down again */
	st.st_size = INT64_MAX;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_int_equal(st_get(f, x).st_size, INT64_MAX);
	char top[4];
	assert_rc(lfs_read(f->fs, x, top, 4, INT64_MAX - 4), 4);
	assert_memory_equal(top, "\0\0\0\0", 4);
	st.st_size = 20;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_int_equal(st_get(f, x).st_size, 20);
	st.st_size = 0;
	assert_rc(lfs_setattr(f->fs, &f->cred, d, &st, LFS_SET_SIZE, NULL),
		  -EISDIR);
	assert_rc(lfs_setattr(f->fs, &f->cred, 987654321, &st, LFS_SET_MODE,
			      NULL), -ENOENT);
}

static void test_utimens(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	struct stat st, out;
	struct timespec bt0, bt;

	assert_ok(lfs_get_btime(f->fs, x, &bt0));
	memset(&st, 0, sizeof(st));
	st.st_atim = ts_make(123, 456789);
	st.st_mtim = ts_make(987654321, 999999999);
	struct timespec lo = ts_before();
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st,
			      LFS_SET_ATIME | LFS_SET_MTIME, &out));
	struct timespec hi = ts_after();
	assert_ts_equal(out.st_atim, ts_make(123, 456789));
	assert_ts_equal(out.st_mtim, ts_make(987654321, 999999999));
	st = st_get(f, x);
	assert_ts_equal(st.st_atim, ts_make(123, 456789));
	assert_ts_equal(st.st_mtim, ts_make(987654321, 999999999));
	assert_ts_within(st.st_ctim, lo, hi);

	/* one at a time */
	memset(&st, 0, sizeof(st));
	st.st_atim = ts_make(1, 1);
	st.st_mtim = ts_make(2, 2);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MTIME, NULL));
	st = st_get(f, x);
	assert_ts_equal(st.st_atim, ts_make(123, 456789));
	assert_ts_equal(st.st_mtim, ts_make(2, 2));
	st.st_atim = ts_make(3, 3);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME, NULL));
	st = st_get(f, x);
	assert_ts_equal(st.st_atim, ts_make(3, 3));
	assert_ts_equal(st.st_mtim, ts_make(2, 2));

	/* before 1970 and after 2038 */
	st.st_atim = ts_make(-86400 * 365, 5);
	st.st_mtim = ts_make(4102444800ll, 1);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st,
			      LFS_SET_ATIME | LFS_SET_MTIME, NULL));
	/* an explicit ctime */
	st.st_ctim = ts_make(777, 7);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_CTIME, NULL));
	fx_remount(f);
	st = st_get(f, x);
	assert_ts_equal(st.st_atim, ts_make(-86400 * 365, 5));
	assert_ts_equal(st.st_mtim, ts_make(4102444800ll, 1));
	assert_ts_equal(st.st_ctim, ts_make(777, 7));

	/* _NOW, alone and with the plain bits (as FUSE sends them) */
	set_times(f, x, 1000);
	st.st_atim = ts_make(5, 5);
	st.st_mtim = ts_make(6, 6);
	lo = ts_before();
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME_NOW,
			      NULL));
	hi = ts_after();
	st = st_get(f, x);
	assert_ts_within(st.st_atim, lo, hi);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_ts_within(st.st_ctim, lo, hi);
	set_times(f, x, 1000);
	st.st_atim = ts_make(5, 5);
	st.st_mtim = ts_make(6, 6);
	lo = ts_before();
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MTIME_NOW,
			      NULL));
	hi = ts_after();
	st = st_get(f, x);
	assert_ts_equal(st.st_atim, ts_make(1000, 0));
	assert_ts_within(st.st_mtim, lo, hi);
	set_times(f, x, 1000);
	st.st_atim = ts_make(5, 5);
	st.st_mtim = ts_make(6, 6);
	lo = ts_before();
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME |
			      LFS_SET_ATIME_NOW | LFS_SET_MTIME |
			      LFS_SET_MTIME_NOW, NULL));
	hi = ts_after();
	st = st_get(f, x);
	assert_ts_within(st.st_atim, lo, hi);
	assert_ts_within(st.st_mtim, lo, hi);
	assert_ts_within(st.st_ctim, lo, hi);

	/* birth time never changes */
	assert_ok(lfs_get_btime(f->fs, x, &bt));
	assert_ts_equal(bt, bt0);
	assert_rc(lfs_get_btime(f->fs, 987654321, &bt), -ENOENT);
}

/* ctime (and mtime where POSIX says) moves with every change, and not
 * with reads. */
static void test_ctime_updates(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	struct stat st;
	uint8_t buf[8];
	struct timespec lo, hi;

	write_at(f, x, "12345678", 8, 0);
	/* reads change neither (atime aside) */
	set_times(f, x, 1000);
	assert_rc(lfs_read(f->fs, x, buf, 8, 0), 8);
	st = st_get(f, x);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_ts_equal(st.st_ctim, ts_make(1000, 0));
	assert_ok(lfs_getattr(f->fs, x, &st));
	assert_ok(lfs_lseek(f->fs, x, 0, SEEK_DATA));
	st = st_get(f, x);
	assert_ts_equal(st.st_ctim, ts_make(1000, 0));

	/* link: ctime only */
	set_times(f, x, 1000);
	lo = ts_before();
	assert_ok(lfs_link(f->fs, x, d, "x2", &st));
	hi = ts_after();
	lfs_forget(f->fs, x, 1);
	st = st_get(f, x);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));

	/* fallocate punch and zero: mtime and ctime */
	set_times(f, x, 1000);
	lo = ts_before();
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 1, 2));
	hi = ts_after();
	st = st_get(f, x);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_within(st.st_mtim, lo, hi);

	/* copy_file_range: the destination's */
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");
	set_times(f, y, 1000);
	set_times(f, x, 1000);
	lo = ts_before();
	assert_rc(lfs_copy_file_range(f->fs, x, 0, y, 0, 8), 8);
	hi = ts_after();
	st = st_get(f, y);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_within(st.st_mtim, lo, hi);
	st = st_get(f, x);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_ts_equal(st.st_ctim, ts_make(1000, 0));

	/* a directory: chmod */
	set_times(f, d, 1000);
	lo = ts_before();
	set_mode(f, d, 0700);
	hi = ts_after();
	st = st_get(f, d);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
}

/* atime: relatime by default, then noatime and strictatime. */
static void test_atime_modes(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t buf[8];
	struct stat st;
	struct timespec now = ts_before(), lo, hi;
	struct timespec future = ts_make(now.tv_sec + 3600, 0);

	write_at(f, x, "abc", 3, 0);
	/* relatime: atime older than mtime is brought up to date */
	memset(&st, 0, sizeof(st));
	st.st_atim = ts_make(1000, 0);
	st.st_mtim = ts_make(2000, 0);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st,
			      LFS_SET_ATIME | LFS_SET_MTIME, NULL));
	lo = ts_before();
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	hi = ts_after();
	assert_ts_within(st_get(f, x).st_atim, lo, hi);
	/* ... but an atime newer than mtime and ctime and less than a day
	 * old is left alone */
	st.st_atim = future;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME, NULL));
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	assert_ts_equal(st_get(f, x).st_atim, future);
	/* and one more than a day old is updated */
	st.st_atim = ts_make(now.tv_sec - 2 * 86400, 0);
	st.st_mtim = ts_make(now.tv_sec - 3 * 86400, 0);
	st.st_ctim = ts_make(now.tv_sec - 3 * 86400, 0);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME |
			      LFS_SET_MTIME | LFS_SET_CTIME, NULL));
	lo = ts_before();
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	hi = ts_after();
	assert_ts_within(st_get(f, x).st_atim, lo, hi);

	/* noatime */
	fx_unmount(f);
	f->mo.atime = LFS_ATIME_NOATIME;
	fx_mount(f);
	set_times(f, x, 1000);
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	assert_ts_equal(st_get(f, x).st_atim, ts_make(1000, 0));

	/* strictatime: every read */
	fx_unmount(f);
	f->mo.atime = LFS_ATIME_STRICT;
	fx_mount(f);
	st.st_atim = future;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_ATIME, NULL));
	lo = ts_before();
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	hi = ts_after();
	assert_ts_within(st_get(f, x).st_atim, lo, hi);
}

/* POSIX: readdir marks the directory's atime, readlink the link's (Linux:
 * touch_atime in iterate_dir and in readlink; FUSE inodes are S_NOATIME,
 * so the filesystem must do it), relatime applying. */
static void old_atime(struct fx *f, uint64_t ino)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_atim = ts_make(1000, 0);
	st.st_mtim = ts_make(2000, 0);
	assert_ok(lfs_setattr(f->fs, &f->cred, ino, &st,
			      LFS_SET_ATIME | LFS_SET_MTIME, NULL));
}

static void test_atime_readdir(void **state)
{
	struct fx *f = *state;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	struct dlist dl;

	mk_file(f, d, "x");
	old_atime(f, d);
	struct timespec lo = ts_before();
	readdir_all(f, d, 8, &dl);
	struct timespec hi = ts_after();
	free(dl.e);
	assert_ts_within(st_get(f, d).st_atim, lo, hi);
	assert_ts_equal(st_get(f, d).st_mtim, ts_make(2000, 0));
}

static void test_atime_readlink(void **state)
{
	struct fx *f = *state;
	uint64_t s = mk_symlink(f, LFS_ROOT_INO, "s", "target");
	char buf[16];

	old_atime(f, s);
	struct timespec lo = ts_before();
	assert_rc(lfs_readlink(f->fs, s, buf, sizeof(buf)), 6);
	struct timespec hi = ts_after();
	assert_ts_within(st_get(f, s).st_atim, lo, hi);
}

struct touches { int n; uint64_t ino; };

static void count_touch(void *arg, uint64_t ino)
{
	struct touches *t = arg;
	t->n++;
	t->ino = ino;
}

/* nodiratime keeps directories' atimes; a file's still moves, and the
 * core says so (touched), once: lfs_atime_due tells a cache above when. */
static void test_atime_nodiratime_touched(void **state)
{
	struct fx *f = *state;
	struct touches t = { 0 };
	uint8_t buf[8];
	struct dlist dl;

	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t x = mk_file(f, d, "x");
	write_at(f, x, "abc", 3, 0);
	fx_unmount(f);
	f->mo.nodiratime = true;
	f->mo.touched = count_touch;
	f->mo.touched_arg = &t;
	fx_mount(f);
	old_atime(f, d);
	struct stat old = { .st_atim = ts_make(1000, 0), .st_mtim = ts_make(2000, 0),
			    .st_ctim = ts_make(2000, 0) };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &old,
			      LFS_SET_ATIME | LFS_SET_MTIME | LFS_SET_CTIME, NULL));
	readdir_all(f, d, 8, &dl);
	free(dl.e);
	assert_ts_equal(st_get(f, d).st_atim, ts_make(1000, 0));
	struct stat st = st_get(f, d);
	assert_false(lfs_atime_due(f->fs, &st));
	assert_int_equal(t.n, 0);

	st = st_get(f, x);
	assert_true(lfs_atime_due(f->fs, &st));
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.ino, x);
	st = st_get(f, x);
	assert_false(lfs_atime_due(f->fs, &st));
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	assert_int_equal(t.n, 1);
}

static void test_blocks(void **state)
{
	struct fx *f = *state;
	size_t bs = f->info.block_size;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");
	struct stat st = st_get(f, x);
	const size_t mib = 1u << 20;

	assert_int_equal(st.st_blocks, 0);
	assert_true(st.st_blksize > 0);

	/* one byte at 1 GiB: one block's worth at most */
	write_at(f, x, "z", 1, 1ll << 30);
	st = st_get(f, x);
	assert_int_equal(st.st_size, (1ll << 30) + 1);
	assert_true(st.st_blocks >= 1);
	assert_true((size_t)st.st_blocks <= bs / 512);
	/* grown by truncate: nothing stored */
	struct stat sz = { .st_size = 1ll << 40 };
	assert_ok(lfs_setattr(f->fs, &f->cred, y, &sz, LFS_SET_SIZE, NULL));
	assert_int_equal(st_get(f, y).st_blocks, 0);
	/* KEEP_SIZE-less fallocate grows the size; stored data may not */

	/* 1 MiB of incompressible data */
	uint8_t *data = xmalloc(mib);
	fill_random(data, mib, 61);
	uint64_t z = mk_file(f, LFS_ROOT_INO, "z");
	write_at(f, z, data, mib, 0);
	st = st_get(f, z);
	assert_true((size_t)st.st_blocks * 512 >= mib);
	assert_true((size_t)st.st_blocks * 512 <= mib + bs);
	/* punch the first half (block aligned) */
	assert_ok(lfs_fallocate(f->fs, z, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 0, (off_t)(mib / 2)));
	st = st_get(f, z);
	assert_true((size_t)st.st_blocks * 512 >= mib / 2);
	assert_true((size_t)st.st_blocks * 512 <= mib / 2 + bs);
	fx_remount(f);
	assert_int_equal(st_get(f, z).st_blocks, st.st_blocks);
	sz.st_size = 0;
	assert_ok(lfs_setattr(f->fs, &f->cred, z, &sz, LFS_SET_SIZE, NULL));
	assert_int_equal(st_get(f, z).st_blocks, 0);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_chmod),
		fx_test(test_chown),
		fx_test(test_kill_suidgid),
		fx_test(test_write_kill_suid),
		fx_test(test_kill_sgid_outside_group),
		fx_test(test_truncate_attr),
		fx_test(test_utimens),
		fx_test(test_ctime_updates),
		fx_test(test_atime_modes),
		fx_test(test_atime_readdir),
		fx_test(test_atime_readlink),
		fx_test(test_atime_nodiratime_touched),
		fx_test(test_blocks),
	};
	return cmocka_run_group_tests_name("fs_attr", tests, NULL, NULL);
}
