/* SPDX-License-Identifier: MIT */
/*
 * Blob segments (kv/blob.c) and GC (kv/gc.c): large values round-trip,
 * partial reads touch only the blocks they need, a damaged blob fails alone,
 * space comes back under churn, and GC moves values under concurrent
 * readers and writers without losing or mixing up a byte.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "larchkv.h"

struct fx {
	char dir[64], store[96];
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
};

static void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/larchkv-blob-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/s", f->dir);
	lkv_options_default(&f->o);
	f->o.flags = LKV_CREATE;
	f->o.flush_interval_ms = 0;
	f->o.gc_interval_ms = 0;
	f->o.blob_segment_bytes = 1u << 20;
	f->o.log = getenv("LARCH_TEST_LOG") ? NULL : quiet;   /* =1: engine messages */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->s)
		lkv_close(f->s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(f);
	return rc ? -1 : 0;
}

static void fx_open(struct fx *f)
{
	assert_int_equal(lkv_open(f->store, &f->o, &f->s), 0);
	assert_int_equal(lkv_tree_open(f->s, "t", &f->t), 0);
}

static void fx_reopen(struct fx *f)
{
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	fx_open(f);
}

/* Value bytes of (key id, version): random-looking, or compressible. */
static void fill(uint8_t *v, size_t n, unsigned id, unsigned ver, bool text)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull + ver + 1;
	for (size_t i = 0; i < n; i++) {
		if (text) {
			v[i] = "larch blob "[(i + id + ver) % 11];
			continue;
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (uint8_t)x;
	}
	if (n >= 8) {              /* a header naming the key and version */
		memcpy(v, &id, 4);
		memcpy(v + 4, &ver, 4);
	}
}

static void put_val(lkv_tree *t, unsigned id, unsigned ver, size_t n, bool text)
{
	uint8_t *v = malloc(n ? n : 1);
	char k[16];
	fill(v, n, id, ver, text);
	int kl = sprintf(k, "b%05u", id);
	assert_int_equal(lkv_put(t, k, kl, v, n, NULL), 0);
	free(v);
}

static void check_val(lkv_tree *t, unsigned id, unsigned ver, size_t n, bool text)
{
	uint8_t *v = malloc(n ? n : 1), *got = malloc(n + 1);
	char k[16];
	size_t vl;
	fill(v, n, id, ver, text);
	int kl = sprintf(k, "b%05u", id);
	assert_int_equal(lkv_get(t, k, kl, got, n + 1, &vl), 0);
	assert_int_equal(vl, n);
	assert_memory_equal(got, v, n ? n : 1 - 1);
	free(v);
	free(got);
}

static void test_roundtrip(void **state)
{
	struct fx *f = *state;
	fx_open(f);
	const size_t sizes[] = { 100, (32u << 10) - 1, 32u << 10, 100000, 1u << 20, 3u << 20 };
	const int ns = sizeof(sizes) / sizeof(*sizes);
	for (int i = 0; i < ns; i++) {
		put_val(f->t, i, 1, sizes[i], false);
		put_val(f->t, 100 + i, 1, sizes[i], true);
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < ns; i++) {
			check_val(f->t, i, 1, sizes[i], false);
			check_val(f->t, 100 + i, 1, sizes[i], true);
		}
		/* scans return blob values whole */
		lkv_iter *it;
		const void *k, *v;
		size_t kl, vl;
		int n = 0;
		assert_int_equal(lkv_iter_open(f->t, NULL, 0, NULL, 0, 0, &it), 0);
		while (lkv_iter_next(it, &k, &kl, &v, &vl) == 1) {
			unsigned id = atoi((const char *)k + 1);
			size_t want = sizes[id % 100];
			assert_int_equal(vl, want);
			uint8_t *exp = malloc(want);
			fill(exp, want, id, 1, id >= 100);
			assert_memory_equal(v, exp, want);
			free(exp);
			n++;
		}
		lkv_iter_close(it);
		assert_int_equal(n, 2 * ns);
		fx_reopen(f);
	}
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	assert_true(st.blob_live_bytes > (4u << 20));
	assert_true(st.segments >= 1);
	/* compressible blobs are stored smaller than they are */
	assert_true(st.blob_live_bytes < 2 * ((1u << 20) + (3u << 20) + 100000 + (64u << 10)) + 100);
}

static void test_partial_reads(void **state)
{
	struct fx *f = *state;
	f->o.blob_segment_bytes = 8u << 20;
	fx_open(f);
	const size_t n = 4u << 20;
	put_val(f->t, 7, 3, n, false);
	assert_int_equal(lkv_flush(f->s, 0), 0);
	uint8_t *exp = malloc(n), *buf = malloc(70000);
	fill(exp, n, 7, 3, false);
	const uint64_t offs[] = { 0, 1, 16383, 16384, 2u << 20, n - 5000, n - 1, n, n + 10 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(*offs); i++) {
		struct lkv_stats a, b;
		size_t vl;
		lkv_stats(f->s, &a);
		ssize_t got = lkv_get_range(f->t, "b00007", 6, offs[i], buf, 70000, &vl);
		lkv_stats(f->s, &b);
		size_t want = offs[i] >= n ? 0 : n - offs[i] < 70000 ? n - offs[i] : 70000;
		assert_int_equal(got, (ssize_t)want);
		assert_int_equal(vl, n);
		if (want)
			assert_memory_equal(buf, exp + offs[i], want);
		/* only the blocks the range overlaps (plus the block table) */
		assert_true(b.blob_bytes_read - a.blob_bytes_read <= 70000 + 2 * 16384 + 4096);
	}
	assert_int_equal(lkv_get_range(f->t, "nokey", 5, 0, buf, 10, NULL), -ENOENT);
	free(exp);
	free(buf);
}

static const char *newest(const char *dir, const char *suffix)
{
	static char name[64];
	name[0] = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > strlen(suffix) && !strcmp(de->d_name + l - strlen(suffix), suffix) &&
		    strcmp(de->d_name, name) > 0)
			strcpy(name, de->d_name);
	}
	closedir(d);
	return name;
}

/* A flipped byte inside one blob fails reads of that blob only. */
static void test_corrupt_blob(void **state)
{
	struct fx *f = *state;
	f->o.compression_level = 0;
	fx_open(f);
	const size_t n = 200000;
	for (unsigned i = 0; i < 3; i++)
		put_val(f->t, i, 1, n, false);
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->store, newest(f->store, ".blob"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	/* three equal records: the middle of the second one's data */
	long off = st.st_size / 2;
	FILE *fp = fopen(path, "r+b");
	fseek(fp, off, SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, off, SEEK_SET);
	fputc(c ^ 0x10, fp);
	fclose(fp);
	fx_open(f);
	check_val(f->t, 0, 1, n, false);
	check_val(f->t, 2, 1, n, false);
	uint8_t *buf = malloc(n);
	size_t vl;
	assert_int_equal(lkv_get(f->t, "b00001", 6, buf, n, &vl), -EIO);
	/* blocks away from the damage still read (per-block checksums) */
	uint8_t *exp = malloc(n);
	fill(exp, n, 1, 1, false);
	assert_int_equal(lkv_get_range(f->t, "b00001", 6, 0, buf, 4096, &vl), 4096);
	assert_memory_equal(buf, exp, 4096);
	struct lkv_stats s;
	lkv_stats(f->s, &s);
	assert_true(s.checksum_failures >= 1);
	/* scans report the error rather than wrong bytes */
	lkv_iter *it;
	const void *k, *v;
	size_t kl;
	int r, seen = 0;
	assert_int_equal(lkv_iter_open(f->t, NULL, 0, NULL, 0, 0, &it), 0);
	while ((r = lkv_iter_next(it, &k, &kl, &v, &vl)) == 1)
		seen++;
	assert_int_equal(r, -EIO);
	assert_int_equal(seen, 1);
	lkv_iter_close(it);
	free(buf);
	free(exp);
}

static double amplification(lkv_store *s)
{
	struct lkv_stats st;
	lkv_stats(s, &st);
	return st.live_bytes ? (double)st.disk_bytes / st.live_bytes : 1.0;
}

/* Overwrite and delete large values for many rounds: disk use stays under
 * 2x live after every round (GC stalls writers that outrun it); a forced GC
 * brings it under 1.3x. */
static void test_churn_space(void **state)
{
	struct fx *f = *state;
	f->o.flush_interval_ms = 5;
	f->o.gc_interval_ms = 1000;
	f->o.log_file_bytes = 1u << 20;
	f->o.snapshot_bytes = 1u << 20;
	f->o.snapshot_share = 0;
	fx_open(f);
	const unsigned keys = 96;
	const size_t n = 64u << 10;
	unsigned ver[96] = { 0 };
	double worst = 0;
	for (unsigned round = 1; round <= 40; round++) {
		for (unsigned i = 0; i < keys; i++) {
			if ((i + round) % 5 == 0) {
				char k[16];
				assert_int_equal(lkv_delete(f->t, k, sprintf(k, "b%05u", i), NULL), 0);
				ver[i] = 0;
			} else if ((i * 7 + round) % 3) {
				put_val(f->t, i, round, n, false);
				ver[i] = round;
			}
		}
		assert_int_equal(lkv_flush(f->s, 0), 0);
		double a = amplification(f->s);
		if (a > worst)
			worst = a;
		assert_true(a < 2.0);
	}
	assert_int_equal(lkv_gc(f->s), 0);
	double after = amplification(f->s);
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	print_message("churn: worst amplification %.2f, after forced GC %.2f (disk %lu = "
		      "blob %lu + other; live %lu, blob live %lu)\n", worst, after,
		      (unsigned long)st.disk_bytes, (unsigned long)st.blob_disk_bytes,
		      (unsigned long)st.live_bytes, (unsigned long)st.blob_live_bytes);
	assert_true(after < 1.3);
	for (unsigned i = 0; i < keys; i++) {
		if (ver[i])
			check_val(f->t, i, ver[i], n, false);
	}
	fx_reopen(f);
	assert_true(amplification(f->s) < 1.3);
	for (unsigned i = 0; i < keys; i++) {
		if (ver[i])
			check_val(f->t, i, ver[i], n, false);
	}
}

/* ---- GC under concurrent readers and writers ---- */

#define GKEYS 32
struct gcx {
	struct fx *f;
	_Atomic unsigned ver[GKEYS];      /* last version committed per key */
	atomic_bool stop;
	atomic_int errors;
};

static size_t gsize(unsigned id) { return 20000 + id * 3000; }

static void *writer(void *p)
{
	struct gcx *g = p;
	for (unsigned round = 1; round <= 60; round++) {
		for (unsigned i = round % 2; i < GKEYS; i += 2) {
			put_val(g->f->t, i, round, gsize(i), i % 3 == 0);
			atomic_store(&g->ver[i], round);
		}
	}
	atomic_store(&g->stop, true);
	return NULL;
}

static void *reader(void *p)
{
	struct gcx *g = p;
	uint8_t *buf = malloc(gsize(GKEYS)), *exp = malloc(gsize(GKEYS));
	while (!atomic_load(&g->stop)) {
		for (unsigned i = 0; i < GKEYS; i++) {
			unsigned before = atomic_load(&g->ver[i]);
			char k[16];
			size_t vl;
			int kl = sprintf(k, "b%05u", i);
			int rc = lkv_get(g->f->t, k, kl, buf, gsize(GKEYS), &vl);
			if (rc == -ENOENT && before == 0)
				continue;
			unsigned ver;
			memcpy(&ver, buf + 4, 4);
			fill(exp, gsize(i), i, ver, i % 3 == 0);
			if (rc || vl != gsize(i) || ver < before || memcmp(buf, exp, vl)) {
				if (atomic_fetch_add(&g->errors, 1) < 3)
					print_message("reader: key %u rc %d len %zu ver %u "
						      "(>= %u)\n", i, rc, vl, ver, before);
			}
		}
	}
	free(buf);
	free(exp);
	return NULL;
}

static void *collector(void *p)
{
	struct gcx *g = p;
	while (!atomic_load(&g->stop)) {
		int rc = lkv_gc(g->f->s);
		if (rc && atomic_fetch_add(&g->errors, 1) < 3)
			print_message("lkv_gc: %d\n", rc);
	}
	return NULL;
}

static void test_gc_concurrent(void **state)
{
	struct fx *f = *state;
	f->o.flush_interval_ms = 2;
	f->o.cache_bytes = 64u << 10;       /* readers page leaves in and out */
	fx_open(f);
	struct gcx g = { .f = f };
	pthread_t w, r[2], c;
	pthread_create(&w, NULL, writer, &g);
	pthread_create(&r[0], NULL, reader, &g);
	pthread_create(&r[1], NULL, reader, &g);
	pthread_create(&c, NULL, collector, &g);
	pthread_join(w, NULL);
	pthread_join(r[0], NULL);
	pthread_join(r[1], NULL);
	pthread_join(c, NULL);
	assert_int_equal(atomic_load(&g.errors), 0);
	struct lkv_stats st;
	lkv_stats(f->s, &st);
	print_message("gc: %lu passes moved %lu bytes under load\n",
		      (unsigned long)st.gc_runs, (unsigned long)st.gc_bytes_moved);
	/* half the values dead in every segment: GC must move the rest */
	uint64_t moved = st.gc_bytes_moved;
	for (unsigned i = 0; i < GKEYS; i += 2)
		put_val(f->t, i, 100, gsize(i), i % 3 == 0);
	for (unsigned i = 0; i < GKEYS; i += 2)
		atomic_store(&g.ver[i], 100);
	assert_int_equal(lkv_gc(f->s), 0);
	lkv_stats(f->s, &st);
	assert_true(st.gc_bytes_moved > moved);
	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < GKEYS; i++)
			check_val(f->t, i, atomic_load(&g.ver[i]), gsize(i), i % 3 == 0);
		fx_reopen(f);
	}
}

struct damage_log { int n; char key[16]; bool repaired; };

static void note_damage(void *arg, const struct lkv_damage *d)
{
	struct damage_log *l = arg;
	l->n++;
	l->repaired = d->repaired;
	if (d->key && d->klen < sizeof(l->key)) {
		memcpy(l->key, d->key, d->klen);
		l->key[d->klen] = 0;
	}
}

/* lkv_check: clean stores check clean; a damaged blob is reported by key,
 * left alone without LKV_CHECK_REPAIR, deleted with it, and then the
 * store (accounting included) checks clean, also after a reopen. */
static void test_check(void **state)
{
	struct fx *f = *state;
	f->o.compression_level = 0;
	fx_open(f);
	const size_t n = 200000;
	for (unsigned i = 0; i < 3; i++)
		put_val(f->t, i, 1, n, false);
	for (unsigned i = 10; i < 500; i++)
		put_val(f->t, i, 1, 100, true);
	struct damage_log log = { 0 };
	struct lkv_check_stats st;
	assert_int_equal(lkv_check(f->s, 0, note_damage, &log, &st), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.blobs, 3);
	assert_int_equal(st.entries, 493);
	assert_int_equal(lkv_close(f->s), 0);
	f->s = NULL;
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->store, newest(f->store, ".blob"));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	FILE *fp = fopen(path, "r+b");
	fseek(fp, sb.st_size / 2, SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, sb.st_size / 2, SEEK_SET);
	fputc(c ^ 0x10, fp);
	fclose(fp);
	fx_open(f);
	assert_int_equal(lkv_check(f->s, 0, note_damage, &log, &st), 0);
	assert_int_equal(log.n, 1);
	assert_string_equal(log.key, "b00001");
	assert_false(log.repaired);
	assert_int_equal(st.problems, 1);
	size_t vl;
	assert_int_equal(lkv_get(f->t, "b00001", 6, NULL, 0, &vl), 0);   /* still there */
	log = (struct damage_log){ 0 };
	assert_int_equal(lkv_check(f->s, LKV_CHECK_REPAIR, note_damage, &log, &st), 0);
	assert_int_equal(log.n, 1);
	assert_true(log.repaired);
	assert_int_equal(st.repaired, 1);
	assert_int_equal(lkv_get(f->t, "b00001", 6, NULL, 0, &vl), -ENOENT);
	check_val(f->t, 0, 1, n, false);
	check_val(f->t, 2, 1, n, false);
	fx_reopen(f);
	log = (struct damage_log){ 0 };
	assert_int_equal(lkv_check(f->s, 0, note_damage, &log, &st), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(st.blobs, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
