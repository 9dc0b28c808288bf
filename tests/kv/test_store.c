/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the engine through its public API on a real directory:
 * operations, batches, iteration bounds, epochs, eviction, splits and
 * merges, persistence, locking, read-only mode and bad arguments.
 */
#include <errno.h>
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "internal.h"     /* test_check_counts miscounts on purpose */
#include "../support/zerotail.h"

struct fx {
	char dir[64];
	char store[96];
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
	char log[4096];           /* messages the store logged */
};

static void capture(void *arg, int level, const char *msg)
{
	struct fx *f = arg;
	(void)level;
	size_t n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s\n", msg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/larchkv-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	lkv_options_default(&f->o);
	f->o.flags = LKV_CREATE;
	f->o.flush_interval_ms = 0;
	f->o.log = capture;
	f->o.log_arg = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->s)
		lkv_close(f->s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	assert_int_equal(lkv_open(f->store, &f->o, &f->s), 0);
	assert_int_equal(lkv_tree_open(f->s, "main", &f->t), 0);
}

static void fx_reopen(struct fx *f)
{
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	fx_open(f);
}

static int keyf(char *k, int i) { return sprintf(k, "key%08d", i); }
static int valf(char *v, int i, int ver)
{
	return sprintf(v, "value-%d-%d-%0*d", i, ver, 20 + i % 50, ver);
}

static void expect(lkv_tree *t, int i, int ver)
{
	char k[32], v[128], buf[128];
	size_t vl;
	int kl = keyf(k, i);
	if (ver < 0) {
		assert_int_equal(lkv_get(t, k, kl, buf, sizeof(buf), &vl), -ENOENT);
		return;
	}
	int n = valf(v, i, ver);
	assert_int_equal(lkv_get(t, k, kl, buf, sizeof(buf), &vl), 0);
	assert_int_equal(vl, n);
	assert_memory_equal(buf, v, n);
}

static void put(lkv_tree *t, int i, int ver)
{
	char k[32], v[128];
	int kl = keyf(k, i), vl = valf(v, i, ver);
	assert_int_equal(lkv_put(t, k, kl, v, vl, NULL), 0);
}

static void del(lkv_tree *t, int i)
{
	char k[32];
	assert_int_equal(lkv_delete(t, k, keyf(k, i), NULL), 0);
}

/* ---- operations ---- */

static void test_put_get_delete(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	put(f->t, 1, 1);
	expect(f->t, 1, 1);
	expect(f->t, 2, -1);
	put(f->t, 1, 2);
	expect(f->t, 1, 2);
	del(f->t, 1);
	expect(f->t, 1, -1);
	del(f->t, 1);                         /* deleting nothing is fine */
	/* a short buffer gets a prefix and the full length */
	char buf[4];
	size_t vl;
	assert_int_equal(lkv_put(f->t, "k", 1, "0123456789", 10, NULL), 0);
	assert_int_equal(lkv_get(f->t, "k", 1, buf, sizeof(buf), &vl), 0);
	assert_int_equal(vl, 10);
	assert_memory_equal(buf, "0123", 4);
	/* empty key and empty value are ordinary */
	assert_int_equal(lkv_put(f->t, "", 0, "", 0, NULL), 0);
	assert_int_equal(lkv_get(f->t, "", 0, buf, sizeof(buf), &vl), 0);
	assert_int_equal(vl, 0);
	/* keys up to LKV_KEY_MAX; longer is -EINVAL */
	static char big[LKV_KEY_MAX + 1];
	memset(big, 'x', sizeof(big));
	assert_int_equal(lkv_put(f->t, big, LKV_KEY_MAX, "v", 1, NULL), 0);
	assert_int_equal(lkv_get(f->t, big, LKV_KEY_MAX, buf, sizeof(buf), &vl), 0);
	assert_int_equal(lkv_put(f->t, big, LKV_KEY_MAX + 1, "v", 1, NULL), -EINVAL);
	assert_int_equal(lkv_get(f->t, big, LKV_KEY_MAX + 1, buf, sizeof(buf), &vl), -EINVAL);
	fx_reopen(f);
	assert_int_equal(lkv_get(f->t, big, LKV_KEY_MAX, buf, sizeof(buf), &vl), 0);
	expect(f->t, 1, -1);
}

static void test_large_values(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	size_t sizes[] = { 0, 1, 4095, 16384, 100000, 1u << 20 };
	uint8_t *v = malloc(1u << 20), *buf = malloc(1u << 20);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		for (size_t j = 0; j < sizes[i]; j++)
			v[j] = (uint8_t)(j * 31 + i);
		char k[8];
		sprintf(k, "big%zu", i);
		assert_int_equal(lkv_put(f->t, k, strlen(k), v, sizes[i], NULL), 0);
	}
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
			for (size_t j = 0; j < sizes[i]; j++)
				v[j] = (uint8_t)(j * 31 + i);
			char k[8];
			size_t vl;
			sprintf(k, "big%zu", i);
			assert_int_equal(lkv_get(f->t, k, strlen(k), buf, 1u << 20, &vl), 0);
			assert_int_equal(vl, sizes[i]);
			assert_memory_equal(buf, v, sizes[i] ? sizes[i] : 1 - 1);
		}
		fx_reopen(f);
	}
	free(v);
	free(buf);
}

static void test_batch_atomic_across_trees(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	lkv_tree *a = f->t, *b;
	assert_int_equal(lkv_tree_open(f->s, "other", &b), 0);
	assert_string_equal(lkv_tree_name(b), "other");
	lkv_batch *bt = lkv_batch_new(f->s);
	assert_int_equal(lkv_batch_put(bt, a, "x", 1, "1", 1), 0);
	assert_int_equal(lkv_batch_put(bt, b, "x", 1, "2", 1), 0);
	assert_int_equal(lkv_batch_put(bt, a, "y", 1, "first", 5), 0);
	assert_int_equal(lkv_batch_put(bt, a, "y", 1, "last", 4), 0);   /* later wins */
	assert_int_equal(lkv_batch_put(bt, a, "z", 1, "gone", 4), 0);
	assert_int_equal(lkv_batch_delete(bt, a, "z", 1), 0);
	uint64_t e = 0;
	assert_int_equal(lkv_batch_commit(bt, &e), 0);
	assert_true(e >= 1);
	char buf[16];
	size_t vl;
	assert_int_equal(lkv_get(a, "y", 1, buf, sizeof(buf), &vl), 0);
	assert_int_equal(vl, 4);
	assert_memory_equal(buf, "last", 4);
	assert_int_equal(lkv_get(a, "z", 1, buf, sizeof(buf), &vl), -ENOENT);
	assert_int_equal(lkv_get(b, "x", 1, buf, sizeof(buf), &vl), 0);
	/* the batch is reusable after commit */
	assert_int_equal(lkv_batch_delete(bt, b, "x", 1), 0);
	assert_int_equal(lkv_batch_commit(bt, NULL), 0);
	assert_int_equal(lkv_get(b, "x", 1, buf, sizeof(buf), &vl), -ENOENT);
	/* a tree of another store is refused */
	assert_int_equal(lkv_batch_put(bt, NULL, "x", 1, "v", 1), -EINVAL);
	lkv_batch_free(bt);
	fx_reopen(f);
	assert_int_equal(lkv_tree_open(f->s, "other", &b), 0);
	assert_int_equal(lkv_get(b, "x", 1, buf, sizeof(buf), &vl), -ENOENT);
	assert_int_equal(lkv_get(f->t, "x", 1, buf, sizeof(buf), &vl), 0);
}

/* ---- iteration ---- */

static int scan(lkv_tree *t, const char *lo, const char *hi, unsigned flags, int *first,
		int *last)
{
	lkv_iter *it;
	assert_int_equal(lkv_iter_open(t, lo, lo ? strlen(lo) : 0, hi, hi ? strlen(hi) : 0,
				       flags, &it), 0);
	const void *k, *v;
	size_t kl, vl;
	int n = 0, r;
	char prev[64] = "";
	size_t prevl = 0;
	while ((r = lkv_iter_next(it, &k, &kl, &v, &vl)) == 1) {
		if (n) {
			int c = memcmp(prev, k, kl < prevl ? kl : prevl);
			if (!c)
				c = prevl < kl ? -1 : 1;
			assert_true(flags & LKV_REVERSE ? c > 0 : c < 0);
		}
		memcpy(prev, k, kl);
		prevl = kl;
		int i = atoi((const char *)k + 3);
		if (!n)
			*first = i;
		*last = i;
		n++;
	}
	assert_int_equal(r, 0);
	lkv_iter_close(it);
	return n;
}

static void test_iteration_bounds(void **state)
{
	struct fx *f = *state;
	f->o.leaf_bytes = 512;            /* many leaves */
	fx_open(f);
	for (int i = 0; i < 2000; i += 2)
		put(f->t, i, 0);
	int a, b;
	assert_int_equal(scan(f->t, NULL, NULL, 0, &a, &b), 1000);
	assert_int_equal(a, 0);
	assert_int_equal(b, 1998);
	assert_int_equal(scan(f->t, NULL, NULL, LKV_REVERSE, &a, &b), 1000);
	assert_int_equal(a, 1998);
	assert_int_equal(b, 0);
	/* [key00000100, key00000200): inclusive low, exclusive high */
	assert_int_equal(scan(f->t, "key00000100", "key00000200", 0, &a, &b), 50);
	assert_int_equal(a, 100);
	assert_int_equal(b, 198);
	assert_int_equal(scan(f->t, "key00000100", "key00000200", LKV_REVERSE, &a, &b), 50);
	assert_int_equal(a, 198);
	assert_int_equal(b, 100);
	/* bounds between keys */
	assert_int_equal(scan(f->t, "key00000101", "key00000199", 0, &a, &b), 49);
	assert_int_equal(a, 102);
	assert_int_equal(scan(f->t, "key00000101", "key00000199", LKV_REVERSE, &a, &b), 49);
	assert_int_equal(a, 198);
	assert_int_equal(b, 102);
	/* empty ranges */
	assert_int_equal(scan(f->t, "key00000101", "key00000102", 0, &a, &b), 0);
	assert_int_equal(scan(f->t, "key00000101", "key00000102", LKV_REVERSE, &a, &b), 0);
	assert_int_equal(scan(f->t, "zzz", NULL, 0, &a, &b), 0);
	assert_int_equal(scan(f->t, NULL, "a", LKV_REVERSE, &a, &b), 0);
	/* only one bound */
	assert_int_equal(scan(f->t, "key00001990", NULL, 0, &a, &b), 5);
	assert_int_equal(scan(f->t, NULL, "key00000010", LKV_REVERSE, &a, &b), 5);
	assert_int_equal(a, 8);
	/* prefix scans */
	lkv_iter *it;
	const void *k, *v;
	size_t kl, vl;
	int n = 0;
	assert_int_equal(lkv_iter_prefix(f->t, "key000001", 9, 0, &it), 0);
	while (lkv_iter_next(it, &k, &kl, &v, &vl) == 1)
		n++;
	lkv_iter_close(it);
	assert_int_equal(n, 50);
	n = 0;
	assert_int_equal(lkv_iter_prefix(f->t, "key000001", 9, LKV_REVERSE, &it), 0);
	while (lkv_iter_next(it, &k, &kl, &v, &vl) == 1)
		n++;
	lkv_iter_close(it);
	assert_int_equal(n, 50);
	/* a prefix ending in 0xff bytes */
	assert_int_equal(lkv_put(f->t, "\xff\xff", 2, "a", 1, NULL), 0);
	assert_int_equal(lkv_put(f->t, "\xff\xff\x01", 3, "b", 1, NULL), 0);
	assert_int_equal(lkv_put(f->t, "\xfe", 1, "c", 1, NULL), 0);
	n = 0;
	assert_int_equal(lkv_iter_prefix(f->t, "\xff\xff", 2, 0, &it), 0);
	while (lkv_iter_next(it, &k, &kl, &v, &vl) == 1)
		n++;
	lkv_iter_close(it);
	assert_int_equal(n, 2);
	assert_int_equal(lkv_iter_open(f->t, NULL, 0, NULL, 0, 0x80, &it), -EINVAL);
}

/* Iteration stays correct while the tree changes between calls. */
static void test_iteration_under_change(void **state)
{
	struct fx *f = *state;
	f->o.leaf_bytes = 512;
	fx_open(f);
	for (int i = 0; i < 1000; i++)
		put(f->t, i, 0);
	lkv_iter *it;
	assert_int_equal(lkv_iter_open(f->t, NULL, 0, NULL, 0, 0, &it), 0);
	const void *k, *v;
	size_t kl, vl;
	int n = 0, prev = -1;
	while (lkv_iter_next(it, &k, &kl, &v, &vl) == 1) {
		int i = atoi((const char *)k + 3);
		assert_true(i > prev);
		prev = i;
		n++;
		if (n == 100) {               /* delete ahead, insert behind */
			for (int j = 500; j < 600; j++)
				del(f->t, j);
			for (int j = 0; j < 50; j++)
				put(f->t, j, 1);
		}
	}
	lkv_iter_close(it);
	assert_int_equal(n, 900);
}

/* ---- epochs and durability ---- */

static void test_epochs(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	uint64_t e0 = lkv_epoch_current(f->s), e;
	char k[] = "a";
	assert_int_equal(lkv_put(f->t, k, 1, "1", 1, &e), 0);
	assert_int_equal(e, e0);
	assert_true(lkv_epoch_durable(f->s) < e);
	assert_int_equal(lkv_flush(f->s, e), 0);
	assert_true(lkv_epoch_durable(f->s) >= e);
	assert_true(lkv_epoch_current(f->s) > e);
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	uint64_t flushes = st.flushes;
	assert_int_equal(lkv_flush(f->s, e), 0);      /* already durable: no work */
	lkv_stats(f->s, &st);
	assert_int_equal(st.flushes, flushes);
	assert_int_equal(lkv_flush(f->s, 0), 0);      /* nothing dirty: no write */
	lkv_stats(f->s, &st);
	assert_int_equal(st.flushes, flushes);
}

struct flusher_arg { lkv_store *s; lkv_tree *t; int id; };

static void *flush_loop(void *p)
{
	struct flusher_arg *a = p;
	for (int i = 0; i < 50; i++) {
		char k[16];
		uint64_t e;
		int kl = sprintf(k, "t%d-%d", a->id, i);
		if (lkv_put(a->t, k, kl, "v", 1, &e) || lkv_flush(a->s, e) ||
		    lkv_epoch_durable(a->s) < e)
			return (void *)1;
	}
	return NULL;
}

/* Concurrent put+flush callers share commits. */
static void test_group_commit(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	pthread_t th[4];
	struct flusher_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct flusher_arg){ f->s, f->t, i };
		pthread_create(&th[i], NULL, flush_loop, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	assert_true(st.flushes <= 200);
	fx_reopen(f);
	char buf[4];
	size_t vl;
	assert_int_equal(lkv_get(f->t, "t3-49", 5, buf, sizeof(buf), &vl), 0);
}

static void test_background_flusher(void **state)
{
	struct fx *f = *state;
	f->o.flush_interval_ms = 10;
	fx_open(f);
	uint64_t e;
	assert_int_equal(lkv_put(f->t, "k", 1, "v", 1, &e), 0);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (lkv_epoch_durable(f->s) >= e)
			break;
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 10);
	assert_true(lkv_epoch_durable(f->s) >= e);
}

/* ---- memory bound ---- */

static void test_eviction_and_bloom(void **state)
{
	struct fx *f = *state;
	f->o.cache_bytes = 256 << 10;
	f->o.dirty_bytes = 128 << 10;
	f->o.leaf_bytes = 4096;
	fx_open(f);
	const int n = 20000;
	for (int i = 0; i < n; i++)
		put(f->t, (i * 7919) % n, 1);
	assert_int_equal(lkv_flush(f->s, 0), 0);
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	assert_true(st.cache_bytes <= f->o.cache_bytes + 8 * f->o.leaf_bytes);
	assert_true(st.evictions > 0);
	assert_true(st.resident_leaves < st.leaves);
	for (int i = 0; i < n; i += 7)
		expect(f->t, i, 1);
	lkv_stats(f->s, &st);
	assert_true(st.cache_misses > 0);
	assert_true(st.cache_bytes <= f->o.cache_bytes + 8 * f->o.leaf_bytes);
	/* missing keys in evicted leaves are mostly answered by filters */
	uint64_t reads = st.leaves_read;
	char k[32], buf[8];
	size_t vl;
	for (int i = 0; i < 2000; i++) {
		int kl = sprintf(k, "key%08d-missing", i * 9);
		assert_int_equal(lkv_get(f->t, k, kl, buf, sizeof(buf), &vl), -ENOENT);
	}
	lkv_stats(f->s, &st);
	assert_true(st.bloom_skips > 1000);
	assert_true(st.leaves_read - reads < 400);
	assert_int_equal(st.checksum_failures, 0);
}

/* A tree set to keep no filter writes leaves without one: its misses read
 * the leaf, and the index holds no filter bits for it. */
static void test_tree_without_filter(void **state)
{
	struct fx *f = *state;
	f->o.cache_bytes = 256 << 10;
	f->o.leaf_bytes = 4096;
	fx_open(f);
	struct lkv_memory with, without;
	for (int i = 0; i < 20000; i++)
		put(f->t, i, 1);
	assert_int_equal(lkv_flush(f->s, 0), 0);
	lkv_memory(f->s, &with);
	lkv_tree_set_filter(f->t, 0);
	for (int i = 0; i < 20000; i++)
		put(f->t, i, 2);           /* every leaf written again */
	assert_int_equal(lkv_flush(f->s, 0), 0);
	lkv_memory(f->s, &without);
	print_message("index %lu -> %lu bytes\n", (unsigned long)with.index,
		      (unsigned long)without.index);
	assert_true(without.index + 20000 * 10 / 8 <= with.index);
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	uint64_t skips = st.bloom_skips;
	char k[32], buf[8];
	size_t vl;
	for (int i = 0; i < 200; i++) {
		int kl = sprintf(k, "key%08d-missing", i * 97);
		assert_int_equal(lkv_get(f->t, k, kl, buf, sizeof(buf), &vl), -ENOENT);
	}
	lkv_stats(f->s, &st);
	assert_int_equal(st.bloom_skips, skips);
	for (int i = 0; i < 20000; i += 13)
		expect(f->t, i, 2);
}

static void test_split_merge_persist(void **state)
{
	struct fx *f = *state;
	f->o.leaf_bytes = 1024;
	fx_open(f);
	for (int i = 0; i < 5000; i++)
		put(f->t, i, 1);
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	uint64_t many = st.leaves;
	assert_true(many > 100);
	for (int i = 0; i < 5000; i++)
		if (i % 50)
			del(f->t, i);
	lkv_stats(f->s, &st);
	print_message("leaves %lu -> %lu\n", (unsigned long)many, (unsigned long)st.leaves);
	assert_true(st.leaves < many / 4);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 5000; i++)
			expect(f->t, i, i % 50 ? -1 : 1);
		int a, b;
		assert_int_equal(scan(f->t, NULL, NULL, 0, &a, &b), 100);
		assert_int_equal(scan(f->t, NULL, NULL, LKV_REVERSE, &a, &b), 100);
		fx_reopen(f);
	}
	for (int i = 0; i < 5000; i++)
		del(f->t, i);
	int a, b;
	assert_int_equal(scan(f->t, NULL, NULL, 0, &a, &b), 0);
	fx_reopen(f);
	assert_int_equal(scan(f->t, NULL, NULL, 0, &a, &b), 0);
	lkv_stats(f->s, &st);
	assert_int_equal(st.leaves, 1);
}

/* lkv_tree_count follows every put of a new key, overwrite, delete of a
 * present or absent key, and batch (with its last-op-wins), through
 * splits and merges, and comes back the same from the images' counts at
 * the next open; lkv_check finds it right. */
static void test_tree_count(void **state)
{
	struct fx *f = *state;
	f->o.leaf_bytes = 1024;
	fx_open(f);
	static bool there[4000];
	uint64_t n = 0;
	unsigned seed = 7;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 6000; i++) {
			int k = (int)(rand_r(&seed) % 4000);
			if (rand_r(&seed) % 3) {
				put(f->t, k, round);
				n += !there[k];
				there[k] = true;
			} else {
				del(f->t, k);
				n -= there[k];
				there[k] = false;
			}
		}
		/* a batch: a put then a delete of one new key counts nothing,
		 * a delete then a put of a present key counts nothing */
		lkv_batch *b = lkv_batch_new(f->s);
		char k1[32], k2[32];
		int l1 = keyf(k1, 5000 + round), l2 = keyf(k2, 6000 + round);
		assert_int_equal(lkv_batch_put(b, f->t, k1, l1, "v", 1), 0);
		assert_int_equal(lkv_batch_delete(b, f->t, k1, l1), 0);
		assert_int_equal(lkv_batch_put(b, f->t, k2, l2, "v", 1), 0);
		assert_int_equal(lkv_batch_commit(b, NULL), 0);
		lkv_batch_free(b);
		n++;
		assert_int_equal(lkv_tree_count(f->t), n);
		int a, z;
		assert_int_equal(scan(f->t, NULL, NULL, 0, &a, &z), (int)n);
		if (round == 1)
			assert_int_equal(lkv_flush(f->s, 0), 0);   /* some from the log */
		fx_reopen(f);
		assert_int_equal(lkv_tree_count(f->t), n);
	}
	struct lkv_check_stats st;
	assert_int_equal(lkv_check(f->s, 0, NULL, NULL, &st), 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.entries, n);
}

static void count_damage(void *arg, const struct lkv_damage *d)
{
	int *n = arg;
	assert_null(d->tree);        /* a count is wrong, no key is lost */
	print_message("%s\n", d->what);
	(*n)++;
}

/* A wrong count, in the location table (what the next open sums) or in
 * the running total, is found by lkv_check and fixed by its repair,
 * durably. */
static void test_check_counts(void **state)
{
	struct fx *f = *state;
	f->o.leaf_bytes = 1024;
	fx_open(f);
	for (int i = 0; i < 2000; i++)
		put(f->t, i, 1);
	assert_int_equal(lkv_flush(f->s, 0), 0);
	struct leaf *l = f->t->v[f->t->n / 2];
	pthread_mutex_lock(&f->s->flush_mu);
	loctable_get(&f->s->lt, l->id)->nkeys += 3;
	pthread_mutex_unlock(&f->s->flush_mu);
	atomic_fetch_add(&f->t->nkeys, 5);
	int n = 0;
	assert_int_equal(lkv_check(f->s, 0, count_damage, &n, NULL), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(lkv_check(f->s, LKV_CHECK_REPAIR, count_damage, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_int_equal(lkv_tree_count(f->t), 2000);
	fx_reopen(f);
	assert_int_equal(lkv_tree_count(f->t), 2000);
	n = 0;
	assert_int_equal(lkv_check(f->s, 0, count_damage, &n, NULL), 0);
	assert_int_equal(n, 0);
}

/* Keys that only grow (inode numbers) fill their leaves: a split of the
 * last leaf keeps 7/8 of a leaf, where halves would leave every leaf half
 * full (random order fills about ln 2, 69%). */
static void test_ascending_keys_fill_leaves(void **state)
{
	struct fx *f = *state;
	f->o.leaf_bytes = 1024;
	fx_open(f);
	lkv_tree *up, *mixed;
	assert_int_equal(lkv_tree_open(f->s, "up", &up), 0);
	assert_int_equal(lkv_tree_open(f->s, "mixed", &mixed), 0);
	enum { N = 20000 };
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	uint64_t before = st.leaves;
	for (int i = 0; i < N; i++)
		put(up, i, 1);
	lkv_stats(f->s, &st);
	uint64_t asc = st.leaves - before;
	before = st.leaves;
	for (int i = 0; i < N; i++)
		put(mixed, (int)(((uint64_t)i * 7919) % N), 1);   /* a permutation */
	lkv_stats(f->s, &st);
	uint64_t mix = st.leaves - before;
	print_message("leaves: ascending %lu, mixed %lu\n", (unsigned long)asc,
		      (unsigned long)mix);
	assert_true(asc * 10 < mix * 9);
	for (int i = 0; i < N; i += 997)
		expect(up, i, 1);
}

static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		n += l >= sl && !strcmp(de->d_name + l - sl, suffix);
	}
	closedir(d);
	return n;
}

/* Snapshots and log rollover keep recovery bounded and disk use finite. */
static void test_snapshots_and_rollover(void **state)
{
	struct fx *f = *state;
	f->o.snapshot_bytes = 64 << 10;
	f->o.snapshot_share = 0;
	f->o.log_file_bytes = 32 << 10;
	f->o.compression_level = 0;      /* predictable log growth */
	f->o.leaf_bytes = 1024;
	fx_open(f);
	/* 80 rounds: a round logs about 10 KiB (its leaves' deltas, 7/8
	 * full leaves), so at least 12 snapshots are due */
	for (int round = 0; round < 80; round++) {
		for (int i = 0; i < 200; i++)
			put(f->t, i, round);
		assert_int_equal(lkv_flush(f->s, 0), 0);
	}
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	assert_true(st.snapshots >= 10);
	assert_true(count_files(f->store, ".log") < 20);
	assert_true(count_files(f->store, "snap-0000000000000000") == 0);
	fx_reopen(f);
	for (int i = 0; i < 200; i++)
		expect(f->t, i, 79);
}

/* The size of the newest log file of the store, and (zeros_at) where the
 * zeros at its end begin; name (may be NULL, 64 bytes) gets its name. */
static long newest_log_size(const char *store, long *zeros_at, char *name)
{
	DIR *d = opendir(store);
	struct dirent *de;
	char best[64] = "", path[256];
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 12 && !strcmp(de->d_name + 8, ".log") &&
		    strcmp(de->d_name, best) > 0)
			strcpy(best, de->d_name);
	closedir(d);
	assert_true(best[0]);
	if (name)
		strcpy(name, best);
	snprintf(path, sizeof(path), "%s/%s", store, best);
	long size = 0, end = zero_tail_at(path, &size);
	assert_true(end >= 0);
	if (zeros_at)
		*zeros_at = end;
	return size;
}

/* Opens a copy of the live store (what a crash would leave of it) and its
 * tree "main". */
static lkv_store *open_copy(struct fx *f, lkv_tree **t)
{
	char copy[160], cmd[600];
	snprintf(copy, sizeof(copy), "%s/copy", f->dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'", copy, f->store, copy);
	assert_int_equal(system(cmd), 0);
	lkv_store *c;
	struct lkv_options o = f->o;
	o.flags = 0;
	assert_int_equal(lkv_open(copy, &o, &c), 0);
	assert_int_equal(lkv_tree_open(c, "main", t), 0);
	return c;
}

/*
 * Small flushes overwrite zeros written ahead of them (kv/logzero.c), and
 * a log file that rolls over early (a forced GC) is cut at its last commit
 * first: a copy of the live store (what a crash leaves) recovers every
 * flush, through several files, and a closed store's log ends at its last
 * commit.  (Here a snapshot follows the GC's roll; tests/crash's crash_gc
 * cuts power between the two.)
 */
static void test_log_zeroed_ahead(void **state)
{
	struct fx *f = *state;
	f->o.log_file_bytes = 128 << 10;      /* 8 KiB zeroed ahead */
	f->o.snapshot_bytes = 64 << 20;
	f->o.compression_level = 0;           /* predictable log growth */
	fx_open(f);
	for (int round = 0; round < 400; round++) {
		put(f->t, round % 50, round);
		assert_int_equal(lkv_flush(f->s, 0), 0);
	}
	assert_true(count_files(f->store, ".log") >= 3);

	/* the helper zeroes asynchronously: wait (with a deadline) for zeros
	 * past the last commit */
	long size, zeros_at;
	put(f->t, 0, 1000);
	assert_int_equal(lkv_flush(f->s, 0), 0);
	for (int i = 0; i < 500; i++) {
		size = newest_log_size(f->store, &zeros_at, NULL);
		if (size - zeros_at > 2048)
			break;
		usleep(10000);
	}
	assert_true(size - zeros_at > 2048);
	/* a forced GC rolls the log over early, zeros and all */
	char before[64], after[64];
	newest_log_size(f->store, NULL, before);
	assert_int_equal(lkv_gc(f->s), 0);
	for (int round = 400; round < 420; round++) {
		put(f->t, round % 50, round);
		assert_int_equal(lkv_flush(f->s, 0), 0);
	}
	newest_log_size(f->store, NULL, after);
	assert_true(strcmp(after, before) > 0);

	lkv_tree *ct;
	lkv_store *c = open_copy(f, &ct);
	for (int i = 0; i < 50; i++)
		expect(ct, i, i < 20 ? 400 + i : 350 + i);
	assert_int_equal(lkv_close(c), 0);

	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	size = newest_log_size(f->store, &zeros_at, NULL);
	assert_true(size - zeros_at < 64);     /* a commit's own zero bytes only */
	fx_open(f);
	expect(f->t, 0, 400);
}

/* ---- freezing (a filesystem remounted read-only) ---- */

/* A digest of every file in dir: names, sizes and bytes. */
static uint64_t dir_digest(const char *dir)
{
	char cmd[300], line[256];
	uint64_t h = 1469598103934665603ull;
	snprintf(cmd, sizeof(cmd), "cd '%s' && ls | sort | xargs md5sum", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		for (char *c = line; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
	assert_int_equal(pclose(p), 0);
	return h;
}

static void put_big(lkv_tree *t, int i)
{
	static char v[40 << 10];
	char k[32];
	int kl = keyf(k, i);
	memset(v, 'a' + i % 26, sizeof(v));
	assert_int_equal(lkv_put(t, k, kl, v, sizeof(v), NULL), 0);
}

/*
 * A frozen store writes nothing, though its background thread had
 * flushes and GC to do: every change is refused with -EROFS, and a copy
 * of its files taken meanwhile holds everything committed before.  Thawed,
 * it takes changes again.
 */
static void test_freeze(void **state)
{
	struct fx *f = *state;
	f->o.flush_interval_ms = 10;
	f->o.gc_interval_ms = 10;
	f->o.blob_segment_bytes = 1 << 20;
	fx_open(f);
	for (int i = 0; i < 40; i++)
		put_big(f->t, 1000 + i);          /* blobs, most of them dead next */
	for (int i = 0; i < 30; i++)
		del(f->t, 1000 + i);
	for (int i = 0; i < 200; i++)
		put(f->t, i, 1);
	assert_int_equal(lkv_freeze(f->s), 0);
	assert_int_equal(lkv_freeze(f->s), 0);          /* again: nothing to do */
	uint64_t before = dir_digest(f->store);
	nanosleep(&(struct timespec){ .tv_nsec = 200000000 }, NULL);   /* 20 intervals */
	char k[32];
	assert_int_equal(lkv_put(f->t, k, keyf(k, 5), "x", 1, NULL), -EROFS);
	assert_int_equal(lkv_meta_write(f->s, "m", 1), -EROFS);
	assert_int_equal(lkv_gc(f->s), -EROFS);
	assert_int_equal(lkv_flush(f->s, 0), 0);
	assert_true(dir_digest(f->store) == before);
	lkv_tree *ct;
	lkv_store *c = open_copy(f, &ct);
	for (int i = 0; i < 200; i++)
		expect(ct, i, 1);
	assert_int_equal(lkv_close(c), 0);

	assert_int_equal(lkv_thaw(f->s), 0);
	assert_int_equal(lkv_thaw(f->s), 0);
	put(f->t, 5, 2);
	assert_int_equal(lkv_gc(f->s), 0);
	fx_reopen(f);
	expect(f->t, 5, 2);
	expect(f->t, 199, 1);
}

struct committer {
	lkv_tree *t;
	atomic_int last_ok;       /* the last key whose commit returned 0 */
	int err;                  /* what ended the loop */
};

static void *commit_until_refused(void *p)
{
	struct committer *c = p;
	char k[32], v[128];
	for (int i = 0;; i++) {
		int err = lkv_put(c->t, k, keyf(k, i), v, valf(v, i, 1), NULL);
		if (err) {
			c->err = err;
			return NULL;
		}
		atomic_store(&c->last_ok, i);
	}
}

/* A freeze waits for the commits under way: every commit that returned
 * 0 is in the frozen files, and later ones are refused. */
static void test_freeze_waits_for_commits(void **state)
{
	struct fx *f = *state;
	f->o.flush_interval_ms = 5;
	fx_open(f);
	struct committer c = { .t = f->t, .last_ok = -1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, commit_until_refused, &c), 0);
	while (atomic_load(&c.last_ok) < 2000)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_int_equal(lkv_freeze(f->s), 0);
	pthread_join(th, NULL);
	assert_int_equal(c.err, -EROFS);
	lkv_tree *ct;
	lkv_store *cs = open_copy(f, &ct);
	for (int i = 0; i <= atomic_load(&c.last_ok); i++)
		expect(ct, i, 1);
	assert_int_equal(lkv_close(cs), 0);
	assert_int_equal(lkv_thaw(f->s), 0);
}

/* Whether every log file of the store but the newest ends exactly at its
 * last commit: no zeros written ahead after it was cut (recovery goes on
 * into the next file only from such a file). */
static bool rolled_logs_end_at_commits(const char *store)
{
	char newest[64];
	newest_log_size(store, NULL, newest);
	DIR *d = opendir(store);
	struct dirent *de;
	bool ok = true;
	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[256];
		long size = 0;
		if (strlen(de->d_name) != 12 || strcmp(de->d_name + 8, ".log") ||
		    !strcmp(de->d_name, newest))
			continue;
		snprintf(path, sizeof(path), "%s/%s", store, de->d_name);
		long end = zero_tail_at(path, &size);
		ok &= end + 64 >= size;      /* a commit's own zero bytes only */
	}
	closedir(d);
	return ok;
}

/*
 * A log file that rolls over early (GC) while the helper is zeroing ahead
 * of small flushes is cut at its last commit, and nothing writes zeros past the cut
 * afterwards: a copy of the live store recovers every flush through every
 * file.  (The helper once wrote its zeros between the cut and the switch
 * to the next file, and recovery then stopped at the rolled file.)
 */
static void test_roll_while_zeroing(void **state)
{
	struct fx *f = *state;
	f->o.log_file_bytes = 16 << 10;       /* 1 KiB zeroed ahead */
	f->o.snapshot_bytes = 64 << 20;       /* replay covers every file */
	f->o.compression_level = 0;
	fx_open(f);
	for (int round = 0; round < 3000; round++) {
		put(f->t, round % 40, round);
		assert_int_equal(lkv_flush(f->s, 0), 0);
		if (round % 10 == 9)
			assert_int_equal(lkv_gc(f->s), 0);    /* rolls early */
	}
	assert_true(rolled_logs_end_at_commits(f->store));

	lkv_tree *ct;
	lkv_store *c = open_copy(f, &ct);
	for (int i = 0; i < 40; i++)
		expect(ct, i, 2960 + i);
	assert_int_equal(lkv_close(c), 0);
}

/* ---- opening ---- */

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct lkv_options o = f->o;
	lkv_store *s;
	o.flags = 0;
	assert_int_equal(lkv_open(f->store, &o, &s), -ENOENT);   /* no directory */
	assert_int_equal(lkv_open(f->dir, &o, &s), -ENOENT);     /* empty: no store */
	assert_non_null(strstr(f->log, "no store here"));
	char path[160];
	snprintf(path, sizeof(path), "%s/junk", f->dir);
	FILE *j = fopen(path, "w");
	fputs("hello", j);
	fclose(j);
	o.flags = LKV_CREATE;
	assert_int_equal(lkv_open(f->dir, &o, &s), -ENOENT);     /* not ours: refuse */
	assert_non_null(strstr(f->log, "not a larchkv store"));
	o.leaf_bytes = 1;
	assert_int_equal(lkv_open(f->store, &o, &s), -EINVAL);
}

/* A child process holds the store; with `closing` it says it is closing
 * it and lets go after `hold_ms`, else it just holds it that long.  The
 * parent's open must wait for a closing holder (and say so), and refuse a
 * holder that is using the store after a short grace. */
static pid_t hold_store(struct fx *f, bool closing, int hold_ms, int ready[2])
{
	pid_t pid = fork();
	if (pid == 0) {
		lkv_store *s;
		struct lkv_options o = f->o;
		o.log = NULL;
		if (lkv_open(f->store, &o, &s))
			_exit(1);
		if (closing)
			lkv_close_begin(s);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		struct timespec t = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
		nanosleep(&t, NULL);
		_exit(lkv_close(s) ? 1 : 0);
	}
	char c;
	assert_true(pid > 0);
	assert_int_equal(read(ready[0], &c, 1), 1);
	return pid;
}

static void test_lock_waits_for_closing(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	int ready[2], status;
	assert_int_equal(pipe(ready), 0);

	pid_t child = hold_store(f, true, 600, ready);
	f->log[0] = 0;
	fx_open(f);                                  /* waits, then gets it */
	assert_non_null(strstr(f->log, "which is closing the store"));
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;

	child = hold_store(f, false, 3000, ready);
	f->log[0] = 0;
	lkv_store *s;
	assert_int_equal(lkv_open(f->store, &f->o, &s), -EBUSY);   /* in use */
	assert_non_null(strstr(f->log, "in use by another process"));
	assert_int_equal(waitpid(child, &status, 0), child);
	close(ready[0]);
	close(ready[1]);
}

static void test_lock_and_readonly(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	put(f->t, 1, 1);
	lkv_store *s2;
	struct lkv_options o = f->o;
	assert_int_equal(lkv_open(f->store, &o, &s2), -EBUSY);
	assert_non_null(strstr(f->log, "in use"));
	o.flags = LKV_READONLY;
	assert_int_equal(lkv_open(f->store, &o, &s2), -EBUSY);
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	assert_int_equal(lkv_open(f->store, &o, &s2), 0);
	lkv_store *s3;
	assert_int_equal(lkv_open(f->store, &o, &s3), 0);      /* readers share */
	lkv_tree *t;
	assert_int_equal(lkv_tree_open(s2, "missing", &t), -ENOENT);
	assert_int_equal(lkv_tree_open(s2, "main", &t), 0);
	expect(t, 1, 1);
	assert_int_equal(lkv_put(t, "k", 1, "v", 1, NULL), -EROFS);
	assert_int_equal(lkv_close(s3), 0);
	assert_int_equal(lkv_close(s2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_atomic_across_trees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iteration_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iteration_under_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epochs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_flusher, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_and_bloom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_without_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_merge_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ascending_keys_fill_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots_and_rollover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_zeroed_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_while_zeroing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_waits_for_closing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze_waits_for_commits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
