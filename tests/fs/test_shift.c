/* SPDX-License-Identifier: MIT */
/*
 * test_shift.c: fallocate's FALLOC_FL_COLLAPSE_RANGE and
 * FALLOC_FL_INSERT_RANGE through the core (fs/shift.c).
 *
 * Content is checked against a byte model after every shift, on 64 KiB
 * and 4 KiB blocks: holes stay holes (st_blocks, SEEK_DATA/SEEK_HOLE),
 * sub-block writes (fs/patch.c) move with their blocks, the rules and
 * errnos are ext4's with the store's block size.  A shift too large for
 * one batch runs as a journaled sequence (the extents and orphans trees
 * are looked at through fs/internal.h): one that fails half-way is
 * finished by the next access, and one a power cut interrupts (faultio,
 * frozen at random points of the background flushes) is whole after the
 * next mount, or was never made.  fsck.larchfs (FSCK_LARCHFS) is run on
 * stores left half-way, with damaged records and stray flags.
 */
#include <linux/falloc.h>

#include "fsutil.h"
#include "internal.h"
#include "../support/faultio.h"
#include "fsimage.h"

#define COLLAPSE FALLOC_FL_COLLAPSE_RANGE
#define INSERT   FALLOC_FL_INSERT_RANGE

/* ---- a file and its model -------------------------------------------- */

struct file {
	uint64_t ino;
	uint8_t *m;          /* the model, `cap` bytes */
	size_t size, cap;
};

static struct file file_new(struct fx *f, const char *name, size_t size, size_t cap,
			    uint64_t seed)
{
	struct file x = { mk_file(f, LFS_ROOT_INO, name), xmalloc(cap), size, cap };

	memset(x.m, 0, cap);
	fill_random(x.m, size, seed);
	write_at(f, x.ino, x.m, size, 0);
	return x;
}

static void file_check(struct fx *f, const struct file *x)
{
	assert_int_equal(st_get(f, x->ino).st_size, x->size);
	assert_content(f, x->ino, x->m, x->size);
}

/* Collapses or inserts [off, off + len) in the file and its model. */
static void file_shift(struct fx *f, struct file *x, int mode, size_t off, size_t len)
{
	assert_ok(lfs_fallocate(f->fs, x->ino, mode, (off_t)off, (off_t)len));
	if (mode == COLLAPSE) {
		memmove(x->m + off, x->m + off + len, x->size - off - len);
		x->size -= len;
		memset(x->m + x->size, 0, len);
	} else {
		assert_true(x->size + len <= x->cap);
		memmove(x->m + off + len, x->m + off, x->size - off);
		memset(x->m + off, 0, len);
		x->size += len;
	}
}

/* ---- looking at the trees -------------------------------------------- */

/* The keys of ino's data: blocks (in *blocks, may be NULL) and patch sets. */
static unsigned count_keys(struct fx *f, uint64_t ino, unsigned *blocks)
{
	uint8_t prefix[8];
	lkv_iter *it;
	const void *k;
	size_t kl, vl;
	unsigned sets = 0, n = 0;
	int rc;

	be64_put(prefix, ino);
	assert_ok(lkv_iter_prefix(f->fs->t_extents, prefix, sizeof(prefix), 0, &it));
	while ((rc = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		if (patch_key_is(k, kl))
			sets++;
		else
			n++;
	}
	lkv_iter_close(it);
	assert_true(rc == 0);
	if (blocks)
		*blocks = n;
	return sets;
}

static bool has_key(lkv_tree *t, const uint8_t *k, size_t kl)
{
	size_t len;
	int rc = lkv_get(t, k, kl, NULL, 0, &len);

	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

static bool has_set(struct fx *f, uint64_t ino, uint64_t block)
{
	uint8_t k[PATCH_KEY_LEN];

	patch_key(k, ino, block);
	return has_key(f->fs->t_extents, k, sizeof(k));
}

/* Whether ino has a shift record, and whether its inode says so. */
static bool shifting(struct fx *f, uint64_t ino, bool *flagged)
{
	uint8_t k[SHIFT_KEY_LEN];
	struct inode in;

	shift_key(k, ino);
	assert_ok(inode_get(f->fs, ino, &in));
	*flagged = in.flags & INODE_SHIFTING;
	return has_key(f->fs->t_orphans, k, sizeof(k));
}

static void assert_settled(struct fx *f, uint64_t ino)
{
	bool flagged;

	assert_false(shifting(f, ino, &flagged));
	assert_false(flagged);
}

/* ---- setups ----------------------------------------------------------- */


static size_t bsz(struct fx *f)
{
	return f->info.block_size;
}

/* ---- cases ----------------------------------------------------------- */

/* Random collapses and inserts on a file of random data with a partial
 * last block, a hole and sub-block writes, checked against the model. */
static void test_model(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	struct file x = file_new(f, "x", 12 * bs + 1234, 40 * bs, 1);
	uint64_t r = 42;

	assert_ok(lfs_fallocate(f->fs, x.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(3 * bs), (off_t)(2 * bs)));
	memset(x.m + 3 * bs, 0, 2 * bs);
	fill_random(x.m + 6 * bs + 100, 300, 2);       /* a patch into a blob block */
	write_at(f, x.ino, x.m + 6 * bs + 100, 300, (off_t)(6 * bs + 100));
	file_check(f, &x);
	for (unsigned i = 0; i < 60; i++) {
		size_t blocks = (x.size + bs - 1) / bs;
		bool ins = x.size + 4 * bs > x.cap ? false : blocks < 3 || rng_next(&r) % 2;
		size_t off = rng_next(&r) % (blocks - (ins ? 0 : 1)) * bs;
		size_t most = ins ? 4 : (x.size - off - 1) / bs;
		if (!ins && most == 0)
			continue;
		size_t len = (1 + rng_next(&r) % most) * bs;
		if (!ins && len > 4 * bs)
			len = 4 * bs;
		file_shift(f, &x, ins ? INSERT : COLLAPSE, off, len);
		file_check(f, &x);
		if (i % 7 == 3) {
			size_t o = rng_next(&r) % x.size, n = 1 + rng_next(&r) % 2000;
			n = o + n > x.size ? x.size - o : n;
			fill_random(x.m + o, n, 100 + i);
			write_at(f, x.ino, x.m + o, n, (off_t)o);
		}
		if (i % 20 == 19) {
			fx_remount(f);
			file_check(f, &x);
		}
	}
	assert_settled(f, x.ino);
	free(x.m);
}

/* Holes stay holes: only stored blocks move, st_blocks does not change,
 * and an inserted range is a hole. */
static void test_holes(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t b = 0;
	unsigned n;

	write_at(f, x, "A", 1, 0);
	write_at(f, x, "B", 1, (off_t)(3 * bs));
	write_at(f, x, "C", 1, (off_t)(7 * bs + 5));
	blkcnt_t blocks = st_get(f, x).st_blocks;
	assert_ok(lfs_fallocate(f->fs, x, COLLAPSE, (off_t)bs, (off_t)(2 * bs)));
	assert_int_equal(st_get(f, x).st_size, 5 * bs + 6);
	assert_int_equal(st_get(f, x).st_blocks, blocks);
	count_keys(f, x, &n);
	assert_int_equal(n, 3);
	assert_rc(lfs_lseek(f->fs, x, 1, SEEK_DATA), (off_t)bs);
	assert_rc(lfs_lseek(f->fs, x, (off_t)bs, SEEK_HOLE), (off_t)bs + 1);
	assert_rc(lfs_lseek(f->fs, x, (off_t)bs + 1, SEEK_DATA), (off_t)(5 * bs));
	assert_rc(lfs_read(f->fs, x, &b, 1, (off_t)bs), 1);
	assert_int_equal(b, 'B');
	assert_rc(lfs_read(f->fs, x, &b, 1, (off_t)(5 * bs + 5)), 1);
	assert_int_equal(b, 'C');

	assert_ok(lfs_fallocate(f->fs, x, INSERT, 0, (off_t)(3 * bs)));
	assert_int_equal(st_get(f, x).st_size, 8 * bs + 6);
	assert_int_equal(st_get(f, x).st_blocks, blocks);
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_HOLE), 0);
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_DATA), (off_t)(3 * bs));
	assert_zeros(f, x, 0, 3 * bs);
	assert_rc(lfs_read(f->fs, x, &b, 1, (off_t)(3 * bs)), 1);
	assert_int_equal(b, 'A');
	fx_remount(f);
	assert_rc(lfs_read(f->fs, x, &b, 1, (off_t)(8 * bs + 5)), 1);
	assert_int_equal(b, 'C');
	assert_int_equal(st_get(f, x).st_blocks, blocks);
}

/* Sub-block writes move beside their blocks, as they are. */
static void test_patches_move(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	struct file x = file_new(f, "x", 8 * bs, 12 * bs, 3);

	fill_random(x.m + 5 * bs + 4096, 4096, 4);
	write_at(f, x.ino, x.m + 5 * bs + 4096, 4096, (off_t)(5 * bs + 4096));
	assert_true(has_set(f, x.ino, 5));
	file_shift(f, &x, COLLAPSE, 2 * bs, 2 * bs);
	assert_false(has_set(f, x.ino, 5));
	assert_true(has_set(f, x.ino, 3));
	file_check(f, &x);
	file_shift(f, &x, INSERT, bs, 3 * bs);
	assert_true(has_set(f, x.ino, 6));
	assert_int_equal(count_keys(f, x.ino, NULL), 1);
	file_check(f, &x);
	fx_remount(f);
	file_check(f, &x);
	free(x.m);
}

/* ext4's rules, with the store's block size, and the VFS's before them. */
static void test_rules(void **state)
{
	struct fx *f = *state;
	off_t bs = (off_t)bsz(f);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	struct stat st;

	assert_ok(lfs_fallocate(f->fs, x, 0, 0, 4 * bs));
	/* the range */
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 0, 0), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, -bs, bs), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 100, bs), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, bs, 100), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, bs, 4096), bs == 4096 ? 0 : -EINVAL);
	if (bs == 4096)
		assert_ok(lfs_fallocate(f->fs, x, INSERT, bs, 4096));
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 2 * bs, 2 * bs), -EINVAL);  /* to EOF */
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 2 * bs, 3 * bs), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 4 * bs, bs), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, INSERT, 4 * bs, bs), -EINVAL);      /* at EOF */
	assert_rc(lfs_fallocate(f->fs, x, INSERT, 5 * bs, bs), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, INSERT, 100, bs), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, INSERT, 0, INT64_MAX / bs * bs - 2 * bs), -EFBIG);
	assert_rc(lfs_fallocate(f->fs, x, INSERT, 5 * bs, INT64_MAX / bs * bs - 2 * bs),
		  -EFBIG);
	assert_rc(lfs_fallocate(f->fs, x, INSERT, bs, INT64_MAX - bs / 2), -EFBIG);
	/* the modes: exclusive, and no KEEP_SIZE */
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE | FALLOC_FL_KEEP_SIZE, 0, bs),
		  -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, INSERT | FALLOC_FL_KEEP_SIZE, 0, bs), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE | INSERT, 0, bs), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE | FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 0, bs), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE | FALLOC_FL_ZERO_RANGE, 0, bs),
		  -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_UNSHARE_RANGE, 0, bs), -EOPNOTSUPP);
	assert_int_equal(st_get(f, x).st_size, 4 * bs);
	/* the file types */
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	assert_rc(lfs_fallocate(f->fs, d, COLLAPSE, 0, bs), -EISDIR);
	assert_rc(lfs_fallocate(f->fs, d, INSERT, 0, bs), -EISDIR);
	assert_ok(lfs_mknod(f->fs, &f->cred, LFS_ROOT_INO, "p", S_IFIFO | 0644, 0, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	assert_rc(lfs_fallocate(f->fs, st.st_ino, INSERT, 0, bs), -ENODEV);
	/* the times move, as with any change of the data */
	set_times(f, x, 1000);
	assert_ok(lfs_fallocate(f->fs, x, INSERT, 0, bs));
	st = st_get(f, x);
	assert_true(st.st_mtim.tv_sec > 1000 && st.st_ctim.tv_sec > 1000);
	assert_int_equal(st.st_atim.tv_sec, 1000);
	/* read-only */
	f->mo.read_only = true;
	fx_remount(f);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 0, bs), -EROFS);
	f->mo.read_only = false;
	fx_remount(f);
	assert_ok(lfs_fallocate(f->fs, x, COLLAPSE, 0, bs));
	assert_int_equal(st_get(f, x).st_size, 4 * bs);
}

/* A store older than format version 3 has no shift records: EOPNOTSUPP,
 * as ext4 for a file without extents. */
static void test_old_format(void **state)
{
	struct fx *f = *state;
	uint8_t sb[256];
	size_t len;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	assert_int_equal(f->info.format_version, 4);
	assert_ok(lfs_fallocate(f->fs, x, 0, 0, 4 * (off_t)bsz(f)));
	assert_ok(lkv_get(f->fs->t_super, "sb", 2, sb, sizeof(sb), &len));
	le32_put(sb + 8, 2);
	assert_ok(lkv_put(f->fs->t_super, "sb", 2, sb, len, NULL));
	fx_remount(f);
	assert_int_equal(f->info.format_version, 2);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 0, (off_t)bsz(f)), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, INSERT, 0, (off_t)bsz(f)), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, COLLAPSE, 100, (off_t)bsz(f)), -EOPNOTSUPP);
}

/* ---- files of many blocks: a block map as the model ------------------- */

/* What each block of a file holds: one byte at its start (never 0), or
 * nothing (-1: a hole). */
struct bmap {
	unsigned n;          /* blocks */
	int *v;
	size_t size;
};

/* m after a collapse or insert of blocks [first, first + count). */
static struct bmap bmap_shift(const struct bmap *m, bool insert, unsigned first,
			      unsigned count, size_t bs)
{
	struct bmap c = { .n = insert ? m->n + count : m->n - count };

	c.v = xmalloc(c.n * sizeof(*c.v) + 1);
	for (unsigned k = 0; k < c.n; k++)
		c.v[k] = k < first ? m->v[k]
		       : insert ? (k < first + count ? -1 : m->v[k - count])
		       : m->v[k + count];
	c.size = insert ? m->size + count * bs : m->size - count * bs;
	return c;
}

/* A file of n blocks, block k holding 1 + k % 251 at its start: more
 * keys than one batch moves when n is large.  Returns the inode. */
static uint64_t many_blocks(struct fx *f, unsigned n, struct bmap *m)
{
	size_t bs = bsz(f);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "many");

	m->n = n;
	m->v = xmalloc(n * sizeof(*m->v));
	for (unsigned k = 0; k < n; k++) {
		uint8_t b = (uint8_t)(1 + k % 251);
		m->v[k] = b;
		write_at(f, x, &b, 1, (off_t)(k * bs));
	}
	m->size = (n - 1) * bs + 1;
	return x;
}

/* Whether file x of fs is as m says; *why (may be NULL) says where not. */
static bool bmap_is(lfs *fs, uint64_t x, size_t bs, const struct bmap *m, char *why,
		    size_t cap)
{
	struct stat st;
	unsigned stored = 0;

	if (lfs_getattr(fs, x, &st) || (size_t)st.st_size != m->size) {
		snprintf(why, cap, "size %lld, want %zu", (long long)st.st_size, m->size);
		return false;
	}
	for (unsigned k = 0; k < m->n; k++) {
		uint8_t b = 0xee;
		if (lfs_read(fs, x, &b, 1, (off_t)(k * bs)) != 1 ||
		    b != (m->v[k] < 0 ? 0 : m->v[k])) {
			snprintf(why, cap, "block %u holds %u, want %d", k, b, m->v[k]);
			return false;
		}
		stored += m->v[k] >= 0;
	}
	if ((uint64_t)st.st_blocks != (stored + 511) / 512) {   /* one byte a block */
		snprintf(why, cap, "st_blocks %lld for %u stored bytes",
			 (long long)st.st_blocks, stored);
		return false;
	}
	return true;
}

static void bmap_check(struct fx *f, uint64_t x, const struct bmap *m)
{
	char why[128] = "";

	if (!bmap_is(f->fs, x, bsz(f), m, why, sizeof(why)))
		fail_msg("the file is not as it should be: %s", why);
	assert_settled(f, x);
}

static void test_journaled(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	const unsigned n = 9000;          /* past two batches of SHIFT_KEYS */
	struct bmap m0, m1, m2;
	uint64_t x = many_blocks(f, n, &m0);

	assert_ok(lfs_fallocate(f->fs, x, COLLAPSE, (off_t)(10 * bs), (off_t)(20 * bs)));
	m1 = bmap_shift(&m0, false, 10, 20, bs);
	bmap_check(f, x, &m1);
	fx_remount(f);
	bmap_check(f, x, &m1);
	/* and back: the 20 blocks return as a hole */
	assert_ok(lfs_fallocate(f->fs, x, INSERT, (off_t)(10 * bs), (off_t)(20 * bs)));
	m2 = bmap_shift(&m1, true, 10, 20, bs);
	bmap_check(f, x, &m2);
	unsigned have;
	count_keys(f, x, &have);
	assert_int_equal(have, n - 20);
	/* a collapse of nearly the whole file: thousands of blocks deleted */
	assert_ok(lfs_fallocate(f->fs, x, COLLAPSE, 0, (off_t)((n - 2) * bs)));
	assert_int_equal(st_get(f, x).st_size, bs + 1);
	assert_settled(f, x);
	uint8_t b[2];
	assert_rc(lfs_read(f->fs, x, b, 2, (off_t)bs - 1), 2);
	assert_int_equal(b[1], m2.v[n - 1]);
	free(m0.v);
	free(m1.v);
	free(m2.v);
}

/* ---- failures and power cuts (faultio) --------------------------------- */

static faultio *fault_io;

static void on_faultio(struct fx *f)
{
	fx_small_blocks(f);
	fault_io = faultio_new();
	f->fo.io = f->mo.io = faultio_io(fault_io);
	f->mo.flush_interval_ms = 1;     /* epochs sealed while a shift runs */
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

/* A shift that fails half-way (a block that cannot be read, in its
 * second batch) is left with its record and flag; the next access
 * finishes it. */
static void test_fail_half_way(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	const unsigned n = 9000;          /* blob blocks: each move reads one */
	struct file x = file_new(f, "x", n * bs, n * bs, 5);
	bool flagged = false;

	assert_ok(lfs_sync(f->fs));
	fx_remount(f);                   /* nothing cached */
	/* how many reads the shift makes, on a copy: fail at three quarters
	 * of them, in its second batch of three */
	faultio *copy = faultio_crash(fault_io, 1, FAULTIO_DROP_ALL);
	struct lfs_mount_options mo = f->mo;
	struct faultio_stats st0, st1;
	lfs *fs;
	mo.io = faultio_io(copy);
	assert_ok(lfs_mount(f->store, &mo, &fs));
	faultio_stats(copy, &st0);
	assert_ok(lfs_fallocate(fs, x.ino, COLLAPSE, (off_t)(10 * bs), (off_t)(20 * bs)));
	faultio_stats(copy, &st1);
	assert_ok(lfs_unmount(fs));
	faultio_free(copy);
	assert_true(st1.preads - st0.preads >= 8);
	faultio_fail_after(fault_io, FAULTIO_OP_READ, (st1.preads - st0.preads) * 3 / 4,
			   -EIO, true);   /* sticky: the engine reads a value again */
	assert_rc(lfs_fallocate(f->fs, x.ino, COLLAPSE, (off_t)(10 * bs), (off_t)(20 * bs)),
		  -EIO);
	faultio_clear_faults(fault_io);
	assert_true(shifting(f, x.ino, &flagged));
	assert_true(flagged);
	assert_non_null(strstr(f->log, "cannot be read; the shift stops there"));
	/* the next access finishes it */
	memmove(x.m + 10 * bs, x.m + 30 * bs, x.size - 30 * bs);
	x.size -= 20 * bs;
	file_check(f, &x);
	assert_settled(f, x.ino);
	fx_remount(f);
	file_check(f, &x);
	free(x.m);
}

/*
 * fsck.larchfs and shift records: a shift left half-way (as in
 * test_fail_half_way) is a note for -n (the next read-write mount
 * finishes it: exit 0), and -y's read-write open finishes it (exit 1); a
 * damaged record cannot be finished (exit 4; -y removes it and the flag,
 * the file keeping its blocks); a flag without a record is a safe fix.
 */
static void test_fsck(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	const unsigned n = 9000;
	struct file x = file_new(f, "x", n * bs, n * bs, 6);
	bool flagged;
	char dir[PATH_MAX];

	if (!getenv("FSCK_LARCHFS")) {
		print_message("skipped: FSCK_LARCHFS is not set\n");
		free(x.m);
		return;
	}
	assert_ok(lfs_sync(f->fs));
	fx_remount(f);
	faultio_fail_after(fault_io, FAULTIO_OP_READ, 9000, -EIO, true);
	assert_rc(lfs_fallocate(f->fs, x.ino, COLLAPSE, (off_t)(10 * bs), (off_t)(20 * bs)),
		  -EIO);
	faultio_clear_faults(fault_io);
	assert_true(shifting(f, x.ino, &flagged));
	assert_ok(lfs_unmount(f->fs));   /* an unmount leaves it to the next mount */
	f->fs = NULL;

	/* left half-way */
	dump_image(f, fault_io, "half", dir, sizeof(dir));
	fsck_says(dir, "-n", 0, "1 collapse or insert interrupted by a crash or an error "
		  "will be finished at the next read-write mount");
	fsck_says(dir, "-y", 1, "1 interrupted collapse or insert finished.");
	fsck_says(dir, "-n", 0, NULL);
	struct lfs_mount_options mo = f->mo;
	mo.io = NULL;
	assert_ok(lfs_mount(dir, &mo, &f->fs));
	memmove(x.m + 10 * bs, x.m + 30 * bs, x.size - 30 * bs);
	x.size -= 20 * bs;
	file_check(f, &x);
	assert_settled(f, x.ino);

	/* a flag without its record: -p clears it */
	struct inode in;
	lkv_batch *b = lkv_batch_new(lfs_store(f->fs));
	assert_ok(inode_get(f->fs, x.ino, &in));
	in.flags |= INODE_SHIFTING;
	assert_ok(inode_put(f->fs, b, &in));
	assert_ok(lkv_batch_commit(b, NULL));
	lkv_batch_free(b);
	assert_ok(lfs_unmount(f->fs));
	f->fs = NULL;
	fsck_says(dir, "-p", 1, "is marked as being collapsed or inserted into, but no "
		  "record of that exists.  FIXED.");
	fsck_says(dir, "-n", 0, NULL);

	/* a damaged record: it cannot be finished */
	char dir2[PATH_MAX];
	dump_image(f, fault_io, "damaged", dir2, sizeof(dir2));
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
	uint8_t k[SHIFT_KEY_LEN], junk[SHIFT_REC_LEN];
	lkv_options_default(&o);
	o.log = quiet;
	assert_ok(lkv_open(dir2, &o, &s));
	assert_ok(lkv_tree_open(s, "orphans", &t));
	shift_key(k, x.ino);
	memset(junk, 0x5a, sizeof(junk));
	assert_ok(lkv_put(t, k, sizeof(k), junk, sizeof(junk), NULL));
	assert_ok(lkv_close(s));
	fsck_says(dir2, "-n", 4, "its record of an interrupted collapse or insert is "
		  "damaged");
	fsck_says(dir2, "-p", 4, "UNEXPECTED INCONSISTENCY");
	fsck_says(dir2, "-y", 1, "is marked as being collapsed or inserted into");
	fsck_says(dir2, "-n", 0, NULL);
	free(x.m);
}

/* Whether the store on img holds a shift record (read-only, by the
 * engine: before any mount finishes it). */
static bool image_shifting(faultio *img, const char *dir)
{
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
	lkv_iter *it;
	const void *k;
	size_t kl, vl;
	bool found = false;

	lkv_options_default(&o);
	o.flags = LKV_READONLY;
	o.io = faultio_io(img);
	o.log = quiet;
	assert_ok(lkv_open(dir, &o, &s));
	assert_ok(lkv_tree_open(s, "orphans", &t));
	assert_ok(lkv_iter_open(t, NULL, 0, NULL, 0, 0, &it));
	while (lkv_iter_next_len(it, &k, &kl, &vl) > 0)
		found |= shift_key_is(k, kl);
	lkv_iter_close(it);
	assert_ok(lkv_close(s));
	return found;
}

/*
 * A power cut at a random point of journaled shifts (the background flush
 * seals their batches as they come): after the next mount, which finishes
 * an interrupted one, the file is as before the shift or as after it.
 * Each round goes on from the image the cut left.
 */
static void test_crash(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	const unsigned n = 9000;
	struct bmap m;
	uint64_t x = many_blocks(f, n, &m);
	unsigned before = 0, after = 0, resumed = 0;
	uint64_t r = 9;

	assert_ok(lfs_sync(f->fs));
	for (unsigned round = 0; round < 24; round++) {
		bool insert = round % 2;
		unsigned first = 10 + (unsigned)(rng_next(&r) % 50);
		struct bmap next = bmap_shift(&m, insert, first, 20, bs);
		faultio_freeze_after(fault_io, rng_next(&r) % 40);
		assert_ok(lfs_fallocate(f->fs, x, insert ? INSERT : COLLAPSE,
					(off_t)(first * bs), (off_t)(20 * bs)));
		assert_ok(lfs_sync(f->fs));
		faultio *img = faultio_crash(fault_io, rng_next(&r), FAULTIO_ORDERED);
		if (image_shifting(img, f->store)) {
			char dir[PATH_MAX], name[32];
			resumed++;
			snprintf(name, sizeof(name), "cut%u", round);
			dump_image(f, img, name, dir, sizeof(dir));
			fsck_says(dir, "-n", 0, "interrupted by a crash or an error will be "
				  "finished at the next read-write mount");
		}
		assert_ok(lfs_unmount(f->fs));
		f->fs = NULL;
		faultio_free(fault_io);
		fault_io = img;
		f->mo.io = faultio_io(img);
		assert_ok(lfs_mount(f->store, &f->mo, &f->fs));
		char why[2][128] = { "", "" };
		bool was = bmap_is(f->fs, x, bs, &m, why[0], sizeof(why[0]));
		bool now = !was && bmap_is(f->fs, x, bs, &next, why[1], sizeof(why[1]));
		if (!was && !now)
			fail_msg("round %u: neither before (%s) nor after (%s)", round,
				 why[0], why[1]);
		assert_settled(f, x);
		before += was;
		after += now;
		free(was ? next.v : m.v);
		if (now)
			m = next;
	}
	print_message("crash: %u cuts before the shift, %u after it; %u images held "
		      "a shift half-way, finished by the mount\n", before, after, resumed);
	free(m.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_model),
		fx_test_small(test_model),
		fx_test(test_holes),
		fx_test_small(test_holes),
		fx_test(test_patches_move),
		fx_test(test_rules),
		fx_test_small(test_rules),
		fx_test(test_old_format),
		fx_test_small(test_journaled),
		cmocka_unit_test_setup_teardown(test_fail_half_way, setup_faultio,
						teardown_faultio),
		cmocka_unit_test_setup_teardown(test_crash, setup_faultio, teardown_faultio),
		cmocka_unit_test_setup_teardown(test_fsck, setup_faultio, teardown_faultio),
	};
	return cmocka_run_group_tests_name("fs_shift", tests, NULL, NULL);
}
