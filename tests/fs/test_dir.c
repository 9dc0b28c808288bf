/* SPDX-License-Identifier: MIT */
/*
 * test_dir.c: directories through the core (fs/lfs.h): readdir with "."
 * and "..", entry types, resuming at every offset, offsets that stay valid
 * while entries come and go (nothing that existed throughout is skipped or
 * repeated), the group_start protocol, a directory of 20k entries, name
 * lengths, setgid inheritance, opendir/fsyncdir, statfs, and concurrent
 * creators.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "fsutil.h"

static void assert_dent(const struct dent *e, const char *name, uint64_t ino,
			unsigned type)
{
	if (strcmp(e->name, name) || e->ino != ino || e->type != type)
		fail_msg("entry (\"%s\", %" PRIu64 ", %u), want (\"%s\", %"
			 PRIu64 ", %u)", e->name, e->ino, e->type, name, ino,
			 type);
}

static void test_readdir_basic(void **state)
{
	struct fx *f = *state;
	struct dlist d;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");

	/* empty: "." at offset 0, ".." at 1 */
	readdir_all(f, a, 16, &d);
	assert_int_equal(d.n, 2);
	assert_dent(&d.e[0], ".", a, DT_DIR);
	assert_dent(&d.e[1], "..", LFS_ROOT_INO, DT_DIR);
	assert_int_equal(d.e[0].next, 1);
	assert_true(d.e[0].group_start);
	assert_true(d.e[1].group_start);
	free(d.e);
	struct dlist one = { .e = xmalloc(16 * sizeof(struct dent)) };
	assert_ok(readdir_once(f, a, 1, 16, &one));
	assert_int_equal(one.n, 1);
	assert_dent(&one.e[0], "..", LFS_ROOT_INO, DT_DIR);
	assert_ok(readdir_once(f, a, one.e[0].next, 16, &one));
	assert_int_equal(one.n, 0);

	/* every type */
	uint64_t ir = mk_file(f, a, "reg");
	uint64_t id = mk_dir(f, a, "dir");
	uint64_t il = mk_symlink(f, a, "lnk", "reg");
	uint64_t ip = mk_node(f, a, "fifo", S_IFIFO | 0644, 0);
	uint64_t is = mk_node(f, a, "sock", S_IFSOCK | 0644, 0);
	uint64_t ic = mk_node(f, a, "chr", S_IFCHR | 0644, makedev(1, 3));
	uint64_t ib = mk_node(f, a, "blk", S_IFBLK | 0644, makedev(8, 0));
	readdir_all(f, a, 16, &d);
	assert_int_equal(d.n, 9);
	assert_dent(&d.e[0], ".", a, DT_DIR);
	assert_dent(&d.e[1], "..", LFS_ROOT_INO, DT_DIR);
	struct { const char *n; uint64_t ino; unsigned t; } w[] = {
		{ "reg", ir, DT_REG }, { "dir", id, DT_DIR },
		{ "lnk", il, DT_LNK }, { "fifo", ip, DT_FIFO },
		{ "sock", is, DT_SOCK }, { "chr", ic, DT_CHR },
		{ "blk", ib, DT_BLK } };
	for (size_t i = 0; i < 7; i++) {
		long k = dlist_find(&d, w[i].n);
		assert_true(k >= 2);
		assert_dent(&d.e[k], w[i].n, w[i].ino, w[i].t);
	}
	free(d.e);
	/* ".." of the subdirectory, of the root */
	readdir_all(f, id, 16, &d);
	assert_int_equal(d.n, 2);
	assert_dent(&d.e[1], "..", a, DT_DIR);
	free(d.e);
	readdir_all(f, LFS_ROOT_INO, 16, &d);
	assert_int_equal(d.n, 4);                  /* ., .., lost+found, a */
	assert_dent(&d.e[0], ".", LFS_ROOT_INO, DT_DIR);
	assert_dent(&d.e[1], "..", LFS_ROOT_INO, DT_DIR);
	assert_true(dlist_find(&d, "lost+found") >= 2);
	free(d.e);
	free(one.e);
}

static void test_opendir(void **state)
{
	struct fx *f = *state;
	struct dlist d = { .e = xmalloc(4 * sizeof(struct dent)) };
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t x = mk_file(f, a, "x");

	assert_ok(lfs_opendir(f->fs, a));
	assert_ok(lfs_opendir(f->fs, LFS_ROOT_INO));
	assert_rc(lfs_opendir(f->fs, x), -ENOTDIR);
	assert_rc(lfs_opendir(f->fs, 987654321), -ENOENT);
	assert_rc(readdir_once(f, x, 0, 4, &d), -ENOTDIR);
	assert_rc(readdir_once(f, 987654321, 0, 4, &d), -ENOENT);
	assert_ok(lfs_fsyncdir(f->fs, a));
	assert_ok(lfs_fsyncdir(f->fs, LFS_ROOT_INO));
	free(d.e);
}

/* A name of `len` bytes made from i. */
static void make_name(char *buf, unsigned i, size_t len)
{
	int n = snprintf(buf, len + 1, "n%u-", i);
	for (size_t k = (size_t)n; k < len; k++)
		buf[k] = (char)('a' + (i * 7 + k) % 26);
	buf[len] = 0;
}

/* Resuming at each entry's offset gives exactly the entries after it. */
static void test_readdir_resume(void **state)
{
	struct fx *f = *state;
	enum { N = 300 };
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	char name[64];
	struct dlist all, one = { .e = xmalloc(4 * sizeof(struct dent)) };

	for (unsigned i = 0; i < N; i++) {
		make_name(name, i, 5 + i % 40);
		mk_file(f, a, name);
	}
	readdir_all(f, a, 1000, &all);
	assert_int_equal(all.n, N + 2);
	for (size_t i = 0; i + 1 < all.n; i++) {
		assert_ok(readdir_once(f, a, all.e[i].next, 1, &one));
		assert_int_equal(one.n, 1);
		assert_dent(&one.e[0], all.e[i + 1].name, all.e[i + 1].ino,
			    all.e[i + 1].type);
		assert_int_equal(one.e[0].next, all.e[i + 1].next);
	}
	assert_ok(readdir_once(f, a, all.e[all.n - 1].next, 4, &one));
	assert_int_equal(one.n, 0);
	/* chunked reads give the same sequence */
	for (size_t chunk = 1; chunk < 9; chunk += 3) {
		struct dlist c;
		readdir_all(f, a, chunk, &c);
		assert_int_equal(c.n, all.n);
		for (size_t i = 0; i < c.n; i++)
			assert_dent(&c.e[i], all.e[i].name, all.e[i].ino,
				    all.e[i].type);
		free(c.e);
	}
	/* the same offsets after a remount */
	fx_remount(f);
	struct dlist again;
	readdir_all(f, a, 50, &again);
	assert_int_equal(again.n, all.n);
	for (size_t i = 0; i < again.n; i++) {
		assert_dent(&again.e[i], all.e[i].name, all.e[i].ino,
			    all.e[i].type);
		assert_int_equal(again.e[i].next, all.e[i].next);
	}
	free(again.e);
	free(all.e);
	free(one.e);
}

/* A callback out of room at the first entry: nothing taken, and the
 * next call starts at the same entry. */
static void test_readdir_no_room(void **state)
{
	struct fx *f = *state;
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	struct dlist d = { .e = xmalloc(4 * sizeof(struct dent)) };

	mk_file(f, a, "x");
	assert_ok(readdir_once(f, a, 0, 0, &d));
	assert_int_equal(d.n, 0);
	assert_int_equal(d.calls, 1);
	assert_ok(readdir_once(f, a, 0, 1, &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.e[0].name, ".");
	off_t off = d.e[0].next;
	assert_ok(readdir_once(f, a, off, 0, &d));
	assert_int_equal(d.n, 0);
	assert_ok(readdir_once(f, a, off, 1, &d));
	assert_string_equal(d.e[0].name, "..");
	off = d.e[0].next;
	assert_ok(readdir_once(f, a, off, 0, &d));
	assert_ok(readdir_once(f, a, off, 4, &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.e[0].name, "x");
	free(d.e);
}

/* Reads a directory a few entries at a time while entries are created
 * and removed between the calls: every name that existed throughout is
 * returned exactly once, no name twice, and only names that existed. */
static void test_readdir_while_changing(void **state)
{
	struct fx *f = *state;
	enum { STABLE = 300, MAXN = 2000 };
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	static char present[MAXN], seen[MAXN];
	static uint64_t inos[MAXN];
	unsigned next = 0;
	char name[64];
	uint64_t rng = 71;
	struct dlist d = { .e = xmalloc(8 * sizeof(struct dent)) };

	memset(present, 0, sizeof(present));
	memset(seen, 0, sizeof(seen));
	for (int round = 0; round < 3; round++) {
		/* stable names are 0..STABLE-1; the rest churn */
		if (round == 0) {
			for (; next < STABLE + 200; next++) {
				make_name(name, next, 8 + next % 30);
				inos[next] = mk_file(f, a, name);
				present[next] = 1;
			}
		}
		memset(seen, 0, sizeof(seen));
		char dots = 0;
		off_t off = 0;
		for (;;) {
			assert_ok(readdir_once(f, a, off, 1 + round * 3, &d));
			if (d.n == 0) {
				if (d.full)
					fail_msg("a group larger than %d",
						 1 + round * 3);
				break;
			}
			for (size_t i = 0; i < d.n; i++) {
				const char *nm = d.e[i].name;
				if (!strcmp(nm, ".") || !strcmp(nm, "..")) {
					int bit = nm[1] ? 2 : 1;
					if (dots & bit)
						fail_msg("\"%s\" twice", nm);
					dots |= (char)bit;
					continue;
				}
				unsigned k;
				if (sscanf(nm, "n%u-", &k) != 1 || k >= next)
					fail_msg("unknown name \"%s\"", nm);
				if (seen[k])
					fail_msg("round %d: \"%s\" twice",
						 round, nm);
				seen[k] = 1;
				assert_int_equal(d.e[i].ino, inos[k]);
			}
			off = d.e[d.n - 1].next;
			/* churn: 3 creates, 2 removes of churning names */
			for (int c = 0; c < 3 && next < MAXN; c++, next++) {
				make_name(name, next, 8 + next % 30);
				inos[next] = mk_file(f, a, name);
				present[next] = 1;
			}
			for (int c = 0; c < 2; c++) {
				unsigned k = STABLE + (unsigned)rng_below(&rng,
							next - STABLE);
				if (!present[k])
					continue;
				make_name(name, k, 8 + k % 30);
				assert_ok(lfs_unlink(f->fs, a, name));
				present[k] = 0;
			}
		}
		assert_int_equal(dots, 3);
		for (unsigned k = 0; k < STABLE; k++)
			if (!seen[k])
				fail_msg("round %d: stable name %u skipped",
					 round, k);
	}
	/* finally, with nothing changing, exactly the present names */
	struct dlist all;
	readdir_all(f, a, 64, &all);
	size_t want = 2;
	for (unsigned k = 0; k < next; k++)
		want += present[k];
	assert_int_equal(all.n, want);
	for (unsigned k = 0; k < next; k++) {
		make_name(name, k, 8 + k % 30);
		assert_int_equal(dlist_find(&all, name) >= 0, present[k]);
	}
	free(all.e);
	free(d.e);
}

static void test_big_dir(void **state)
{
	struct fx *f = *state;
	enum { N = 20000 };
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "big");
	char name[300];
	uint64_t *inos = xmalloc(N * sizeof(uint64_t));
	char *seen = calloc(N, 1);

	for (unsigned i = 0; i < N; i++) {
		make_name(name, i, 6 + i % 60);
		inos[i] = mk_file(f, a, name);
	}
	for (int pass = 0; pass < 2; pass++) {
		struct dlist all;
		readdir_all(f, a, 97, &all);
		assert_int_equal(all.n, N + 2);
		memset(seen, 0, N);
		for (size_t i = 2; i < all.n; i++) {
			unsigned k;
			assert_int_equal(sscanf(all.e[i].name, "n%u-", &k), 1);
			assert_true(k < N);
			assert_false(seen[k]);
			seen[k] = 1;
			make_name(name, k, 6 + k % 60);
			assert_string_equal(all.e[i].name, name);
			assert_int_equal(all.e[i].ino, inos[k]);
			assert_int_equal(all.e[i].type, DT_REG);
		}
		free(all.e);
		if (pass == 0)
			fx_remount(f);
	}
	for (unsigned i = 0; i < N; i += 997) {
		make_name(name, i, 6 + i % 60);
		assert_int_equal(ino_of(f, a, name), inos[i]);
	}
	assert_rc(lfs_rmdir(f->fs, LFS_ROOT_INO, "big"), -ENOTEMPTY);
	for (unsigned i = 0; i < N; i++) {
		make_name(name, i, 6 + i % 60);
		assert_ok(lfs_unlink(f->fs, a, name));
	}
	struct dlist all;
	readdir_all(f, a, 97, &all);
	assert_int_equal(all.n, 2);
	free(all.e);
	assert_ok(lfs_rmdir(f->fs, LFS_ROOT_INO, "big"));
	free(inos);
	free(seen);
}

/* The longest names come back whole from readdir; one byte more is
 * refused by every call that makes a name. */
static void test_long_names(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char name[LFS_NAME_MAX + 2];
	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t inos[4];

	for (int i = 0; i < 4; i++) {
		memset(name, 'a' + i, LFS_NAME_MAX);
		name[LFS_NAME_MAX] = 0;
		inos[i] = i % 2 ? mk_dir(f, a, name) : mk_file(f, a, name);
	}
	struct dlist d;
	readdir_all(f, a, 2, &d);
	assert_int_equal(d.n, 6);
	for (int i = 0; i < 4; i++) {
		memset(name, 'a' + i, LFS_NAME_MAX);
		name[LFS_NAME_MAX] = 0;
		long k = dlist_find(&d, name);
		assert_true(k >= 2);
		assert_int_equal(strlen(d.e[k].name), LFS_NAME_MAX);
		assert_dent(&d.e[k], name, inos[i], i % 2 ? DT_DIR : DT_REG);
	}
	free(d.e);
	memset(name, 'z', LFS_NAME_MAX + 1);
	name[LFS_NAME_MAX + 1] = 0;
	assert_rc(lfs_mknod(f->fs, &f->cred, a, name, S_IFREG | 0644, 0, &st),
		  -ENAMETOOLONG);
	assert_rc(lfs_mkdir(f->fs, &f->cred, a, name, 0755, &st),
		  -ENAMETOOLONG);
	assert_rc(lfs_create(f->fs, &f->cred, a, name, S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -ENAMETOOLONG);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", a, name, &st),
		  -ENAMETOOLONG);
	readdir_all(f, a, 8, &d);
	assert_int_equal(d.n, 6);
	free(d.e);
}

static void tiny_cache(struct fx *f)
{
	f->mo.cache_bytes = 64 << 10;
	f->mo.flush_interval_ms = 20;
}

static int setup_tiny(void **state)
{
	return fx_setup_with(state, tiny_cache);
}

static void test_setgid_dir(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t g = mk_dir(f, LFS_ROOT_INO, "g");
	struct stat ch = { .st_gid = 100, .st_mode = S_IFDIR | 02775 };

	assert_ok(lfs_setattr(f->fs, &f->cred, g, &ch,
			      LFS_SET_GID | LFS_SET_MODE, NULL));
	assert_int_equal(st_get(f, g).st_mode, S_IFDIR | 02775);
	f->cred = fx_cred(1000, 1000, 022);

	uint64_t x = mk_file(f, g, "x");
	st = st_get(f, x);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_ok(lfs_create(f->fs, &f->cred, g, "c", S_IFREG | 0640,
			     O_CREAT | O_RDWR, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st_get(f, st.st_ino).st_gid, 100);
	uint64_t s = mk_symlink(f, g, "s", "x");
	assert_int_equal(st_get(f, s).st_gid, 100);
	uint64_t p = mk_node(f, g, "p", S_IFIFO | 0600, 0);
	assert_int_equal(st_get(f, p).st_gid, 100);

	/* subdirectories inherit the gid and the setgid bit, down the tree */
	assert_ok(lfs_mkdir(f->fs, &f->cred, g, "sub", 0755, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	uint64_t sub = st.st_ino;
	assert_int_equal(st.st_mode, S_IFDIR | 02755);
	st = st_get(f, sub);
	assert_int_equal(st.st_mode, S_IFDIR | 02755);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st.st_uid, 1000);
	uint64_t sub2 = mk_dir(f, sub, "sub2");
	st = st_get(f, sub2);
	assert_int_equal(st.st_mode, S_IFDIR | 02755);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st_get(f, mk_file(f, sub2, "y")).st_gid, 100);

	/* without setgid: the creator's gid */
	uint64_t plain = mk_dir(f, LFS_ROOT_INO, "plain");
	assert_int_equal(st_get(f, plain).st_gid, 1000);
	assert_int_equal(st_get(f, plain).st_mode, S_IFDIR | 0755);
	uint64_t z = mk_file(f, plain, "z");
	assert_int_equal(st_get(f, z).st_gid, 1000);
	/* moving or linking into a setgid directory changes no gid */
	assert_ok(lfs_rename(f->fs, plain, "z", g, "z", 0));
	assert_int_equal(st_get(f, z).st_gid, 1000);
	assert_ok(lfs_link(f->fs, z, sub, "z2", &st));
	lfs_forget(f->fs, z, 1);
	assert_int_equal(st_get(f, z).st_gid, 1000);
	/* the directory losing setgid stops the inheritance */
	ch.st_mode = S_IFDIR | 0775;
	f->cred = fx_cred(0, 0, 022);
	assert_ok(lfs_setattr(f->fs, &f->cred, g, &ch, LFS_SET_MODE, NULL));
	f->cred = fx_cred(1000, 1000, 022);
	assert_int_equal(st_get(f, mk_file(f, g, "late")).st_gid, 1000);
	assert_int_equal(st_get(f, mk_dir(f, g, "lated")).st_mode,
			 S_IFDIR | 0755);
}

static void test_statfs(void **state)
{
	struct fx *f = *state;
	struct statvfs a, b;

	memset(&a, 0, sizeof(a));
	assert_ok(lfs_statfs(f->fs, &a));
	assert_true(a.f_bsize > 0);
	assert_true(a.f_frsize > 0);
	assert_true(a.f_blocks > 0);
	assert_true(a.f_bfree <= a.f_blocks);
	assert_true(a.f_bavail <= a.f_bfree);
	assert_true(a.f_files > 0);
	assert_true(a.f_ffree <= a.f_files);
	assert_true(a.f_favail <= a.f_ffree);
	assert_int_equal(a.f_namemax, LFS_NAME_MAX);
	assert_true(a.f_files - a.f_ffree >= 2);    /* root, lost+found */
	/* the host's numbers, in the host's units */
	struct statvfs host;
	assert_int_equal(statvfs(f->store, &host), 0);
	uint64_t mine = (uint64_t)a.f_blocks * a.f_frsize;
	uint64_t theirs = (uint64_t)host.f_blocks * host.f_frsize;
	if (mine > theirs || theirs - mine >= a.f_frsize)
		fail_msg("f_blocks * f_frsize = %" PRIu64 ", host's %" PRIu64,
			 mine, theirs);

	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	for (int i = 0; i < 9; i++) {
		char n[8];
		snprintf(n, sizeof(n), "f%d", i);
		mk_file(f, d, n);
	}
	assert_ok(lfs_statfs(f->fs, &b));
	assert_int_equal((a.f_files - a.f_ffree) + 10, b.f_files - b.f_ffree);
	assert_int_equal(b.f_namemax, LFS_NAME_MAX);
}

/* ---- concurrent creators -------------------------------------------- */

struct creator {
	struct fx *f;
	uint64_t dir;
	unsigned id;
	int err;
};

static void *creator_main(void *arg)
{
	struct creator *c = arg;
	char name[32];
	struct stat st;

	for (unsigned i = 0; i < 150 && !c->err; i++) {
		snprintf(name, sizeof(name), "t%u-%u", c->id, i);
		if (i % 3 == 0)
			c->err = lfs_mkdir(c->f->fs, &c->f->cred, c->dir,
					   name, 0755, &st);
		else
			c->err = lfs_mknod(c->f->fs, &c->f->cred, c->dir,
					   name, S_IFREG | 0644, 0, &st);
		if (!c->err)
			lfs_forget(c->f->fs, st.st_ino, 1);
		if (!c->err && i % 5 == 4) {
			/* rename the previous one; remove the one before */
			char from[32], to[32];
			snprintf(from, sizeof(from), "t%u-%u", c->id, i - 1);
			snprintf(to, sizeof(to), "r%u-%u", c->id, i - 1);
			c->err = lfs_rename(c->f->fs, c->dir, from, c->dir,
					    to, 0);
			snprintf(from, sizeof(from), "t%u-%u", c->id, i - 2);
			if (!c->err && (i - 2) % 3 == 0)
				c->err = lfs_rmdir(c->f->fs, c->dir, from);
			else if (!c->err)
				c->err = lfs_unlink(c->f->fs, c->dir, from);
		}
	}
	return NULL;
}

static void test_concurrent_creators(void **state)
{
	struct fx *f = *state;
	enum { T = 4 };
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	pthread_t t[T];
	struct creator c[T];

	for (unsigned i = 0; i < T; i++) {
		c[i] = (struct creator){ f, d, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, creator_main,
						&c[i]), 0);
	}
	for (unsigned i = 0; i < T; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_rc(c[i].err, 0);
	}
	/* the model: per thread, names with i%5 == 3 renamed to r..., those
	 * with i%5 == 2 removed; i%3 == 0 are directories */
	struct dlist all;
	readdir_all(f, d, 64, &all);
	size_t files = 0, dirs = 0;
	char name[32];
	for (unsigned id = 0; id < T; id++) {
		for (unsigned i = 0; i < 150; i++) {
			bool gone = i % 5 == 2;
			bool renamed = i % 5 == 3;
			snprintf(name, sizeof(name), "%c%u-%u",
				 renamed ? 'r' : 't', id, i);
			long k = dlist_find(&all, name);
			if (gone) {
				assert_true(k < 0);
				continue;
			}
			if (k < 0)
				fail_msg("\"%s\" missing", name);
			bool isdir = i % 3 == 0;
			assert_int_equal(all.e[k].type,
					 isdir ? DT_DIR : DT_REG);
			if (isdir)
				dirs++;
			else
				files++;
		}
	}
	assert_int_equal(all.n, 2 + files + dirs);
	assert_int_equal(st_get(f, d).st_nlink, 2 + dirs);
	free(all.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_readdir_basic),
		fx_test(test_opendir),
		fx_test(test_readdir_resume),
		fx_test(test_readdir_no_room),
		fx_test(test_readdir_while_changing),
		fx_test(test_big_dir),
		cmocka_unit_test_setup_teardown(test_big_dir, setup_tiny,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_readdir_while_changing,
						setup_tiny, fx_teardown),
		fx_test(test_long_names),
		fx_test(test_setgid_dir),
		fx_test(test_statfs),
		fx_test(test_concurrent_creators),
	};
	return cmocka_run_group_tests_name("fs_dir", tests, NULL, NULL);
}
