/* SPDX-License-Identifier: MIT */
/*
 * test_file.c: file data through the core (fs/lfs.h): create and open
 * flags, read and write against an in-memory model of each file, partial
 * block overwrites at many alignments, sparse files and offsets past
 * 4 GiB, truncate, fallocate (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE), lseek
 * SEEK_DATA / SEEK_HOLE, copy_file_range and O_APPEND-style writes.
 *
 * Most cases run twice: on the default format (64 KiB blocks, 32 KiB blob
 * threshold) and on one with 4 KiB blocks and a 1 KiB blob threshold, so
 * that both inline tails and blob extents are crossed by every shape of
 * write.  Every content check compares every byte with the model.
 */
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>

#include "fsutil.h"

/* ---- the model ------------------------------------------------------- */

struct model {
	uint8_t *b;
	size_t size, cap;
};

static void model_reserve(struct model *m, size_t n)
{
	if (n <= m->cap)
		return;
	size_t cap = m->cap ? m->cap : 4096;
	while (cap < n)
		cap *= 2;
	m->b = realloc(m->b, cap);
	assert_non_null(m->b);
	memset(m->b + m->cap, 0, cap - m->cap);
	m->cap = cap;
}

static void model_resize(struct model *m, size_t n)
{
	model_reserve(m, n);
	if (n < m->size)
		memset(m->b + n, 0, m->size - n);
	m->size = n;
}

static void model_write(struct model *m, const void *p, size_t len, size_t off)
{
	if (!len)
		return;
	model_reserve(m, off + len);
	memcpy(m->b + off, p, len);
	if (off + len > m->size)
		m->size = off + len;
}

/* Zeros [off, off+len) within the model's current size. */
static void model_zero(struct model *m, size_t off, size_t len)
{
	if (off >= m->size)
		return;
	if (off + len > m->size)
		len = m->size - off;
	memset(m->b + off, 0, len);
}

/* Writes through the core and the model at once. */
static void mwrite(struct fx *f, uint64_t ino, struct model *m,
		   const void *p, size_t len, size_t off)
{
	write_at(f, ino, p, len, (off_t)off);
	model_write(m, p, len, off);
}

static void mtruncate(struct fx *f, uint64_t ino, struct model *m, size_t n)
{
	struct stat st = { .st_size = (off_t)n };

	assert_ok(lfs_setattr(f->fs, &f->cred, ino, &st, LFS_SET_SIZE, NULL));
	model_resize(m, n);
}

/* Compares [lo, hi) of the file with the model (and the size). */
static void check_window(struct fx *f, uint64_t ino, const struct model *m,
			 size_t lo, size_t hi)
{
	struct stat st = st_get(f, ino);

	if ((size_t)st.st_size != m->size)
		fail_msg("size %lld, model %zu", (long long)st.st_size,
			 m->size);
	if (hi > m->size)
		hi = m->size;
	if (lo >= hi)
		return;
	uint8_t *buf = xmalloc(hi - lo);
	assert_int_equal(read_at(f, ino, buf, hi - lo, (off_t)lo), hi - lo);
	assert_bytes(buf, m->b + lo, hi - lo, (off_t)lo, "window");
	free(buf);
}


/* A cache far smaller than the data and a frequent background flush, so
 * that leaves are evicted and re-read and flushes run under the test. */
static void tiny_cache(struct fx *f)
{
	f->mo.cache_bytes = 64 << 10;
	f->mo.flush_interval_ms = 20;
}

static int setup_tiny(void **state)
{
	return fx_setup_with(state, tiny_cache);
}

#define fx_test_tiny(fn) \
	cmocka_unit_test_setup_teardown(fn, setup_tiny, fx_teardown)

static size_t bsz(struct fx *f)
{
	assert_true(f->info.block_size >= 512);
	return f->info.block_size;
}

/* ---- create and open ------------------------------------------------- */

static void test_create_flags(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint8_t data[300];

	fill_random(data, sizeof(data), 7);
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	f->cred = fx_cred(500, 600, 027);
	assert_ok(lfs_create(f->fs, &f->cred, d, "f", S_IFREG | 0666,
			     O_CREAT | O_EXCL | O_RDWR, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	uint64_t x = st.st_ino;
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_uid, 500);
	assert_int_equal(st.st_gid, 600);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(ino_of(f, d, "f"), x);
	write_at(f, x, data, sizeof(data), 0);

	assert_rc(lfs_create(f->fs, &f->cred, d, "f", S_IFREG | 0666,
			     O_CREAT | O_EXCL | O_RDWR, &st), -EEXIST);
	assert_content(f, x, data, sizeof(data));
	/* without O_EXCL: opens the existing file, mode and owner kept */
	f->cred = fx_cred(0, 0, 0);
	assert_ok(lfs_create(f->fs, &f->cred, d, "f", S_IFREG | 0777,
			     O_CREAT | O_RDWR, &st));
	lfs_forget(f->fs, st.st_ino, 1);
	assert_int_equal(st.st_ino, x);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_uid, 500);
	assert_content(f, x, data, sizeof(data));
	/* with O_TRUNC */
	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_ok(lfs_create(f->fs, &f->cred, d, "f", S_IFREG | 0777,
			     O_CREAT | O_TRUNC | O_WRONLY, &st));
	struct timespec hi = ts_after();
	lfs_forget(f->fs, st.st_ino, 1);
	assert_int_equal(st.st_ino, x);
	assert_int_equal(st.st_size, 0);
	st = st_get(f, x);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	assert_ts_within(st.st_mtim, lo, hi);
	assert_ts_within(st.st_ctim, lo, hi);
	assert_int_equal(read_at(f, x, data, sizeof(data), 0), 0);

	/* an existing directory; a non-directory parent */
	mk_dir(f, d, "sub");
	assert_rc(lfs_create(f->fs, &f->cred, d, "sub", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -EISDIR);
	assert_rc(lfs_create(f->fs, &f->cred, d, "sub", S_IFREG | 0644,
			     O_CREAT | O_EXCL | O_RDWR, &st), -EEXIST);
	assert_rc(lfs_create(f->fs, &f->cred, x, "g", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -ENOTDIR);
	assert_rc(lfs_create(f->fs, &f->cred, 987654321, "g", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -ENOENT);
	assert_int_equal(st_get(f, d).st_nlink, 3);
}

static void test_open(void **state)
{
	struct fx *f = *state;
	uint8_t data[5000];
	struct stat st;

	fill_random(data, sizeof(data), 8);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	write_at(f, x, data, sizeof(data), 0);
	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDONLY));
	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDWR));
	assert_ok(lfs_open(f->fs, &f->cred, x, O_WRONLY | O_APPEND));
	assert_content(f, x, data, sizeof(data));
	assert_ok(lfs_open(f->fs, &f->cred, x, O_WRONLY | O_TRUNC));
	st = st_get(f, x);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	/* nothing of the old data comes back when the file grows again */
	struct stat sz = { .st_size = sizeof(data) };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &sz, LFS_SET_SIZE, NULL));
	assert_zeros(f, x, 0, sizeof(data));

	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	assert_ok(lfs_open(f->fs, &f->cred, d, O_RDONLY));
	assert_ok(lfs_open(f->fs, &f->cred, d, O_RDONLY | O_DIRECTORY));
	assert_rc(lfs_open(f->fs, &f->cred, d, O_WRONLY), -EISDIR);
	assert_rc(lfs_open(f->fs, &f->cred, d, O_RDWR), -EISDIR);
	assert_rc(lfs_open(f->fs, &f->cred, 987654321, O_RDONLY), -ENOENT);
	assert_int_equal(st_get(f, d).st_nlink, 2);
}

/* ---- read and write -------------------------------------------------- */

static void test_read_write(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	assert_rc(lfs_read(f->fs, x, buf, sizeof(buf), 0), 0);
	set_times(f, x, 1000);
	struct timespec lo = ts_before();
	assert_rc(lfs_write(f->fs, x, "hello, world", 12, 0, 0), 12);
	struct timespec hi = ts_after();
	struct stat st = st_get(f, x);
	assert_int_equal(st.st_size, 12);
	assert_ts_within(st.st_mtim, lo, hi);
	assert_ts_within(st.st_ctim, lo, hi);

	memset(buf, 'Z', sizeof(buf));
	assert_rc(lfs_read(f->fs, x, buf, sizeof(buf), 0), 12);
	assert_memory_equal(buf, "hello, worldZ", 13);
	assert_rc(lfs_read(f->fs, x, buf, 5, 7), 5);
	assert_memory_equal(buf, "world", 5);
	assert_rc(lfs_read(f->fs, x, buf, 10, 10), 2);     /* across EOF */
	assert_memory_equal(buf, "ld", 2);
	assert_rc(lfs_read(f->fs, x, buf, 10, 12), 0);     /* at EOF */
	assert_rc(lfs_read(f->fs, x, buf, 10, 1000000), 0);
	assert_rc(lfs_read(f->fs, x, buf, 0, 0), 0);

	/* a zero-length write anywhere changes nothing */
	assert_rc(lfs_write(f->fs, x, buf, 0, 100000, 0), 0);
	assert_int_equal(st_get(f, x).st_size, 12);

	/* overwrite inside, extend by one */
	assert_rc(lfs_write(f->fs, x, "W", 1, 7, 0), 1);
	assert_rc(lfs_write(f->fs, x, "!", 1, 12, 0), 1);
	assert_content(f, x, (const uint8_t *)"hello, World!", 13);

	/* a directory */
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	assert_rc(lfs_read(f->fs, d, buf, sizeof(buf), 0), -EISDIR);
	assert_rc(lfs_write(f->fs, d, "x", 1, 0, 0), -EISDIR);
}

/* Writes of many lengths at many offsets over a file of 3.5 blocks;
 * the window around each write and the size after each, the whole file
 * every few writes. */
static void overwrite_shapes(struct fx *f, uint64_t seed)
{
	size_t bs = bsz(f);
	size_t offs[] = { 0, 1, 2, 3, 7, 8, 511, 512, 513, 4095, 4096, 4097,
			  bs / 2 - 1, bs / 2, bs - 1, bs, bs + 1, 2 * bs - 1,
			  2 * bs, 3 * bs - 1, 3 * bs, 3 * bs + bs / 2 - 1,
			  3 * bs + bs / 2, 3 * bs + bs / 2 + 1, 4 * bs + 5 };
	size_t lens[] = { 1, 2, 3, 511, 4096, bs - 1, bs, bs + 1, 2 * bs + 7 };
	size_t no = sizeof(offs) / sizeof(offs[0]);
	size_t nl = sizeof(lens) / sizeof(lens[0]);
	struct model m = { 0 };
	uint8_t *data = xmalloc(4 * bs);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	unsigned n = 0;

	for (size_t i = 0; i < no; i++) {
		for (size_t j = 0; j < nl; j++) {
			size_t init = 3 * bs + bs / 2;
			if (n % 45 == 0) {        /* start over now and then */
				mtruncate(f, x, &m, 0);
				fill_random(data, init, seed + n);
				mwrite(f, x, &m, data, init, 0);
			}
			size_t off = offs[i], len = lens[j];
			fill_random(data, len, seed * 1000003 + n);
			mwrite(f, x, &m, data, len, off);
			size_t lo = off > bs ? off - bs : 0;
			check_window(f, x, &m, lo, off + len + bs);
			if (++n % 8 == 0)
				assert_content(f, x, m.b, m.size);
		}
	}
	assert_content(f, x, m.b, m.size);
	fx_remount(f);
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

static void test_overwrite_shapes(void **state)
{
	overwrite_shapes(*state, 11);
}

/* Every byte alignment within a block edge region, and random ones,
 * each with a short and a block-crossing length. */
static void overwrite_alignments(struct fx *f, uint64_t seed)
{
	size_t bs = bsz(f);
	struct model m = { 0 };
	uint64_t rng = seed;
	uint8_t *data = xmalloc(2 * bs);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	fill_random(data, 2 * bs, seed);
	mwrite(f, x, &m, data, 2 * bs, 0);
	for (unsigned n = 0; n < 400; n++) {
		size_t off;
		if (n < 64)
			off = n;                        /* start of block 0 */
		else if (n < 128)
			off = bs - 64 + (n - 64);       /* across 0|1 */
		else if (n < 160)
			off = 2 * bs - 16 + (n - 128);  /* across EOF */
		else
			off = (size_t)rng_below(&rng, 2 * bs);
		size_t len = (n & 1) ? 1 + (size_t)rng_below(&rng, 33)
				     : 1 + (size_t)rng_below(&rng, bs + 100);
		fill_random(data, len, rng_next(&rng));
		mwrite(f, x, &m, data, len, off);
		size_t lo = off > 64 ? off - 64 : 0;
		check_window(f, x, &m, lo, off + len + 64);
		if (n % 50 == 49)
			assert_content(f, x, m.b, m.size);
	}
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

static void test_overwrite_alignments(void **state)
{
	overwrite_alignments(*state, 12);
}

/* Appends of odd sizes grow a file from nothing through inline storage
 * into blob extents, block after block. */
static void test_grow_in_steps(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f), total = 2 * bs + 12345;
	struct model m = { 0 };
	uint8_t *data = xmalloc(total);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	size_t at = 0, step = 1;

	fill_random(data, total, 13);
	while (at < total) {
		size_t len = step < total - at ? step : total - at;
		mwrite(f, x, &m, data + at, len, at);
		at += len;
		check_window(f, x, &m, at > 3 * step ? at - 3 * step : 0, at);
		step = step * 3 / 2 + 1;
		if (step > 7000)
			step = 997;
	}
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

static void test_large_write(void **state)
{
	struct fx *f = *state;
	size_t len = (3u << 20) + 4321;
	uint8_t *data = xmalloc(len), *buf = xmalloc(len);
	uint64_t rng = 14;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	fill_random(data, len, 14);
	write_at(f, x, data, len, 0);
	assert_content(f, x, data, len);
	for (int i = 0; i < 64; i++) {
		size_t off = (size_t)rng_below(&rng, len);
		size_t n = (size_t)rng_below(&rng, 300000);
		size_t want = off + n > len ? len - off : n;
		assert_int_equal(read_at(f, x, buf, n, (off_t)off), want);
		assert_bytes(buf, data + off, want, (off_t)off, "large");
	}
	/* one more large write at an odd offset inside */
	fill_random(data + 777777, 1000003, 15);
	write_at(f, x, data + 777777, 1000003, 777777);
	assert_content(f, x, data, len);
	fx_remount(f);
	assert_content(f, x, data, len);
	free(data);
	free(buf);
}

/* Random writes, truncates, punches and zeroings of a file of a few
 * blocks, compared whole with the model after every step. */
static void random_model(struct fx *f, uint64_t seed, unsigned steps)
{
	size_t bs = bsz(f), span = 5 * bs;
	struct model m = { 0 };
	uint64_t rng = seed;
	uint8_t *data = xmalloc(span);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	for (unsigned n = 0; n < steps; n++) {
		int op = (int)rng_below(&rng, 10);
		size_t off = (size_t)rng_below(&rng, span);
		size_t len = 1 + (size_t)rng_below(&rng,
			rng_chance(&rng, 1, 2) ? 200 : span - off);
		if (off + len > span)
			len = span - off;
		if (op < 5) {
			fill_random(data, len, rng_next(&rng));
			mwrite(f, x, &m, data, len, off);
		} else if (op < 7) {
			mtruncate(f, x, &m, off);
		} else if (op < 8) {
			assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
						FALLOC_FL_KEEP_SIZE, (off_t)off,
						(off_t)len));
			model_zero(&m, off, len);
		} else if (op < 9) {
			assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_ZERO_RANGE,
						(off_t)off, (off_t)len));
			if (off + len > m.size)
				model_resize(&m, off + len);
			model_zero(&m, off, len);
		} else {
			assert_ok(lfs_fallocate(f->fs, x, 0, (off_t)off,
						(off_t)len));
			if (off + len > m.size)
				model_resize(&m, off + len);
		}
		assert_content(f, x, m.b, m.size);
	}
	fx_remount(f);
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

static void test_random_model(void **state)
{
	random_model(*state, 16, 250);
}

/* ---- sparse files, far offsets --------------------------------------- */

static void test_sparse(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	off_t at = (off_t)(100 * bs + 3);
	uint8_t buf[64];

	write_at(f, x, "0123456789", 10, at);
	assert_int_equal(st_get(f, x).st_size, at + 10);
	assert_zeros(f, x, 0, 2 * bs + 1);
	assert_zeros(f, x, (off_t)(50 * bs - 7), bs + 14);
	assert_zeros(f, x, (off_t)(100 * bs - 100), 103);
	memset(buf, 'Z', sizeof(buf));
	assert_rc(lfs_read(f->fs, x, buf, sizeof(buf), at - 3), 13);
	assert_memory_equal(buf, "\0\0\0" "0123456789", 13);
	/* fill in the middle of the hole; the rest stays zero */
	write_at(f, x, "abc", 3, (off_t)(40 * bs - 1));
	assert_zeros(f, x, (off_t)(40 * bs - 50), 49);
	assert_rc(lfs_read(f->fs, x, buf, 5, (off_t)(40 * bs - 1)), 5);
	assert_memory_equal(buf, "abc\0\0", 5);
	fx_remount(f);
	assert_zeros(f, x, 0, 2 * bs + 1);
	assert_rc(lfs_read(f->fs, x, buf, sizeof(buf), at - 3), 13);
	assert_memory_equal(buf, "\0\0\0" "0123456789", 13);
}

static void test_far_past_eof(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t buf[32];
	const off_t g = 1ll << 30, t = 1ll << 40;

	write_at(f, x, "start", 5, 0);
	write_at(f, x, "gig", 3, g);
	assert_int_equal(st_get(f, x).st_size, g + 3);
	write_at(f, x, "tera", 4, t + 12345);
	assert_int_equal(st_get(f, x).st_size, t + 12345 + 4);
	assert_rc(lfs_read(f->fs, x, buf, 8, 0), 8);
	assert_memory_equal(buf, "start\0\0\0", 8);
	assert_rc(lfs_read(f->fs, x, buf, 6, g - 3), 6);
	assert_memory_equal(buf, "\0\0\0gig", 6);
	assert_zeros(f, x, g + 3, 70000);
	assert_zeros(f, x, t - 4096, 4096 + 12345);
	assert_rc(lfs_read(f->fs, x, buf, 32, t + 12345), 4);
	assert_memory_equal(buf, "tera", 4);
	assert_rc(lfs_read(f->fs, x, buf, 32, t + 12349), 0);
	/* three blocks were written, at most */
	assert_true((size_t)st_get(f, x).st_blocks <= 3 * bsz(f) / 512);
}

static void test_above_4g(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	const off_t g4 = 1ll << 32;
	uint8_t *data = xmalloc(3 * bs), *buf = xmalloc(3 * bs);

	/* across the 4 GiB line, and a few blocks' worth at 5 GiB - 1 */
	write_at(f, x, "ABCDEFG", 7, g4 - 3);
	fill_random(data, 3 * bs, 17);
	write_at(f, x, data, 3 * bs, 5 * (1ll << 30) - 1);
	assert_int_equal(st_get(f, x).st_size, 5 * (1ll << 30) - 1 + 3 * bs);
	assert_rc(lfs_read(f->fs, x, buf, 9, g4 - 4), 9);
	assert_memory_equal(buf, "\0ABCDEFG\0", 9);
	assert_int_equal(read_at(f, x, buf, 3 * bs, 5 * (1ll << 30) - 1),
			 3 * bs);
	assert_bytes(buf, data, 3 * bs, 5 * (1ll << 30) - 1, "at 5 GiB");
	/* the same offsets modulo 4 GiB are untouched */
	assert_zeros(f, x, 0, 16);
	assert_zeros(f, x, (1ll << 30) - 16, 32);

	/* overwrite across 4 GiB, then truncate into the middle of it */
	write_at(f, x, "xy", 2, g4 - 1);
	assert_rc(lfs_read(f->fs, x, buf, 9, g4 - 4), 9);
	assert_memory_equal(buf, "\0ABxyEFG\0", 9);
	struct stat st = { .st_size = g4 + 1 };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_int_equal(st_get(f, x).st_size, g4 + 1);
	assert_rc(lfs_read(f->fs, x, buf, 9, g4 - 4), 5);
	assert_memory_equal(buf, "\0ABxy", 5);
	/* and up again: the cut part reads as zeros */
	st.st_size = g4 + 100;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_rc(lfs_read(f->fs, x, buf, 9, g4 - 4), 9);
	assert_memory_equal(buf, "\0ABxy\0\0\0\0", 9);
	fx_remount(f);
	assert_int_equal(st_get(f, x).st_size, g4 + 100);
	assert_rc(lfs_read(f->fs, x, buf, 9, g4 - 4), 9);
	assert_memory_equal(buf, "\0ABxy\0\0\0\0", 9);
	free(data);
	free(buf);
}

/*
 * The largest file is the kernel's MAX_LFS_FILESIZE, 2^63 - 1, which FUSE
 * mounts have as s_maxbytes, as tmpfs: a write may end there (one that
 * would pass it is cut short; an append that starts there is -EFBIG), and
 * a range past 2^63 - 1 is -EINVAL (the kernel's rw_verify_area).  The
 * blocks at the top are an ordinary sparse file's; nothing in between is
 * stored.
 */
static void test_write_limits(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	const off_t top = INT64_MAX;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t buf[16];

	write_at(f, x, "abc", 3, 0);
	assert_rc(lfs_write(f->fs, x, "0123456789", 10, top - 5, 0), -EINVAL);
	assert_rc(lfs_write(f->fs, x, "0123456789", 10, top, 0), -EINVAL);
	assert_rc(lfs_write(f->fs, x, "0", 1, top, 0), -EINVAL);
	assert_rc(lfs_read(f->fs, x, buf, 10, top - 5), -EINVAL);
	assert_content(f, x, (const uint8_t *)"abc", 3);

	/* a write that ends at the top */
	assert_rc(lfs_write(f->fs, x, "0123456789", 10, top - 10, 0), 10);
	assert_int_equal(st_get(f, x).st_size, top);
	assert_rc(lfs_read(f->fs, x, buf, 10, top - 10), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_rc(lfs_read(f->fs, x, buf, 1, top - 1), 1);
	assert_memory_equal(buf, "9", 1);
	assert_rc(lfs_read(f->fs, x, buf, 0, top), 0);
	assert_rc(lfs_read(f->fs, x, buf, 4, (off_t)1 << 62), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_true(st_get(f, x).st_blocks * 512 <= 2 * (blkcnt_t)bs + 512);
	/* SEEK_DATA finds the top block; the hole is the end of the file */
	off_t d = lfs_lseek(f->fs, x, (off_t)bs, SEEK_DATA);
	if (d < (top - 10) / (off_t)bs * (off_t)bs || d > top - 10)
		fail_msg("SEEK_DATA from %zu: %lld", bs, (long long)d);
	assert_rc(lfs_lseek(f->fs, x, top - 2, SEEK_HOLE), top);
	assert_rc(lfs_lseek(f->fs, x, top, SEEK_DATA), -ENXIO);

	/* appends: none at the top, a short one below it */
	assert_rc(lfs_write(f->fs, x, "z", 1, 0, LFS_WRITE_APPEND), -EFBIG);
	struct stat st = { .st_size = top - 3 };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_rc(lfs_write(f->fs, x, "wxyz12", 6, 0, LFS_WRITE_APPEND), 3);
	assert_int_equal(st_get(f, x).st_size, top);
	fx_remount(f);
	assert_int_equal(st_get(f, x).st_size, top);
	assert_rc(lfs_read(f->fs, x, buf, 10, top - 10), 10);
	assert_memory_equal(buf, "0123456wxy", 10);
	assert_rc(lfs_read(f->fs, x, buf, 3, 0), 3);
	assert_memory_equal(buf, "abc", 3);
	/* and down again: nothing is left up there */
	st.st_size = 3;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_content(f, x, (const uint8_t *)"abc", 3);
	assert_true(st_get(f, x).st_blocks * 512 <= 512);
}

/* ---- truncate -------------------------------------------------------- */

static void test_truncate(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	struct model m = { 0 };
	uint8_t *data = xmalloc(4 * bs);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	size_t cuts[] = { 3 * bs + 100, 3 * bs, 2 * bs + 1, 2 * bs - 1, bs / 2,
			  1, 0 };

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		fill_random(data, 4 * bs, 100 + i);
		mtruncate(f, x, &m, 0);
		mwrite(f, x, &m, data, 4 * bs, 0);
		/* down, then up past the old size: the gap is zeros */
		mtruncate(f, x, &m, cuts[i]);
		assert_content(f, x, m.b, m.size);
		mtruncate(f, x, &m, 5 * bs + 3);
		assert_content(f, x, m.b, m.size);
		/* down again, then a write past EOF leaves zeros behind */
		mtruncate(f, x, &m, cuts[i] / 2);
		mwrite(f, x, &m, "tail", 4, 4 * bs + 9);
		assert_content(f, x, m.b, m.size);
		/* to the same size: nothing changes */
		mtruncate(f, x, &m, m.size);
		assert_content(f, x, m.b, m.size);
	}
	/* growing a fresh file by truncate alone */
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");
	struct stat st = { .st_size = (off_t)(7 * bs + 5) };
	assert_ok(lfs_setattr(f->fs, &f->cred, y, &st, LFS_SET_SIZE, NULL));
	assert_int_equal(st_get(f, y).st_size, 7 * bs + 5);
	assert_zeros(f, y, 0, 7 * bs + 5);
	fx_remount(f);
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

/* ---- fallocate ------------------------------------------------------- */

static void test_fallocate_modes(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	struct model m = { 0 };
	uint8_t *data = xmalloc(4 * bs);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	fill_random(data, 4 * bs, 21);
	mwrite(f, x, &m, data, 3 * bs + 10, 0);

	/* mode 0 inside: nothing changes; past EOF: size grows, zeros */
	assert_ok(lfs_fallocate(f->fs, x, 0, 5, (off_t)bs));
	assert_content(f, x, m.b, m.size);
	assert_ok(lfs_fallocate(f->fs, x, 0, (off_t)(3 * bs), (off_t)bs));
	model_resize(&m, 4 * bs);
	assert_content(f, x, m.b, m.size);
	/* KEEP_SIZE past EOF: the size stays */
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_KEEP_SIZE,
				(off_t)(4 * bs), (off_t)(2 * bs)));
	assert_content(f, x, m.b, m.size);
	/* and a later extension reads zeros there */
	mtruncate(f, x, &m, 6 * bs);
	assert_content(f, x, m.b, m.size);
	mtruncate(f, x, &m, 4 * bs);

	/* PUNCH_HOLE: partial at both ends, whole blocks in between */
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, (off_t)(bs / 2 + 1),
				(off_t)(2 * bs)));
	model_zero(&m, bs / 2 + 1, 2 * bs);
	assert_content(f, x, m.b, m.size);
	/* a punch past EOF changes no size */
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, (off_t)(4 * bs - 3),
				(off_t)(10 * bs)));
	model_zero(&m, 4 * bs - 3, 3);
	assert_content(f, x, m.b, m.size);
	/* a punch of a few bytes inside a block */
	mwrite(f, x, &m, data, bs, 0);
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 17, 5));
	model_zero(&m, 17, 5);
	assert_content(f, x, m.b, m.size);

	/* ZERO_RANGE inside, past EOF (grows), with KEEP_SIZE (does not) */
	mwrite(f, x, &m, data, 4 * bs, 0);
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_ZERO_RANGE, 3,
				(off_t)(bs + 2)));
	model_zero(&m, 3, bs + 2);
	assert_content(f, x, m.b, m.size);
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_ZERO_RANGE,
				(off_t)(4 * bs - 5), 20));
	model_resize(&m, 4 * bs + 15);
	model_zero(&m, 4 * bs - 5, 20);
	assert_content(f, x, m.b, m.size);
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_ZERO_RANGE |
				FALLOC_FL_KEEP_SIZE, (off_t)(4 * bs), (off_t)bs));
	model_zero(&m, 4 * bs, bs);
	assert_content(f, x, m.b, m.size);

	/* refusals */
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE, 0, 10),
		  -EOPNOTSUPP);
	/* (collapse and insert: test_shift.c) */
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_COLLAPSE_RANGE |
				FALLOC_FL_KEEP_SIZE, 0, (off_t)bs), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_INSERT_RANGE |
				FALLOC_FL_PUNCH_HOLE, 0, (off_t)bs), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_UNSHARE_RANGE, 0,
				(off_t)bs), -EOPNOTSUPP);
	assert_rc(lfs_fallocate(f->fs, x, 0, 0, 0), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, 0, -1, 10), -EINVAL);
	assert_rc(lfs_fallocate(f->fs, x, 0, INT64_MAX - 10, 100), -EFBIG);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_KEEP_SIZE, INT64_MAX, 1), -EFBIG);
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	assert_rc(lfs_fallocate(f->fs, d, 0, 0, 10), -EISDIR);
	assert_content(f, x, m.b, m.size);
	fx_remount(f);
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

/* ---- SEEK_DATA / SEEK_HOLE ------------------------------------------- */

static void test_seek_data_hole(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	off_t b = (off_t)bs;
	uint8_t *data = xmalloc(bs);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");

	/* empty */
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_DATA), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_HOLE), -ENXIO);

	/* data in blocks 0, 2-3 and 7; eight blocks long */
	fill_random(data, bs, 31);
	write_at(f, x, data, bs, 0);
	write_at(f, x, data, bs, 2 * b);
	write_at(f, x, data, bs, 3 * b);
	write_at(f, x, data, bs, 7 * b);
	assert_int_equal(st_get(f, x).st_size, 8 * b);
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_DATA), 0);
	assert_rc(lfs_lseek(f->fs, x, 5, SEEK_DATA), 5);
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_HOLE), b);
	assert_rc(lfs_lseek(f->fs, x, b - 1, SEEK_HOLE), b);
	assert_rc(lfs_lseek(f->fs, x, b, SEEK_HOLE), b);
	assert_rc(lfs_lseek(f->fs, x, b + 7, SEEK_HOLE), b + 7);
	assert_rc(lfs_lseek(f->fs, x, b, SEEK_DATA), 2 * b);
	assert_rc(lfs_lseek(f->fs, x, 2 * b - 1, SEEK_DATA), 2 * b);
	assert_rc(lfs_lseek(f->fs, x, 2 * b, SEEK_HOLE), 4 * b);
	assert_rc(lfs_lseek(f->fs, x, 3 * b + 9, SEEK_HOLE), 4 * b);
	assert_rc(lfs_lseek(f->fs, x, 4 * b, SEEK_DATA), 7 * b);
	assert_rc(lfs_lseek(f->fs, x, 7 * b + 9, SEEK_DATA), 7 * b + 9);
	assert_rc(lfs_lseek(f->fs, x, 7 * b, SEEK_HOLE), 8 * b); /* EOF */
	assert_rc(lfs_lseek(f->fs, x, 8 * b - 1, SEEK_HOLE), 8 * b);
	assert_rc(lfs_lseek(f->fs, x, 8 * b, SEEK_DATA), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, 8 * b, SEEK_HOLE), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, 100 * b, SEEK_DATA), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, -1, SEEK_DATA), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, -1, SEEK_HOLE), -ENXIO);

	/* a hole at the end, made by truncating up */
	struct stat st = { .st_size = 12 * b };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_rc(lfs_lseek(f->fs, x, 8 * b, SEEK_DATA), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, 8 * b, SEEK_HOLE), 8 * b);
	assert_rc(lfs_lseek(f->fs, x, 7 * b, SEEK_HOLE), 8 * b);
	assert_rc(lfs_lseek(f->fs, x, 12 * b - 1, SEEK_HOLE), 12 * b - 1);
	assert_rc(lfs_lseek(f->fs, x, 12 * b, SEEK_HOLE), -ENXIO);

	/* punching block 2 leaves 3 as the next data after 1 */
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 2 * b, b));
	assert_rc(lfs_lseek(f->fs, x, b, SEEK_DATA), 3 * b);
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_HOLE), b);
	/* truncating below block 7 drops it */
	st.st_size = 5 * b;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_rc(lfs_lseek(f->fs, x, 4 * b, SEEK_DATA), -ENXIO);
	assert_rc(lfs_lseek(f->fs, x, 3 * b, SEEK_HOLE), 4 * b);

	/* data far away, past 4 GiB */
	uint64_t y = mk_file(f, LFS_ROOT_INO, "y");
	off_t far = (off_t)((6ull << 30) / bs + 3) * b;
	write_at(f, y, data, bs, far);
	assert_rc(lfs_lseek(f->fs, y, 0, SEEK_DATA), far);
	assert_rc(lfs_lseek(f->fs, y, 0, SEEK_HOLE), 0);
	assert_rc(lfs_lseek(f->fs, y, far, SEEK_HOLE), far + b);
	assert_rc(lfs_lseek(f->fs, y, far + b, SEEK_DATA), -ENXIO);
	free(data);
}

/* ---- huge sparse files ------------------------------------------------ */

static void on_alarm(int sig)
{
	static const char msg[] = "huge sparse file: an operation took more "
				  "than 60 s (walking every block?)\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

/* Operations on a file of a petabyte with a few bytes of data must cost
 * what the data costs, not what the size does: truncate down and up,
 * punch and zero over the whole range, SEEK_DATA across the hole, the
 * last unlink. */
static void test_huge_sparse(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	const off_t pb = 1ll << 50;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	uint8_t buf[16];

	signal(SIGALRM, on_alarm);
	alarm(60);
	write_at(f, x, "head", 4, 0);
	write_at(f, x, "tail", 4, pb - 4);
	assert_int_equal(st_get(f, x).st_size, pb);
	/* data may be reported from the start of its block or from its
	 * first byte; a hole from the end of the data or of its block */
	off_t d = lfs_lseek(f->fs, x, (off_t)bs, SEEK_DATA);
	if (d < (pb - 4) / (off_t)bs * (off_t)bs || d > pb - 4)
		fail_msg("SEEK_DATA from %zu: %lld", bs, (long long)d);
	off_t h = lfs_lseek(f->fs, x, 0, SEEK_HOLE);
	if (h < 4 || h > (off_t)bs)
		fail_msg("SEEK_HOLE from 0: %lld", (long long)h);
	assert_rc(lfs_read(f->fs, x, buf, 16, pb - 4), 4);
	assert_memory_equal(buf, "tail", 4);
	/* zero and punch over nearly everything */
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_ZERO_RANGE |
				FALLOC_FL_KEEP_SIZE, 2, pb - 4));    /* to pb-2 */
	assert_rc(lfs_read(f->fs, x, buf, 4, 0), 4);
	assert_memory_equal(buf, "he\0\0", 4);
	assert_rc(lfs_read(f->fs, x, buf, 4, pb - 4), 4);
	assert_memory_equal(buf, "\0\0il", 4);
	write_at(f, x, "head", 4, 0);
	write_at(f, x, "tail", 4, pb - 4);
	assert_ok(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 3, pb - 4));    /* to pb-1 */
	assert_rc(lfs_read(f->fs, x, buf, 4, 0), 4);
	assert_memory_equal(buf, "hea\0", 4);
	assert_rc(lfs_read(f->fs, x, buf, 4, pb - 4), 4);
	assert_memory_equal(buf, "\0\0\0l", 4);
	/* truncate down to a byte, up to a petabyte, down again */
	write_at(f, x, "TAIL", 4, pb - 4);
	struct stat st = { .st_size = 1 };
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	st.st_size = pb;
	assert_ok(lfs_setattr(f->fs, &f->cred, x, &st, LFS_SET_SIZE, NULL));
	assert_zeros(f, x, pb - 16, 16);
	assert_rc(lfs_lseek(f->fs, x, 1, SEEK_DATA), -ENXIO);
	/* and the last unlink of a petabyte file */
	write_at(f, x, "TAIL", 4, pb - 4);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "x"));
	assert_rc(lfs_getattr(f->fs, x, &st), -ENOENT);
	fx_remount(f);
	alarm(0);
}

/* ---- copy_file_range ------------------------------------------------- */

static void test_copy_file_range(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f), slen = 3 * bs + 17;
	struct model src = { 0 }, dst = { 0 };
	uint8_t *data = xmalloc(slen);
	uint64_t a = mk_file(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_file(f, LFS_ROOT_INO, "b");

	fill_random(data, slen, 41);
	mwrite(f, a, &src, data, slen, 0);
	fill_random(data, bs, 42);
	mwrite(f, b, &dst, data, bs, 0);

	/* unaligned middle to unaligned, growing the destination */
	set_times(f, b, 1000);
	assert_rc(lfs_copy_file_range(f->fs, a, 1001, b, (off_t)bs - 333,
				      2 * bs + 5), 2 * bs + 5);
	model_write(&dst, src.b + 1001, 2 * bs + 5, bs - 333);
	assert_content(f, b, dst.b, dst.size);
	assert_content(f, a, src.b, src.size);
	assert_true(st_get(f, b).st_mtim.tv_sec > 1000);
	/* aligned whole blocks */
	assert_rc(lfs_copy_file_range(f->fs, a, (off_t)bs, b, 0, 2 * bs),
		  2 * bs);
	model_write(&dst, src.b + bs, 2 * bs, 0);
	assert_content(f, b, dst.b, dst.size);
	/* across the source's EOF: short; at or past it: 0 */
	assert_rc(lfs_copy_file_range(f->fs, a, (off_t)slen - 10, b, 5, 100),
		  10);
	model_write(&dst, src.b + slen - 10, 10, 5);
	assert_rc(lfs_copy_file_range(f->fs, a, (off_t)slen, b, 5, 100), 0);
	assert_rc(lfs_copy_file_range(f->fs, a, (off_t)slen + 5, b, 5, 100), 0);
	assert_rc(lfs_copy_file_range(f->fs, a, 0, b, 5, 0), 0);
	/* a length far past the source's end copies to its end */
	assert_rc(lfs_copy_file_range(f->fs, a, (off_t)slen - 3 * bs, b, 1,
				      (size_t)1 << 40), 3 * bs);
	model_write(&dst, src.b + slen - 3 * bs, 3 * bs, 1);
	assert_content(f, b, dst.b, dst.size);
	/* far past the destination's EOF: a hole in between */
	assert_rc(lfs_copy_file_range(f->fs, a, 0, b, (off_t)(10 * bs + 1),
				      100), 100);
	model_write(&dst, src.b, 100, 10 * bs + 1);
	assert_content(f, b, dst.b, dst.size);
	/* a sparse source copies as zeros */
	uint64_t c = mk_file(f, LFS_ROOT_INO, "c");
	struct model sp = { 0 };
	mwrite(f, c, &sp, "xyz", 3, 2 * bs);
	assert_rc(lfs_copy_file_range(f->fs, c, 0, b, 7, 2 * bs + 3),
		  2 * bs + 3);
	model_write(&dst, sp.b, 2 * bs + 3, 7);
	assert_content(f, b, dst.b, dst.size);
	/* within one file, ranges apart */
	assert_rc(lfs_copy_file_range(f->fs, a, 3, a, (off_t)(2 * bs + 11),
				      bs), bs);
	memmove(src.b + 2 * bs + 11, src.b + 3, bs);
	assert_content(f, a, src.b, src.size);
	/* directories */
	uint64_t d = mk_dir(f, LFS_ROOT_INO, "d");
	assert_rc(lfs_copy_file_range(f->fs, d, 0, b, 0, 10), -EISDIR);
	assert_rc(lfs_copy_file_range(f->fs, a, 0, d, 0, 10), -EISDIR);
	fx_remount(f);
	assert_content(f, a, src.b, src.size);
	assert_content(f, b, dst.b, dst.size);
	free(data);
	free(src.b);
	free(dst.b);
	free(sp.b);
}

/* ---- append ---------------------------------------------------------- */

static void test_append(void **state)
{
	struct fx *f = *state;
	size_t bs = bsz(f);
	struct model m = { 0 };
	uint8_t *data = xmalloc(bs + 100);
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	size_t lens[] = { 1, 10, 100, bs - 111, bs + 100, 3, bs };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fill_random(data, lens[i], 50 + i);
		/* the offset given is ignored */
		assert_rc(lfs_write(f->fs, x, data, lens[i], (off_t)(i * 7),
				    LFS_WRITE_APPEND), lens[i]);
		model_write(&m, data, lens[i], m.size);
		assert_content(f, x, m.b, m.size);
	}
	/* after a truncate, appends go to the new end */
	mtruncate(f, x, &m, bs / 3);
	assert_rc(lfs_write(f->fs, x, "END", 3, 0, LFS_WRITE_APPEND), 3);
	model_write(&m, "END", 3, m.size);
	assert_content(f, x, m.b, m.size);
	free(data);
	free(m.b);
}

/* ---- many writers ---------------------------------------------------- */

struct writer {
	struct fx *f;
	uint64_t ino;
	unsigned id;
};

/* Each thread writes its own interleaved stripes of one shared file and
 * also a file of its own. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[700];

	for (unsigned i = 0; i < 64; i++) {
		memset(buf, (int)(w->id * 64 + i), sizeof(buf));
		size_t off = (size_t)(i * 4 + w->id) * sizeof(buf);
		if (lfs_write(w->f->fs, w->ino, buf, sizeof(buf), (off_t)off,
			      0) != (ssize_t)sizeof(buf))
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_writes(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	pthread_t t[4];
	struct writer w[4];

	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct writer){ f, x, i };
		assert_int_equal(pthread_create(&t[i], NULL, writer_main,
						&w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	size_t len = 64 * 4 * 700;
	uint8_t *want = xmalloc(len);
	for (unsigned i = 0; i < 64; i++)
		for (unsigned id = 0; id < 4; id++)
			memset(want + (i * 4 + id) * 700, (int)(id * 64 + i),
			       700);
	assert_content(f, x, want, len);
	free(want);
}

/* Appends from several threads at once: each lands whole at the end of
 * the file, none over another. */
struct appender {
	struct fx *f;
	uint64_t ino;
	unsigned id;
	int err;
};

enum { AP_THREADS = 4, AP_EACH = 150, AP_LEN = 97 };

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	uint8_t rec[AP_LEN];

	for (unsigned i = 0; i < AP_EACH && !a->err; i++) {
		memset(rec, (int)(a->id + 1), sizeof(rec));
		memcpy(rec + 1, &i, sizeof(i));
		ssize_t n = lfs_write(a->f->fs, a->ino, rec, sizeof(rec), 0,
				      LFS_WRITE_APPEND);
		if (n != (ssize_t)sizeof(rec))
			a->err = n < 0 ? (int)n : -EIO;
	}
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	struct fx *f = *state;
	uint64_t x = mk_file(f, LFS_ROOT_INO, "x");
	pthread_t t[AP_THREADS];
	struct appender a[AP_THREADS];

	for (unsigned i = 0; i < AP_THREADS; i++) {
		a[i] = (struct appender){ f, x, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, appender_main,
						&a[i]), 0);
	}
	for (unsigned i = 0; i < AP_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_rc(a[i].err, 0);
	}
	size_t len = (size_t)AP_THREADS * AP_EACH * AP_LEN;
	assert_int_equal(st_get(f, x).st_size, len);
	uint8_t *buf = xmalloc(len);
	assert_int_equal(read_at(f, x, buf, len, 0), len);
	unsigned next[AP_THREADS] = { 0 };
	for (size_t r = 0; r < len / AP_LEN; r++) {
		const uint8_t *rec = buf + r * AP_LEN;
		unsigned id = rec[0] - 1u, seq;
		assert_true(id < AP_THREADS);
		memcpy(&seq, rec + 1, sizeof(seq));
		if (seq != next[id])
			fail_msg("record %zu: thread %u seq %u, want %u", r, id,
				 seq, next[id]);
		next[id]++;
		for (size_t k = 1 + sizeof(seq); k < AP_LEN; k++)
			if (rec[k] != id + 1)
				fail_msg("record %zu torn at byte %zu", r, k);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_create_flags),
		fx_test(test_open),
		fx_test(test_read_write),
		fx_test(test_overwrite_shapes),
		fx_test_small(test_overwrite_shapes),
		fx_test(test_overwrite_alignments),
		fx_test_small(test_overwrite_alignments),
		fx_test(test_grow_in_steps),
		fx_test_small(test_grow_in_steps),
		fx_test(test_large_write),
		fx_test(test_random_model),
		fx_test_small(test_random_model),
		fx_test_tiny(test_random_model),
		fx_test_tiny(test_overwrite_shapes),
		fx_test(test_sparse),
		fx_test_small(test_sparse),
		fx_test(test_far_past_eof),
		fx_test(test_above_4g),
		fx_test_small(test_above_4g),
		fx_test(test_write_limits),
		fx_test_small(test_write_limits),
		fx_test(test_huge_sparse),
		fx_test_small(test_huge_sparse),
		fx_test(test_truncate),
		fx_test_small(test_truncate),
		fx_test(test_fallocate_modes),
		fx_test_small(test_fallocate_modes),
		fx_test(test_seek_data_hole),
		fx_test_small(test_seek_data_hole),
		fx_test(test_copy_file_range),
		fx_test_small(test_copy_file_range),
		fx_test(test_append),
		fx_test(test_concurrent_writes),
		fx_test(test_concurrent_appends),
		fx_test_small(test_concurrent_appends),
	};
	return cmocka_run_group_tests_name("fs_file", tests, NULL, NULL);
}
