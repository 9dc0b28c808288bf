/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the location table's snapshots (kv/snapshot.c): delta
 * snapshots on the snapshot before the newest, the two paths that share
 * no file, and what an open, lkv_check and its repair do when any one
 * snapshot file is damaged.  Every state is checked against a model.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "larchkv.h"

#define NKEYS 12000
#define SNAP_MAX 64

/* The model: the round each key was last put in, or -1 (absent). */
struct model { int round[NKEYS]; };

struct fx {
	char dir[64], store[96];
	struct lkv_options o;
	struct model m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/larchkv-snap-XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	lkv_options_default(&f->o);
	f->o.flush_interval_ms = 0;
	f->o.leaf_bytes = 1024;           /* many leaves: a table worth deltas */
	f->o.snapshot_bytes = 24 << 10;
	f->o.snapshot_share = 0;          /* every interval (a test below: 20) */
	f->o.log_file_bytes = 64 << 10;
	for (int i = 0; i < NKEYS; i++)
		f->m.round[i] = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int err = system(cmd);
	free(f);
	return err ? -1 : 0;
}

static void key_of(int i, char k[16])
{
	snprintf(k, 16, "k%08d", i);
}

static void value_of(int i, int round, char v[64])
{
	snprintf(v, 64, "value %d of round %d, padded", i, round);
}

static void put(lkv_tree *t, struct model *m, int i, int round)
{
	char k[16], v[64];
	key_of(i, k);
	value_of(i, round, v);
	assert_int_equal(lkv_put(t, k, strlen(k), v, strlen(v), NULL), 0);
	m->round[i] = round;
}

static void del(lkv_tree *t, struct model *m, int i)
{
	char k[16];
	key_of(i, k);
	int err = lkv_delete(t, k, strlen(k), NULL);
	assert_true(err == 0 || err == -ENOENT);
	m->round[i] = -1;
}

/* Every key of the model reads back as the model says. */
static void expect_model(lkv_tree *t, const struct model *m)
{
	for (int i = 0; i < NKEYS; i++) {
		char k[16], v[64], got[64];
		size_t len = 0;
		key_of(i, k);
		int err = lkv_get(t, k, strlen(k), got, sizeof(got), &len);
		if (m->round[i] < 0) {
			assert_int_equal(err, -ENOENT);
			continue;
		}
		assert_int_equal(err, 0);
		value_of(i, m->round[i], v);
		assert_int_equal(len, strlen(v));
		assert_memory_equal(got, v, len);
	}
}

static uint64_t rng(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Rounds of changes to a few leaves each: puts of a narrow key range (a
 * "directory" being filled), one scattered overwrite, and now and then a
 * range deleted (leaves merged and dropped), each round flushed. */
static void churn(lkv_store *s, lkv_tree *t, struct model *m, int rounds, uint64_t *seed)
{
	for (int r = 0; r < rounds; r++) {
		int from = (int)(rng(seed) % (NKEYS - 100));
		for (int i = 0; i < 60; i++)
			put(t, m, from + i, r);
		put(t, m, (int)(rng(seed) % NKEYS), r);
		if (r % 7 == 6)
			for (int i = 0; i < 90; i++)
				del(t, m, from + i);
		assert_int_equal(lkv_flush(s, 0), 0);
	}
}

static void open_store(struct fx *f, int flags, lkv_store **s, lkv_tree **t)
{
	struct lkv_options o = f->o;
	o.flags = flags;
	assert_int_equal(lkv_open(f->store, &o, s), 0);
	assert_int_equal(lkv_tree_open(*s, "main", t), 0);
}

/* A new store holding every key of the model, flushed. */
static void create_full(struct fx *f, lkv_store **s, lkv_tree **t)
{
	open_store(f, LKV_CREATE, s, t);
	for (int i = 0; i < NKEYS; i++)
		put(*t, &f->m, i, 0);
	assert_int_equal(lkv_flush(*s, 0), 0);
}

static void count_damage(void *arg, const struct lkv_damage *d)
{
	(void)d;
	(*(int *)arg)++;
}

/* The snapshot files of dir (names, sorted) and, in types, the record
 * type of each (byte 4 of its header: 3 full, 5 delta). */
static int list_snaps(const char *dir, char names[][32], int types[])
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) && n < SNAP_MAX)
		if (!strncmp(de->d_name, "snap-", 5) && strlen(de->d_name) == 21)
			strcpy(names[n++], de->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 0; i < n; i++) {
		char path[256];
		unsigned char h[8];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		assert_int_equal(fread(h, 1, 8, fp), 8);
		fclose(fp);
		types[i] = h[4];
	}
	return n;
}

/*
 * A store that takes rounds of local changes writes mostly delta
 * snapshots, smaller than the full ones; it reopens to the model time
 * after time (each open loads the newest snapshot's path and replays the
 * log after it), and lkv_check finds nothing.
 */
static void test_deltas_reopen(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 1;
	lkv_store *s;
	lkv_tree *t;
	create_full(f, &s, &t);
	for (int cycle = 0; cycle < 4; cycle++) {
		churn(s, t, &f->m, 60, &seed);
		struct lkv_stats st;
		lkv_stats(s, &st);
		assert_true(st.snapshots >= 4);
		assert_true(st.snapshots_full < st.snapshots);     /* deltas were written */
		assert_true(st.snapshot_bytes_written > 0);
		assert_int_equal(lkv_close(s), 0);
		open_store(f, 0, &s, &t);
		expect_model(t, &f->m);
	}
	char names[SNAP_MAX][32];
	int types[SNAP_MAX], n = list_snaps(f->store, names, types), deltas = 0;
	for (int i = 0; i < n; i++)
		deltas += types[i] == 5;
	assert_true(deltas >= 2);
	int damage = 0;
	assert_int_equal(lkv_check(s, 0, count_damage, &damage, NULL), 0);
	assert_int_equal(damage, 0);
	assert_int_equal(lkv_close(s), 0);
}

/* Snapshot bytes and all bytes written by `rounds` of churn on a fresh
 * store with snapshot_share `share`. */
static void churn_cost(struct fx *f, unsigned share, uint64_t *snap, uint64_t *all)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->store);
	assert_int_equal(system(cmd), 0);
	uint64_t seed = 3;
	lkv_store *s;
	lkv_tree *t;
	f->o.snapshot_share = share;
	f->o.snapshot_bytes = 128 << 10;  /* 32 x this passes the log written */
	create_full(f, &s, &t);
	churn(s, t, &f->m, 300, &seed);
	struct lkv_stats st;
	lkv_stats(s, &st);
	*snap = st.snapshot_bytes_written;
	*all = st.bytes_written + st.blob_bytes_written;
	assert_int_equal(lkv_close(s), 0);
	open_store(f, 0, &s, &t);
	expect_model(t, &f->m);
	assert_int_equal(lkv_close(s), 0);
}

/*
 * snapshot_share bounds what snapshots cost: with 20, a store whose table
 * is large against its log (as at ten million files) still snapshots, at
 * a twentieth of the bytes it writes or less (with slack for the estimate
 * of the next one's size), where snapshots every interval cost far more.
 */
static void test_share(void **state)
{
	struct fx *f = *state;
	uint64_t snap0, all0, snap20, all20;
	churn_cost(f, 0, &snap0, &all0);
	churn_cost(f, 20, &snap20, &all20);
	assert_true(snap20 > 0);
	assert_true(snap20 * 15 <= all20);
	assert_true(snap0 * 15 > all0);      /* else this proves nothing */
}

/* Flips a byte in the middle of file `name` of dir. */
static void flip_middle(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	long mid = ftell(fp) / 2;
	assert_int_equal(fseek(fp, mid, SEEK_SET), 0);
	int c = fgetc(fp);
	assert_int_not_equal(c, EOF);
	assert_int_equal(fseek(fp, mid, SEEK_SET), 0);
	fputc(c ^ 0x5a, fp);
	fclose(fp);
}

/*
 * No single damaged snapshot file loses the store: for each snapshot
 * file the directory keeps, a copy with that file damaged opens (from the
 * other path) to the model; lkv_check reports the damage, its repair
 * leaves a store that checks clean and reopens to the model.  The files
 * kept include deltas (else this proves nothing about paths).
 */
static void test_one_snapshot_damaged(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 7;
	lkv_store *s;
	lkv_tree *t;
	create_full(f, &s, &t);
	churn(s, t, &f->m, 150, &seed);
	/* a crash's state: the log after the newest snapshot is replayed */
	char names[SNAP_MAX][32], copy[160], cmd[512];
	int types[SNAP_MAX], n = list_snaps(f->store, names, types), deltas = 0;
	for (int i = 0; i < n; i++)
		deltas += types[i] == 5;
	assert_true(n >= 3);
	assert_true(deltas >= 2);
	snprintf(copy, sizeof(copy), "%s/copy", f->dir);
	for (int i = 0; i < n; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'", copy, f->store, copy);
		assert_int_equal(system(cmd), 0);
		flip_middle(copy, names[i]);
		char path[4096];
		struct stat damaged, now;
		snprintf(path, sizeof(path), "%s/%s", copy, names[i]);
		assert_int_equal(stat(path, &damaged), 0);
		struct lkv_options o = f->o;
		lkv_store *c;
		lkv_tree *ct;
		assert_int_equal(lkv_open(copy, &o, &c), 0);
		assert_int_equal(lkv_tree_open(c, "main", &ct), 0);
		expect_model(ct, &f->m);
		int damage = 0;
		/* a snapshot the open wrote may have replaced or dropped it */
		bool kept = stat(path, &now) == 0 && now.st_ino == damaged.st_ino;
		assert_int_equal(lkv_check(c, LKV_CHECK_REPAIR, count_damage, &damage, NULL), 0);
		assert_true(damage >= (kept ? 1 : 0));
		damage = 0;
		assert_int_equal(lkv_check(c, 0, count_damage, &damage, NULL), 0);
		assert_int_equal(damage, 0);
		assert_int_equal(lkv_close(c), 0);
		assert_int_equal(lkv_open(copy, &o, &c), 0);
		assert_int_equal(lkv_tree_open(c, "main", &ct), 0);
		expect_model(ct, &f->m);
		assert_int_equal(lkv_close(c), 0);
	}
	assert_int_equal(lkv_close(s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deltas_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_snapshot_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
