/* SPDX-License-Identifier: MIT */
/*
 * test_xattr.c: extended attributes through the core (fs/lfs.h):
 * XATTR_CREATE / XATTR_REPLACE, ENODATA, ERANGE, size-0 queries, list and
 * remove, the user / trusted / security namespaces, name and value limits,
 * large values, the root's virtual stats xattr, and POSIX ACLs: system.posix_acl_access setting the mode,
 * chmod updating the ACL, and default ACLs inherited on create (the new
 * mode masked by the ACL, the umask ignored).  ACL blobs are built by hand
 * (fsutil.h: acl_encode): u32 version 2, then {u16 tag, u16 perm, u32 id}
 * entries, little-endian.
 */
#include <pthread.h>
#include <sys/xattr.h>

#include "fsutil.h"

#define A_ACCESS  "system.posix_acl_access"
#define A_DEFAULT "system.posix_acl_default"

/* Fails unless name's value is exactly want[0..len). */
static void assert_xattr(struct fx *f, uint64_t ino, const char *name,
			 const void *want, size_t len)
{
	uint8_t *buf = xmalloc(len + 16);

	assert_rc(lfs_getxattr(f->fs, ino, name, NULL, 0), (long long)len);
	memset(buf, 0xcc, len + 16);
	assert_rc(lfs_getxattr(f->fs, ino, name, buf, len + 16),
		  (long long)len);
	assert_bytes(buf, want, len, 0, name);
	if (len)
		assert_rc(lfs_getxattr(f->fs, ino, name, buf, len),
			  (long long)len);
	if (len > 1)        /* (a size of 0 is the length query) */
		assert_rc(lfs_getxattr(f->fs, ino, name, buf, len - 1),
			  -ERANGE);
	free(buf);
}

/* The list as a sorted, '|'-joined string, checking the size-0 query
 * and ERANGE on the way. */
static void list_of(struct fx *f, uint64_t ino, char *out, size_t cap)
{
	char buf[8192], *names[256];
	size_t n = 0;
	ssize_t len = lfs_listxattr(f->fs, ino, NULL, 0);

	assert_true(len >= 0 && (size_t)len <= sizeof(buf));
	assert_rc(lfs_listxattr(f->fs, ino, buf, sizeof(buf)), len);
	if (len > 0) {
		assert_rc(lfs_listxattr(f->fs, ino, buf, (size_t)len - 1),
			  -ERANGE);
		assert_rc(lfs_listxattr(f->fs, ino, buf, (size_t)len), len);
		assert_int_equal(buf[len - 1], 0);
	}
	for (char *p = buf; p < buf + len; p += strlen(p) + 1)
		names[n++] = p;
	for (size_t i = 0; i < n; i++)          /* insertion sort */
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
		     j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(out, "|", cap - strlen(out) - 1);
		strncat(out, names[i], cap - strlen(out) - 1);
	}
}

static void test_xattr_flags(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	char buf[64];

	assert_rc(lfs_getxattr(f->fs, x, "user.a", buf, sizeof(buf)),
		  -ENODATA);
	assert_rc(lfs_getxattr(f->fs, x, "user.a", NULL, 0), -ENODATA);
	assert_rc(lfs_setxattr(f->fs, x, "user.a", "v1", 2, XATTR_REPLACE),
		  -ENODATA);
	assert_rc(lfs_getxattr(f->fs, x, "user.a", NULL, 0), -ENODATA);

	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_setxattr(f->fs, x, "user.a", "value", 5, XATTR_CREATE));
	struct timespec hi = ts_after();
	struct stat st = st_get(f, x);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_xattr(f, x, "user.a", "value", 5);

	assert_rc(lfs_setxattr(f->fs, x, "user.a", "other", 5, XATTR_CREATE),
		  -EEXIST);
	assert_xattr(f, x, "user.a", "value", 5);
	assert_ok(lfs_setxattr(f->fs, x, "user.a", "replaced!", 9,
			       XATTR_REPLACE));
	assert_xattr(f, x, "user.a", "replaced!", 9);
	assert_ok(lfs_setxattr(f->fs, x, "user.a", "ab", 2, 0));
	assert_xattr(f, x, "user.a", "ab", 2);
	assert_ok(lfs_setxattr(f->fs, x, "user.b", "new", 3, 0));
	assert_xattr(f, x, "user.b", "new", 3);
	/* an empty value is a value */
	assert_ok(lfs_setxattr(f->fs, x, "user.empty", "", 0, XATTR_CREATE));
	assert_xattr(f, x, "user.empty", "", 0);
	assert_rc(lfs_setxattr(f->fs, x, "user.empty", "z", 1, XATTR_CREATE),
		  -EEXIST);
	/* values are bytes, NULs included */
	assert_ok(lfs_setxattr(f->fs, x, "user.bin", "\0\1\0\377", 4, 0));
	assert_xattr(f, x, "user.bin", "\0\1\0\377", 4);

	set_times(f, x, 1000);
	lo = ts_before();
	assert_ok(lfs_removexattr(f->fs, x, "user.a"));
	hi = ts_after();
	assert_ts_within(st_get(f, x).st_ctim, lo, hi);
	assert_rc(lfs_getxattr(f->fs, x, "user.a", buf, sizeof(buf)),
		  -ENODATA);
	assert_rc(lfs_removexattr(f->fs, x, "user.a"), -ENODATA);
	assert_rc(lfs_removexattr(f->fs, x, "user.never"), -ENODATA);
	assert_xattr(f, x, "user.b", "new", 3);
	/* a failed set changes no time */
	set_times(f, x, 1000);
	assert_rc(lfs_setxattr(f->fs, x, "user.b", "q", 1, XATTR_CREATE),
		  -EEXIST);
	assert_ts_equal(st_get(f, x).st_ctim, ts_make(1000, 0));

	assert_rc(lfs_setxattr(f->fs, 987654321, "user.a", "v", 1, 0),
		  -ENOENT);
	assert_rc(lfs_getxattr(f->fs, 987654321, "user.a", buf, 4), -ENOENT);
	fx_remount(f);
	assert_xattr(f, x, "user.b", "new", 3);
	assert_xattr(f, x, "user.empty", "", 0);
	assert_xattr(f, x, "user.bin", "\0\1\0\377", 4);
	assert_rc(lfs_getxattr(f->fs, x, "user.a", NULL, 0), -ENODATA);
}

static void test_xattr_list(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	char l[4096];

	assert_rc(lfs_listxattr(f->fs, x, NULL, 0), 0);
	assert_rc(lfs_listxattr(f->fs, x, l, sizeof(l)), 0);
	assert_ok(lfs_setxattr(f->fs, x, "user.one", "1", 1, 0));
	list_of(f, x, l, sizeof(l));
	assert_string_equal(l, "user.one");
	assert_rc(lfs_listxattr(f->fs, x, NULL, 0), 9);
	assert_ok(lfs_setxattr(f->fs, x, "trusted.two", "22", 2, 0));
	assert_ok(lfs_setxattr(f->fs, x, "security.three", "", 0, 0));
	assert_ok(lfs_setxattr(f->fs, x, "user.four", "4444", 4, 0));
	list_of(f, x, l, sizeof(l));
	assert_string_equal(l, "security.three|trusted.two|user.four|user.one");
	assert_rc(lfs_listxattr(f->fs, x, NULL, 0), 9 + 12 + 15 + 10);
	assert_ok(lfs_removexattr(f->fs, x, "trusted.two"));
	list_of(f, x, l, sizeof(l));
	assert_string_equal(l, "security.three|user.four|user.one");
	/* the directory's list is its own */
	assert_ok(lfs_setxattr(f->fs, d, "user.dir", "d", 1, 0));
	list_of(f, d, l, sizeof(l));
	assert_string_equal(l, "user.dir");

	/* many names */
	for (int i = 0; i < 100; i++) {
		char n[32], v[32];
		snprintf(n, sizeof(n), "user.many%03d", i);
		snprintf(v, sizeof(v), "value-%d", i * i);
		assert_ok(lfs_setxattr(f->fs, d, n, v, strlen(v),
				       XATTR_CREATE));
	}
	assert_rc(lfs_listxattr(f->fs, d, NULL, 0), 9 + 100 * 13);
	fx_remount(f);
	for (int i = 0; i < 100; i++) {
		char n[32], v[32];
		snprintf(n, sizeof(n), "user.many%03d", i);
		snprintf(v, sizeof(v), "value-%d", i * i);
		assert_xattr(f, d, n, v, strlen(v));
	}
	list_of(f, x, l, sizeof(l));
	assert_string_equal(l, "security.three|user.four|user.one");
}

static void test_xattr_namespaces(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	uint64_t s = mk_symlink(f, LFS_ROOT_INO, "s", "x");

	assert_ok(lfs_setxattr(f->fs, x, "user.k", "U", 1, 0));
	assert_ok(lfs_setxattr(f->fs, x, "trusted.k", "TT", 2, 0));
	assert_ok(lfs_setxattr(f->fs, x, "security.k", "SSS", 3, 0));
	assert_xattr(f, x, "user.k", "U", 1);
	assert_xattr(f, x, "trusted.k", "TT", 2);
	assert_xattr(f, x, "security.k", "SSS", 3);
	assert_ok(lfs_removexattr(f->fs, x, "trusted.k"));
	assert_xattr(f, x, "user.k", "U", 1);
	assert_xattr(f, x, "security.k", "SSS", 3);
	/* security.* and trusted.* on a directory and a symlink */
	assert_ok(lfs_setxattr(f->fs, d, "trusted.overlay.opaque", "y", 1, 0));
	assert_xattr(f, d, "trusted.overlay.opaque", "y", 1);
	assert_ok(lfs_setxattr(f->fs, s, "security.selinux",
			       "system_u:object_r:tmp_t:s0", 27, 0));
	assert_xattr(f, s, "security.selinux", "system_u:object_r:tmp_t:s0",
		     27);

	/* no such namespace */
	assert_rc(lfs_setxattr(f->fs, x, "foo.k", "v", 1, 0), -EOPNOTSUPP);
	assert_rc(lfs_setxattr(f->fs, x, "system.foo", "v", 1, 0),
		  -EOPNOTSUPP);
	assert_rc(lfs_setxattr(f->fs, x, "k", "v", 1, 0), -EOPNOTSUPP);
	assert_rc(lfs_getxattr(f->fs, x, "foo.k", NULL, 0), -EOPNOTSUPP);
	char l[256];
	list_of(f, x, l, sizeof(l));
	assert_string_equal(l, "security.k|user.k");
}

static void test_xattr_limits(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	char name[LFS_XATTR_NAME_MAX + 2];
	uint8_t *v = xmalloc(LFS_XATTR_SIZE_MAX + 1);

	/* a name of 255 bytes, prefix included; 256 is too long */
	memcpy(name, "user.", 5);
	memset(name + 5, 'n', LFS_XATTR_NAME_MAX - 5);
	name[LFS_XATTR_NAME_MAX] = 0;
	assert_ok(lfs_setxattr(f->fs, x, name, "ok", 2, 0));
	assert_xattr(f, x, name, "ok", 2);
	name[LFS_XATTR_NAME_MAX] = 'n';
	name[LFS_XATTR_NAME_MAX + 1] = 0;
	assert_rc(lfs_setxattr(f->fs, x, name, "no", 2, 0), -ERANGE);
	assert_rc(lfs_getxattr(f->fs, x, name, NULL, 0), -ERANGE);

	/* the largest value; one byte more is E2BIG */
	fill_random(v, LFS_XATTR_SIZE_MAX + 1, 91);
	assert_ok(lfs_setxattr(f->fs, x, "user.big", v, LFS_XATTR_SIZE_MAX,
			       0));
	assert_xattr(f, x, "user.big", v, LFS_XATTR_SIZE_MAX);
	assert_rc(lfs_setxattr(f->fs, x, "user.big2", v,
			       LFS_XATTR_SIZE_MAX + 1, 0), -E2BIG);
	assert_rc(lfs_getxattr(f->fs, x, "user.big2", NULL, 0), -ENODATA);
	/* sizes about the blob threshold, replaced by smaller and larger */
	size_t sizes[] = { 32767, 32768, 32769, 40000, 10, 65535, 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill_random(v, sizes[i], 92 + i);
		assert_ok(lfs_setxattr(f->fs, x, "user.mid", v, sizes[i], 0));
		assert_xattr(f, x, "user.mid", v, sizes[i]);
	}
	fx_remount(f);
	assert_xattr(f, x, "user.mid", v, 1);
	fill_random(v, LFS_XATTR_SIZE_MAX, 91);
	assert_xattr(f, x, "user.big", v, LFS_XATTR_SIZE_MAX);
	free(v);
}

/* ---- ACLs ------------------------------------------------------------ */

static void set_acl(struct fx *f, uint64_t ino, const char *name,
		    const struct acl_ent *e, size_t n)
{
	uint8_t blob[4 + 8 * 32];
	size_t len = acl_encode(blob, e, n);

	assert_ok(lfs_setxattr(f->fs, ino, name, blob, len, 0));
}

static void assert_acl(struct fx *f, uint64_t ino, const char *name,
		       const struct acl_ent *e, size_t n)
{
	uint8_t blob[4 + 8 * 32];
	size_t len = acl_encode(blob, e, n);

	assert_xattr(f, ino, name, blob, len);
}

static void test_acl_access_sets_mode(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");      /* 0644 */
	char l[256];

	/* USER_OBJ and OTHER as the mode has them; the mask becomes the
	 * group bits */
	struct acl_ent a[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 4, 0 }, { ACL_GROUP, 5, 50 },
		{ ACL_MASK, 7, 0 }, { ACL_OTHER, 4, 0 } };
	set_times(f, x, 1000);
	set_acl(f, x, A_ACCESS, a, 6);
	struct stat st = st_get(f, x);
	assert_int_equal(st.st_mode, S_IFREG | 0674);
	assert_true(st.st_ctim.tv_sec > 1000);
	assert_acl(f, x, A_ACCESS, a, 6);
	list_of(f, x, l, sizeof(l));
	assert_string_equal(l, A_ACCESS);

	a[4].perm = 1;                                   /* mask --x */
	set_acl(f, x, A_ACCESS, a, 6);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0614);
	assert_acl(f, x, A_ACCESS, a, 6);

	/* no mask: the group bits are GROUP_OBJ's */
	struct acl_ent m[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_GROUP_OBJ, 2, 0 },
		{ ACL_OTHER, 4, 0 } };
	set_acl(f, x, A_ACCESS, m, 3);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0624);
	fx_remount(f);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0624);
}

/* On Linux the owner and other bits follow USER_OBJ and OTHER too
 * (posix_acl_equiv_mode / posix_acl_update_mode). */
static void test_acl_access_owner_other_bits(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");      /* 0644 */
	struct acl_ent a[] = {
		{ ACL_USER_OBJ, 5, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 4, 0 }, { ACL_MASK, 6, 0 },
		{ ACL_OTHER, 1, 0 } };

	set_acl(f, x, A_ACCESS, a, 5);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0561);
	struct acl_ent m[] = {
		{ ACL_USER_OBJ, 7, 0 }, { ACL_GROUP_OBJ, 0, 0 },
		{ ACL_OTHER, 0, 0 } };
	set_acl(f, x, A_ACCESS, m, 3);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0700);
}

/* chmod rewrites the ACL: USER_OBJ, MASK (GROUP_OBJ when no mask) and
 * OTHER take the new mode's bits (posix_acl_chmod). */
static void test_acl_chmod(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	struct acl_ent a[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 4, 0 }, { ACL_MASK, 6, 0 },
		{ ACL_OTHER, 4, 0 } };
	struct stat st = { .st_mode = S_IFREG | 0751 };

	set_acl(f, x, A_ACCESS, a, 5);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0664);
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MODE, NULL));
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0751);
	a[0].perm = 7;
	a[3].perm = 5;
	a[4].perm = 1;
	assert_acl(f, x, A_ACCESS, a, 5);

	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");
	struct acl_ent m[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_GROUP_OBJ, 4, 0 },
		{ ACL_OTHER, 4, 0 } };
	set_acl(f, y, A_ACCESS, m, 3);
	st.st_mode = S_IFREG | 0730;
	assert_ok(lfs_setattr(f->fs, &f->cred, y, &st, LFS_SET_MODE, NULL));
	if (lfs_getxattr(f->fs, y, A_ACCESS, NULL, 0) != -ENODATA) {
		m[0].perm = 7;
		m[1].perm = 3;
		m[2].perm = 0;
		assert_acl(f, y, A_ACCESS, m, 3);
	}
}

static void test_acl_remove_keeps_mode(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	struct acl_ent a[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 4, 0 }, { ACL_MASK, 7, 0 },
		{ ACL_OTHER, 4, 0 } };

	set_acl(f, x, A_ACCESS, a, 5);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0674);
	assert_ok(lfs_removexattr(f->fs, x, A_ACCESS));
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0674);
	assert_rc(lfs_getxattr(f->fs, x, A_ACCESS, NULL, 0), -ENODATA);
	/* removing an ACL that is not there succeeds, as on ext4 (the
	 * kernel makes it set_acl(NULL); found by the differential tester) */
	assert_ok(lfs_removexattr(f->fs, x, A_ACCESS));
	assert_rc(lfs_removexattr(f->fs, x, "user.absent"), -ENODATA);
}

/* An access ACL set by someone outside the file's group drops S_ISGID
 * (posix_acl_update_mode); the glue says so with LFS_XATTR_KILL_SGID. */
static void test_acl_kills_sgid(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	struct acl_ent a[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 4, 0 }, { ACL_MASK, 7, 0 },
		{ ACL_OTHER, 4, 0 } };
	uint8_t buf[128];
	size_t n = acl_encode(buf, a, 5);
	struct stat st = { .st_mode = 02755 };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_MODE, NULL));
	assert_ok(lfs_setxattr(f->fs, x, A_ACCESS, buf, n, 0));
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 02674);   /* kept */
	assert_ok(lfs_setxattr(f->fs, x, A_ACCESS, buf, n, LFS_XATTR_KILL_SGID));
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0674);
}

static void test_acl_invalid(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t blob[64];
	struct acl_ent ok[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_GROUP_OBJ, 4, 0 },
		{ ACL_OTHER, 4, 0 } };

	size_t len = acl_encode(blob, ok, 3);
	/* sizes that are not a header plus whole entries */
	assert_rc(lfs_setxattr(f->fs, x, A_ACCESS, blob, 3, 0), -EINVAL);
	assert_rc(lfs_setxattr(f->fs, x, A_ACCESS, blob, len - 1, 0), -EINVAL);
	/* GROUP_OBJ missing */
	struct acl_ent nog[] = { { ACL_USER_OBJ, 6, 0 }, { ACL_OTHER, 4, 0 } };
	len = acl_encode(blob, nog, 2);
	assert_rc(lfs_setxattr(f->fs, x, A_ACCESS, blob, len, 0), -EINVAL);
	/* a named user without a mask */
	struct acl_ent nom[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 5 },
		{ ACL_GROUP_OBJ, 4, 0 }, { ACL_OTHER, 4, 0 } };
	len = acl_encode(blob, nom, 4);
	assert_rc(lfs_setxattr(f->fs, x, A_ACCESS, blob, len, 0), -EINVAL);
	/* an unknown tag */
	struct acl_ent bad[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_GROUP_OBJ, 4, 0 },
		{ 0x40, 4, 0 }, { ACL_OTHER, 4, 0 } };
	len = acl_encode(blob, bad, 4);
	assert_rc(lfs_setxattr(f->fs, x, A_ACCESS, blob, len, 0), -EINVAL);
	/* nothing was stored, the mode is what it was */
	assert_rc(lfs_getxattr(f->fs, x, A_ACCESS, NULL, 0), -ENODATA);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0644);
	/* a default ACL on a file is refused as on Linux */
	len = acl_encode(blob, ok, 3);
	assert_rc(lfs_setxattr(f->fs, x, A_DEFAULT, blob, len, 0), -EACCES);
}

/* Another version of the format: EOPNOTSUPP, as posix_acl_from_xattr. */
static void test_acl_bad_version(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t blob[64];
	struct acl_ent ok[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_GROUP_OBJ, 4, 0 },
		{ ACL_OTHER, 4, 0 } };
	size_t len = acl_encode(blob, ok, 3);

	put_le32(blob, 1);
	assert_rc(lfs_setxattr(f->fs, x, A_ACCESS, blob, len, 0), -EOPNOTSUPP);
	assert_rc(lfs_getxattr(f->fs, x, A_ACCESS, NULL, 0), -ENODATA);
}

static void test_acl_default_inherited(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	struct acl_ent def[] = {
		{ ACL_USER_OBJ, 7, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 5, 0 }, { ACL_GROUP, 7, 50 },
		{ ACL_MASK, 7, 0 }, { ACL_OTHER, 0, 0 } };

	set_acl(f, d, A_DEFAULT, def, 6);
	assert_acl(f, d, A_DEFAULT, def, 6);
	assert_int_equal(st_get(f, d).st_mode, S_IFDIR | 0755); /* unchanged */
	assert_rc(lfs_getxattr(f->fs, d, A_ACCESS, NULL, 0), -ENODATA);

	/* a file: every entry masked by the mode's class bits (0666), the
	 * umask (022) not applied */
	assert_ok(lfs_create(f->fs, &f->cred, d, "f", S_IFREG | 0666,
			     O_CREAT | O_RDWR, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	uint64_t x = st.st_ino;
	assert_int_equal(st.st_mode, S_IFREG | 0660);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0660);
	const struct acl_ent fa[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 5, 0 }, { ACL_GROUP, 7, 50 },
		{ ACL_MASK, 6, 0 }, { ACL_OTHER, 0, 0 } };
	assert_acl(f, x, A_ACCESS, fa, 6);
	assert_rc(lfs_getxattr(f->fs, x, A_DEFAULT, NULL, 0), -ENODATA);
	/* mknod too, with a narrower mode */
	uint64_t n = mk_node(f, d, "n", S_IFREG | 0640, 0);
	assert_int_equal(st_get(f, n).st_mode, S_IFREG | 0640);
	const struct acl_ent na[] = {
		{ ACL_USER_OBJ, 6, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 5, 0 }, { ACL_GROUP, 7, 50 },
		{ ACL_MASK, 4, 0 }, { ACL_OTHER, 0, 0 } };
	assert_acl(f, n, A_ACCESS, na, 6);

	/* a subdirectory: the access ACL masked by 0777, the default ACL
	 * copied as it is */
	assert_ok(lfs_mkdir(f->fs, &f->cred, d, "sub", 0777, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	uint64_t sub = st.st_ino;
	assert_int_equal(st_get(f, sub).st_mode, S_IFDIR | 0770);
	assert_acl(f, sub, A_ACCESS, def, 6);
	assert_acl(f, sub, A_DEFAULT, def, 6);
	/* and down again */
	uint64_t sub2 = mk_dir(f, sub, "sub2");           /* 0755 asked */
	assert_int_equal(st_get(f, sub2).st_mode, S_IFDIR | 0750);
	struct acl_ent da[] = {
		{ ACL_USER_OBJ, 7, 0 }, { ACL_USER, 7, 1000 },
		{ ACL_GROUP_OBJ, 5, 0 }, { ACL_GROUP, 7, 50 },
		{ ACL_MASK, 5, 0 }, { ACL_OTHER, 0, 0 } };
	assert_acl(f, sub2, A_ACCESS, da, 6);
	assert_acl(f, sub2, A_DEFAULT, def, 6);

	fx_remount(f);
	assert_acl(f, x, A_ACCESS, fa, 6);
	assert_acl(f, n, A_ACCESS, na, 6);
	assert_acl(f, sub, A_DEFAULT, def, 6);
	assert_acl(f, sub2, A_DEFAULT, def, 6);
}

/* A default ACL of the three base entries: the new mode is the requested
 * one masked by it, the umask is ignored, and (as on ext4) no access ACL
 * is stored because it would only repeat the mode. */
static void test_acl_default_minimal(void **state)
{
	struct fx *f = *state;
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	struct acl_ent def[] = {
		{ ACL_USER_OBJ, 7, 0 }, { ACL_GROUP_OBJ, 5, 0 },
		{ ACL_OTHER, 5, 0 } };

	set_acl(f, d, A_DEFAULT, def, 3);
	f->cred.umask = 077;
	uint64_t x = mk_node(f, d, "x", S_IFREG | 0666, 0);
	assert_int_equal(st_get(f, x).st_mode, S_IFREG | 0644);
	assert_rc(lfs_getxattr(f->fs, x, A_ACCESS, NULL, 0), -ENODATA);
	uint64_t s = mk_dir(f, d, "s");                   /* 0755 asked */
	assert_int_equal(st_get(f, s).st_mode, S_IFDIR | 0755);
	assert_acl(f, s, A_DEFAULT, def, 3);
	/* without a default ACL the umask applies again */
	assert_ok(lfs_removexattr(f->fs, d, A_DEFAULT));
	uint64_t y = mk_node(f, d, "y", S_IFREG | 0666, 0);
	assert_int_equal(st_get(f, y).st_mode, S_IFREG | 0600);
}

/* xattrs set from several threads on one inode: all there, and the
 * inode's other attributes intact. */
struct xsetter {
	struct fx *f;
	uint64_t ino;
	unsigned id;
	int err;
};

static void *xsetter_main(void *arg)
{
	struct xsetter *x = arg;
	char n[32], v[32];

	for (unsigned i = 0; i < 100 && !x->err; i++) {
		snprintf(n, sizeof(n), "user.t%u.%u", x->id, i);
		snprintf(v, sizeof(v), "%u:%u", x->id, i);
		x->err = lfs_setxattr(x->f->fs, x->ino, n, v, strlen(v),
				      XATTR_CREATE);
		if (!x->err && i % 3 == 2) {
			snprintf(n, sizeof(n), "user.t%u.%u", x->id, i - 1);
			x->err = lfs_removexattr(x->f->fs, x->ino, n);
		}
	}
	return NULL;
}

static void test_xattr_concurrent(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk_file(f, LFS_ROOT_INO, "x");
	pthread_t t[4];
	struct xsetter xs[4];

	write_at(f, ino, "data", 4, 0);
	for (unsigned i = 0; i < 4; i++) {
		xs[i] = (struct xsetter){ f, ino, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, xsetter_main,
						&xs[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_rc(xs[i].err, 0);
	}
	ssize_t want = 0;
	for (unsigned id = 0; id < 4; id++)
		for (unsigned i = 0; i < 100; i++) {
			char n[32], v[32];
			snprintf(n, sizeof(n), "user.t%u.%u", id, i);
			snprintf(v, sizeof(v), "%u:%u", id, i);
			if (i % 3 == 1 && i + 1 < 100) {
				assert_rc(lfs_getxattr(f->fs, ino, n, NULL, 0),
					  -ENODATA);
				continue;
			}
			assert_xattr(f, ino, n, v, strlen(v));
			want += (ssize_t)strlen(n) + 1;
		}
	assert_rc(lfs_listxattr(f->fs, ino, NULL, 0), want);
	assert_content(f, ino, (const uint8_t *)"data", 4);
	assert_int_equal(st_get(f, ino).st_mode, S_IFREG | 0644);
}

/* The root's virtual stats xattr: text that names the store, with the
 * usual size protocol (the length query leaves room), only on the root,
 * never listed, never settable. */
static void test_xattr_stats(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	char buf[16384];

	ssize_t room = lfs_getxattr(f->fs, LFS_ROOT_INO, LFS_STATS_XATTR, NULL, 0);
	ssize_t n = lfs_getxattr(f->fs, LFS_ROOT_INO, LFS_STATS_XATTR, buf, sizeof(buf));
	assert_true(n > 100);
	assert_true(room > n);
	buf[n] = 0;
	assert_non_null(strstr(buf, "Store:"));
	const char *csum = strstr(buf, "Checksum failures:");
	assert_non_null(csum);
	assert_int_equal(strtol(csum + strlen("Checksum failures:"), NULL, 10), 0);
	assert_non_null(strstr(buf, "Mounted for:"));
	assert_rc(lfs_getxattr(f->fs, LFS_ROOT_INO, LFS_STATS_XATTR, buf, 10), -ERANGE);
	assert_rc(lfs_getxattr(f->fs, x, LFS_STATS_XATTR, buf, sizeof(buf)), -EOPNOTSUPP);
	assert_rc(lfs_setxattr(f->fs, LFS_ROOT_INO, LFS_STATS_XATTR, "v", 1, 0), -EOPNOTSUPP);
	assert_rc(lfs_listxattr(f->fs, LFS_ROOT_INO, NULL, 0), 0);
}

/* The root's virtual metrics xattr: Prometheus text, with the same size
 * protocol and the same refusals as the stats. */
static void test_xattr_metrics(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	char buf[32768];

	write_at(f, x, "four", 4, 0);
	ssize_t room = lfs_getxattr(f->fs, LFS_ROOT_INO, LFS_METRICS_XATTR, NULL, 0);
	ssize_t n = lfs_getxattr(f->fs, LFS_ROOT_INO, LFS_METRICS_XATTR, buf, sizeof(buf) - 1);
	assert_true(n > 1000);
	assert_true(room > n);
	buf[n] = 0;
	assert_non_null(strstr(buf, "# TYPE larchfs_engine_flushes_total counter\n"));
	assert_non_null(strstr(buf, "# TYPE larchfs_engine_dirty_bytes gauge\n"));
	assert_non_null(strstr(buf, "\nlarchfs_written_bytes_total 4\n"));
	assert_non_null(strstr(buf, "\nlarchfs_store_info{store=\""));
	/* every line a comment or "name value" */
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		char *sp = strrchr(line, ' ');
		assert_non_null(sp);
		char *end;
		strtod(sp + 1, &end);
		if (*end)
			fail_msg("not a value: %s", line);
	}
	assert_rc(lfs_getxattr(f->fs, LFS_ROOT_INO, LFS_METRICS_XATTR, buf, 10), -ERANGE);
	assert_rc(lfs_getxattr(f->fs, x, LFS_METRICS_XATTR, buf, sizeof(buf)), -EOPNOTSUPP);
	assert_rc(lfs_setxattr(f->fs, LFS_ROOT_INO, LFS_METRICS_XATTR, "v", 1, 0), -EOPNOTSUPP);
	assert_rc(lfs_listxattr(f->fs, LFS_ROOT_INO, NULL, 0), 0);
}

static void no_background_flush(struct fx *f)
{
	f->mo.flush_interval_ms = 3600 * 1000;
}

static int fx_setup_no_flush(void **state)
{
	return fx_setup_with(state, no_background_flush);
}

/* xattr `name` of the root, as a string in buf. */
static void root_text(struct fx *f, const char *name, char *buf, size_t cap)
{
	ssize_t n = lfs_getxattr(f->fs, LFS_ROOT_INO, name, buf, cap - 1);
	assert_true(n > 0);
	buf[n] = 0;
}

/* The stats tell the truth before the first flush: the engine counts live
 * bytes at flushes, so a file written and not yet flushed would make space
 * amplification disk/live huge (1072x after a copy); it says n/a instead,
 * and the metrics leave the ratio out.  After an fsync it is a number. */
static void test_stats_before_flush(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "big");
	size_t len = 4u << 20;
	uint8_t *data = xmalloc(len);
	char text[16384], metrics[32768];

	fill_random(data, len, 23);
	write_at(f, x, data, len, 0);
	free(data);
	root_text(f, LFS_STATS_XATTR, text, sizeof(text));
	assert_non_null(strstr(text, "Space amplification:   n/a until the first flush"));
	assert_non_null(strstr(text, "at the last flush\n"));
	assert_non_null(strstr(text, "File data:             0.0 MiB read, 4.0 MiB written\n"));
	root_text(f, LFS_METRICS_XATTR, metrics, sizeof(metrics));
	assert_null(strstr(metrics, "larchfs_engine_space_amplification_ratio"));

	assert_ok(lfs_fsync(f->fs, x, false));
	root_text(f, LFS_STATS_XATTR, text, sizeof(text));
	const char *amp = strstr(text, "Space amplification:");
	assert_non_null(amp);
	double ratio = strtod(amp + strlen("Space amplification:"), NULL);
	if (!(ratio >= 1.0 && ratio < 2.0))
		fail_msg("space amplification after the flush: %s", amp);
	root_text(f, LFS_METRICS_XATTR, metrics, sizeof(metrics));
	assert_non_null(strstr(metrics, "\nlarchfs_engine_space_amplification_ratio 1."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_xattr_flags),
		fx_test(test_xattr_list),
		fx_test(test_xattr_namespaces),
		fx_test(test_xattr_limits),
		fx_test(test_acl_access_sets_mode),
		fx_test(test_acl_access_owner_other_bits),
		fx_test(test_acl_chmod),
		fx_test(test_acl_remove_keeps_mode),
		fx_test(test_acl_kills_sgid),
		fx_test(test_acl_invalid),
		fx_test(test_acl_bad_version),
		fx_test(test_acl_default_inherited),
		fx_test(test_acl_default_minimal),
		fx_test(test_xattr_concurrent),
		fx_test(test_xattr_stats),
		fx_test(test_xattr_metrics),
		cmocka_unit_test_setup_teardown(test_stats_before_flush, fx_setup_no_flush,
						fx_teardown),
	};
	return cmocka_run_group_tests_name("fs_xattr", tests, NULL, NULL);
}
