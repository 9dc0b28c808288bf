/* SPDX-License-Identifier: MIT */
/*
 * test_patch.c: small writes into blob blocks kept as sub-block patches
 * (fs/patch.c).  Content is checked against a byte model after every
 * step; the extents tree is looked at directly (fs/internal.h) to check
 * that the patches exist when they should, are folded when a block's set
 * is full or the block is stored again, and go with their file.  Readers
 * running beside a writer must never see a state that did not exist.
 */
#include <linux/falloc.h>
#include <pthread.h>

#include "fsutil.h"
#include "internal.h"

#define BS    (64u << 10)      /* the default block size */
#define PAGE  4096u

/* ---- looking at the extents tree ------------------------------------- */

/* How many patch sets ino has, and how many keys of any kind. */
static unsigned count_keys(struct fx *f, uint64_t ino, unsigned *all)
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
		sets += patch_key_is(k, kl);
		n++;
	}
	lkv_iter_close(it);
	assert_true(rc == 0);
	if (all)
		*all = n;
	return sets;
}

static bool has_set(struct fx *f, uint64_t ino, uint64_t block)
{
	uint8_t k[PATCH_KEY_LEN];
	size_t len;

	patch_key(k, ino, block);
	int rc = lkv_get(f->fs->t_extents, k, sizeof(k), NULL, 0, &len);
	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

/* ---- a file and its model -------------------------------------------- */

struct file {
	uint64_t ino;
	uint8_t *m;          /* the model, `cap` bytes */
	size_t size, cap;
};

static struct file file_new(struct fx *f, const char *name, size_t size, uint64_t seed)
{
	struct file x = { mk_file(f, LFS_ROOT_INO, name), xmalloc(size), size, size };

	fill_random(x.m, size, seed);
	write_at(f, x.ino, x.m, size, 0);
	return x;
}

static void file_write(struct fx *f, struct file *x, size_t off, size_t len, uint64_t seed)
{
	assert_true(off + len <= x->cap);
	fill_random(x->m + off, len, seed);
	write_at(f, x->ino, x->m + off, len, (off_t)off);
	if (off + len > x->size)
		x->size = off + len;
}

static void file_check(struct fx *f, const struct file *x)
{
	assert_content(f, x->ino, x->m, x->size);
}

/* ---- cases ----------------------------------------------------------- */

static void test_small_writes_are_patches(void **state)
{
	struct fx *f = *state;
	struct file x = file_new(f, "f", 4 * BS, 1);
	blkcnt_t blocks = st_get(f, x.ino).st_blocks;

	assert_int_equal(count_keys(f, x.ino, NULL), 0);
	file_write(f, &x, BS + 8192, PAGE, 2);
	assert_true(has_set(f, x.ino, 1));
	file_check(f, &x);
	assert_int_equal(st_get(f, x.ino).st_blocks, blocks);

	fx_remount(f);
	assert_true(has_set(f, x.ino, 1));
	file_check(f, &x);

	uint64_t s = 7;
	for (unsigned i = 0; i < 300; i++) {
		size_t len = 1 + rng_next(&s) % (2 * PAGE);
		size_t off = rng_next(&s) % (x.size - len);
		file_write(f, &x, off, len, 100 + i);
		if (i % 16 == 0) {
			uint8_t buf[3 * PAGE];
			size_t lo = off > PAGE ? off - PAGE : 0;
			size_t n = x.size - lo < sizeof(buf) ? x.size - lo : sizeof(buf);
			assert_int_equal(read_at(f, x.ino, buf, n, (off_t)lo), n);
			assert_bytes(buf, x.m + lo, n, (off_t)lo, "window");
		}
	}
	file_check(f, &x);
	assert_true(count_keys(f, x.ino, NULL) > 0);
	assert_int_equal(st_get(f, x.ino).st_blocks, blocks);

	file_write(f, &x, 2 * BS, BS, 3);      /* block 2 stored whole */
	assert_false(has_set(f, x.ino, 2));
	fx_remount(f);
	file_check(f, &x);
	free(x.m);
}

/* SEEK_DATA past a damaged extents key (one that names no block, as the
 * fuzzer's reading found): the key is skipped, not read past its end. */
static void test_seek_skips_bad_keys(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk_file(f, LFS_ROOT_INO, "f");
	uint8_t page[PAGE] = { 1 };
	write_at(f, ino, page, sizeof(page), 0);
	write_at(f, ino, page, 1, 32u << 20);
	uint8_t k[EXTENT_KEY_LEN - 1] = { 0 };
	struct { uint64_t ino; } x = { ino };
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(x.ino >> (56 - 8 * i));
	k[sizeof(k) - 1] = 1;
	assert_int_equal(lkv_put(f->fs->t_extents, k, sizeof(k), "x", 1, NULL), 0);
	assert_int_equal(lfs_lseek(f->fs, x.ino, 65536, SEEK_DATA), 32u << 20);
}

/* Page after page through one block: the set grows until it is full, then
 * the block is folded and a new set starts. */
static void test_fold_when_full(void **state)
{
	struct fx *f = *state;
	struct file x = file_new(f, "f", 2 * BS, 4);
	bool had = false, folded = false;

	for (size_t off = 0; off < BS; off += PAGE) {
		file_write(f, &x, off, PAGE, off + 5);
		bool now = has_set(f, x.ino, 0);
		folded |= had && !now;
		had = now;
		file_check(f, &x);
	}
	assert_true(had || folded);
	assert_true(folded);
	/* a write that spans a whole page boundary of two blocks */
	file_write(f, &x, BS - 100, 200, 6);
	file_check(f, &x);
	fx_remount(f);
	file_check(f, &x);
	free(x.m);
}

static void truncate_to(struct fx *f, struct file *x, size_t n)
{
	struct stat st = { .st_size = (off_t)n };

	assert_ok(lfs_setattr(f->fs, &f->cred, x->ino, &st, LFS_SET_SIZE, NULL));
	if (n < x->size)
		memset(x->m + n, 0, x->cap - n);
	x->size = n;
}

static void test_truncate_and_punch(void **state)
{
	struct fx *f = *state;
	struct file x = file_new(f, "f", 3 * BS, 8);

	file_write(f, &x, 1000, 3000, 9);
	file_write(f, &x, 40000, 2000, 10);
	file_write(f, &x, BS + 500, 500, 11);
	truncate_to(f, &x, 20000);             /* into block 0, past one patch */
	assert_false(has_set(f, x.ino, 0));
	assert_int_equal(count_keys(f, x.ino, NULL), 0);
	file_check(f, &x);
	truncate_to(f, &x, 3 * BS);
	file_check(f, &x);

	file_write(f, &x, 0, BS, 12);
	file_write(f, &x, 2 * BS, BS, 13);
	file_write(f, &x, 100, 100, 14);
	file_write(f, &x, 2 * BS + 30000, 4000, 15);
	assert_true(has_set(f, x.ino, 0) && has_set(f, x.ino, 2));
	assert_ok(lfs_fallocate(f->fs, x.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				50, 200));
	memset(x.m + 50, 0, 200);
	assert_ok(lfs_fallocate(f->fs, x.ino, FALLOC_FL_ZERO_RANGE, 2 * BS + 31000, 100));
	memset(x.m + 2 * BS + 31000, 0, 100);
	file_check(f, &x);
	assert_false(has_set(f, x.ino, 0) || has_set(f, x.ino, 2));

	file_write(f, &x, 8192, PAGE, 16);
	assert_int_equal(lfs_lseek(f->fs, x.ino, 0, SEEK_HOLE), BS);   /* block 1 */
	assert_int_equal(lfs_lseek(f->fs, x.ino, 5000, SEEK_DATA), 5000);
	uint64_t y = mk_file(f, LFS_ROOT_INO, "copy");
	assert_int_equal(lfs_copy_file_range(f->fs, x.ino, 0, y, 0, x.size), (ssize_t)x.size);
	assert_content(f, y, x.m, x.size);
	free(x.m);
}

static void test_unlink_drops_patches(void **state)
{
	struct fx *f = *state;
	struct file x = file_new(f, "f", 2 * BS, 17);
	unsigned all;

	file_write(f, &x, 500, 500, 18);
	file_write(f, &x, BS + 500, 500, 19);
	assert_int_equal(count_keys(f, x.ino, &all), 2);
	assert_int_equal(all, 4);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "f"));
	assert_int_equal(count_keys(f, x.ino, &all), 0);
	assert_int_equal(all, 0);
	free(x.m);
}

/* A store of format version 1 keeps working as before: no patches. */
static void test_version1_store(void **state)
{
	struct fx *f = *state;
	uint8_t sb[256];
	size_t len;

	assert_ok(lkv_get(f->fs->t_super, "sb", 2, sb, sizeof(sb), &len));
	assert_true(len <= sizeof(sb));
	le32_put(sb + 8, 1);
	assert_ok(lkv_put(f->fs->t_super, "sb", 2, sb, len, NULL));
	fx_remount(f);
	assert_int_equal(f->info.format_version, 1);

	struct file x = file_new(f, "f", 2 * BS, 20);
	file_write(f, &x, 700, PAGE, 21);
	assert_int_equal(count_keys(f, x.ino, NULL), 0);
	fx_remount(f);
	file_check(f, &x);
	free(x.m);
}

/*
 * The writer stamps generation g on each page of one block in turn, page
 * 0 first.  Any state that existed has pages 0..i at g and the rest at g
 * - 1, so a reader must see generations that never rise along the block,
 * span at most one, and never go back from one read to the next.
 */
enum { GENERATIONS = 600, READERS = 2 };

struct gen_run {
	struct fx *f;
	uint64_t ino;
	atomic_bool done;
	int err;             /* the writer's */
};

static uint32_t page_gen(const uint8_t *p, bool *uniform)
{
	uint32_t g;

	memcpy(&g, p, 4);
	for (size_t i = 4; i < PAGE; i += 4)
		*uniform &= !memcmp(p + i, &g, 4);
	return g;
}

static void *gen_writer(void *arg)
{
	struct gen_run *r = arg;
	uint32_t page[PAGE / 4];

	for (uint32_t g = 1; g <= GENERATIONS && !r->err; g++)
		for (size_t p = 0; p < BS / PAGE && !r->err; p++) {
			for (size_t i = 0; i < PAGE / 4; i++)
				page[i] = g;
			ssize_t n = lfs_write(r->f->fs, r->ino, page, PAGE, (off_t)(p * PAGE), 0);
			if (n != PAGE)
				r->err = n < 0 ? (int)-n : EIO;
		}
	atomic_store(&r->done, true);
	return NULL;
}

static void *gen_reader(void *arg)
{
	struct gen_run *r = arg;
	uint8_t *buf = malloc(BS);
	uint32_t last[BS / PAGE] = { 0 };
	char *why = NULL;

	while (buf && !why && !atomic_load(&r->done)) {
		if (lfs_read(r->f->fs, r->ino, buf, BS, 0) != BS) {
			why = "short read";
			break;
		}
		uint32_t first = 0, prev = 0;
		for (size_t p = 0; p < BS / PAGE && !why; p++) {
			bool uniform = true;
			uint32_t g = page_gen(buf + p * PAGE, &uniform);
			if (!uniform)
				why = "a page mixes generations";
			else if (p && (g > prev || first - g > 1))
				why = "pages from states that never existed together";
			else if (g < last[p])
				why = "a page went back a generation";
			first = p ? first : g;
			prev = last[p] = g;
		}
	}
	free(buf);
	return why;
}

static void test_readers_see_whole_states(void **state)
{
	struct fx *f = *state;
	struct gen_run r = { .f = f, .ino = mk_file(f, LFS_ROOT_INO, "g") };
	uint8_t *zero = calloc(1, BS);
	pthread_t w, rd[READERS];

	write_at(f, r.ino, zero, BS, 0);
	atomic_init(&r.done, false);
	for (unsigned i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, gen_reader, &r), 0);
	assert_int_equal(pthread_create(&w, NULL, gen_writer, &r), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	for (unsigned i = 0; i < READERS; i++) {
		void *why;
		assert_int_equal(pthread_join(rd[i], &why), 0);
		if (why)
			fail_msg("reader %u: %s", i, (const char *)why);
	}
	assert_int_equal(r.err, 0);
	free(zero);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_writes_are_patches, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fold_when_full, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncate_and_punch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unlink_drops_patches, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_seek_skips_bad_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_version1_store, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_readers_see_whole_states, fx_setup,
						fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
