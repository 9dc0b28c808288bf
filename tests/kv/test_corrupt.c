/* SPDX-License-Identifier: MIT */
/*
 * Bad input: flip bytes in each kind of store file and check the contract.
 * Either the open fails with -EUCLEAN/-EIO/-EPROTONOSUPPORT and a message
 * naming the damaged file, or it succeeds and every key reads back either
 * byte-exact or as -EIO (counted in the stats) — never wrong bytes, never a
 * missing key, never a crash.
 *
 * Two stores are damaged: a cleanly closed one (the table lives in the
 * snapshot; damage there must fall back to the older snapshot), and a copy
 * taken while the store was open after several flushes (the table lives in
 * the log's commits; damage there must stop the open, except in the last
 * flush, which cannot be told from a torn write and may be dropped whole).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "larchkv.h"
#include "../support/zerotail.h"

#define NKEYS 3000
#define ROUNDS 4

static char base[64];
static char logbuf[8192];

static void capture(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	size_t n = strlen(logbuf);
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
}

static void opts(struct lkv_options *o, unsigned flags)
{
	lkv_options_default(o);
	o->flags = flags;
	o->flush_interval_ms = 0;
	o->leaf_bytes = 2048;
	o->log = capture;
	o->snapshot_bytes = 1ull << 40;   /* only lkv_close snapshots, */
	o->snapshot_share = 0;            /* ... and always */
}

static int vform(char *v, int i, int round)
{
	return sprintf(v, "v%d.%d.%0*d", i, round, i % 100, round);
}

/* Fills `dir` in ROUNDS flushed epochs; the last round rewrites a tenth of
 * the keys.  Returns the open store (caller closes or copies it). */
static lkv_store *build(const char *dir)
{
	struct lkv_options o;
	opts(&o, LKV_CREATE);
	lkv_store *s;
	lkv_tree *t, *u;
	assert_int_equal(lkv_open(dir, &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "a", &t), 0);
	assert_int_equal(lkv_tree_open(s, "b", &u), 0);
	char k[32], v[160];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < NKEYS; i++) {
			if (r && (r < ROUNDS - 1 ? i % 3 : i % 10))
				continue;
			int kl = sprintf(k, "k%06d", i), vl = vform(v, i, r);
			assert_int_equal(lkv_put(i & 1 ? t : u, k, kl, v, vl, NULL), 0);
		}
		assert_int_equal(lkv_flush(s, 0), 0);
	}
	return s;
}

/* The round whose value key i holds after `rounds` rounds. */
static int round_of(int i, int rounds)
{
	int last = 0;
	for (int r = 1; r < rounds; r++)
		if (!(r < ROUNDS - 1 ? i % 3 : i % 10))
			last = r;
	return last;
}

/* Reads every key; returns how many were -EIO.  Each key must hold its
 * value after ROUNDS rounds, or (when `older_ok`) after ROUNDS-1. */
static int verify(lkv_store *s, bool older_ok)
{
	lkv_tree *t, *u;
	assert_int_equal(lkv_tree_open(s, "a", &t), 0);
	assert_int_equal(lkv_tree_open(s, "b", &u), 0);
	int eio = 0;
	char k[32], v[160], buf[160];
	for (int i = 0; i < NKEYS; i++) {
		size_t vl;
		int kl = sprintf(k, "k%06d", i);
		int err = lkv_get(i & 1 ? t : u, k, kl, buf, sizeof(buf), &vl);
		if (err == -EIO) {
			eio++;
			continue;
		}
		assert_int_equal(err, 0);
		int n = vform(v, i, round_of(i, ROUNDS));
		if (vl == (size_t)n && !memcmp(buf, v, n))
			continue;
		assert_true(older_ok);
		n = vform(v, i, round_of(i, ROUNDS - 1));
		assert_int_equal(vl, n);
		assert_memory_equal(buf, v, n);
	}
	/* scans see the same: valid entries or an error */
	lkv_iter *it;
	assert_int_equal(lkv_iter_open(t, NULL, 0, NULL, 0, 0, &it), 0);
	const void *kp, *vp;
	size_t kl, vl;
	int r;
	while ((r = lkv_iter_next(it, &kp, &kl, &vp, &vl)) == 1)
		assert_true(kl == 7 && !memcmp(kp, "k", 1));
	assert_true(r == 0 || r == -EIO);
	lkv_iter_close(it);
	struct lkv_stats st;
	lkv_stats(s, &st);
	if (eio)
		assert_true(st.checksum_failures > 0);
	return eio;
}

static void copy_dir(const char *from, const char *to)
{
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
	assert_int_equal(system(cmd), 0);
}

static void flip(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, off, SEEK_SET);
	int c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

static long fsize(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

struct outcome { int opened, refused, eio_reads; };

/*
 * Damages `name` in a copy of `clean` at a spread of offsets and checks the
 * contract each time.  `tail_from`: offsets at or past it may drop the last
 * flush (older values allowed); elsewhere the open must fail or read true.
 */
static struct outcome damage(const char *clean, const char *name, long tail_from,
			     int samples)
{
	struct outcome oc = { 0 };
	char work[128], path[256];
	snprintf(work, sizeof(work), "%s/work", base);
	snprintf(path, sizeof(path), "%s/%s", work, name);
	copy_dir(clean, work);
	long size = fsize(path);
	for (int n = 0; n < samples; n++) {
		long off = n < 40 ? n : (long)((uint64_t)n * 2654435761u % (uint64_t)size);
		if (off >= size)
			continue;
		copy_dir(clean, work);
		flip(path, off);
		struct lkv_options o;
		opts(&o, 0);
		lkv_store *s;
		logbuf[0] = 0;
		int err = lkv_open(work, &o, &s);
		if (err) {
			if (err != -EUCLEAN && err != -EIO && err != -EPROTONOSUPPORT)
				fail_msg("open after flipping %s@%ld: %d", name, off, err);
			if (!strstr(logbuf, strncmp(name, "snap-", 5) ? name : "snapshot"))
				fail_msg("message does not name %s: %s", name, logbuf);
			oc.refused++;
			continue;
		}
		oc.opened++;
		oc.eio_reads += verify(s, off >= tail_from);
		assert_int_equal(lkv_close(s), 0);
	}
	return oc;
}

static const char *find(const char *dir, const char *prefix, const char *suffix,
			bool newest)
{
	static char best[64];
	best[0] = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, prefix, strlen(prefix)) || l < strlen(suffix) ||
		    strcmp(de->d_name + l - strlen(suffix), suffix))
			continue;
		if (!best[0] || (strcmp(de->d_name, best) > 0) == newest)
			strcpy(best, de->d_name);
	}
	closedir(d);
	return best;
}

static void test_closed_store(void **state)
{
	(void)state;
	char clean[128];
	snprintf(clean, sizeof(clean), "%s/closed", base);
	lkv_store *s = build(clean);
	assert_int_equal(lkv_close(s), 0);

	/* either copy of the identity: the other takes over (and repairs it) */
	struct outcome oc = damage(clean, "FORMAT", 0, 48);
	assert_int_equal(oc.refused, 0);
	assert_int_equal(oc.eio_reads, 0);
	oc = damage(clean, "FORMAT.bak", 0, 48);
	assert_int_equal(oc.refused, 0);
	assert_int_equal(oc.eio_reads, 0);

	/* the newest snapshot: the older one (with the log) takes over */
	char snap[64];
	strcpy(snap, find(clean, "snap-", "", true));
	oc = damage(clean, snap, 1L << 40, 150);
	assert_int_equal(oc.refused, 0);
	assert_int_equal(oc.eio_reads, 0);

	/* leaf images in the log: reads of the leaf fail, others succeed */
	char logf[64];
	strcpy(logf, find(clean, "", ".log", true));
	oc = damage(clean, logf, 1L << 40, 200);
	print_message("log damage: %d opened, %d refused, %d reads failed\n",
		      oc.opened, oc.refused, oc.eio_reads);
	assert_true(oc.eio_reads > 0);
}

/* Opens dir with flags (0 or LKV_READONLY); returns lkv_open's result and
 * closes the store when it opened. */
static int try_open(const char *dir, unsigned flags)
{
	struct lkv_options o;
	lkv_store *s;
	opts(&o, 0);
	o.flags = flags;
	logbuf[0] = 0;
	int err = lkv_open(dir, &o, &s);
	if (!err)
		assert_int_equal(lkv_close(s), 0);
	return err;
}

static bool same_file(const char *a, const char *b)
{
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/*
 * The identity's two copies: a missing or damaged one is rewritten from the
 * other at a writable open (not at a read-only one); a store made before
 * the backup existed gets it; with both damaged the open fails, naming them.
 */
static void test_format_copies(void **state)
{
	(void)state;
	char clean[128], work[128], fmt[256], bak[256];
	snprintf(clean, sizeof(clean), "%s/fmt", base);
	snprintf(work, sizeof(work), "%s/fmt-work", base);
	snprintf(fmt, sizeof(fmt), "%s/FORMAT", work);
	snprintf(bak, sizeof(bak), "%s/FORMAT.bak", work);
	assert_int_equal(lkv_close(build(clean)), 0);

	copy_dir(clean, work);
	assert_int_equal(unlink(bak), 0);        /* as an older release made it */
	assert_int_equal(try_open(work, LKV_READONLY), 0);
	assert_int_not_equal(access(bak, F_OK), 0);
	assert_int_equal(try_open(work, 0), 0);
	assert_true(same_file(fmt, bak));

	copy_dir(clean, work);
	assert_int_equal(unlink(fmt), 0);
	assert_int_equal(try_open(work, 0), 0);
	assert_non_null(strstr(logbuf, "FORMAT was missing; rewritten from FORMAT.bak"));
	assert_true(same_file(fmt, bak));

	copy_dir(clean, work);
	flip(fmt, 20);
	flip(bak, 3);
	assert_int_equal(try_open(work, 0), -EUCLEAN);
	assert_non_null(strstr(logbuf, "FORMAT and FORMAT.bak are both damaged"));
}

/*
 * A store that never wrote a snapshot beyond the epoch-0 one (what a crash
 * leaves of a young store): damage to that one snapshot is survived by
 * replaying the whole log, and so is its loss; with the first log file
 * gone as well there is nothing to replay from, and the open says so.
 */
static void test_only_snapshot(void **state)
{
	(void)state;
	char live[128], work[128], snap[256], log1[256];
	snprintf(live, sizeof(live), "%s/young", base);
	snprintf(work, sizeof(work), "%s/young-work", base);
	snprintf(snap, sizeof(snap), "%s/snap-0000000000000000", work);
	snprintf(log1, sizeof(log1), "%s/00000001.log", work);
	lkv_store *s = build(live);
	copy_dir(live, work);
	assert_int_equal(lkv_close(s), 0);
	assert_string_equal(find(work, "snap-", "", true), "snap-0000000000000000");

	for (long off = 0; off < fsize(snap); off += 7) {
		char again[128];
		snprintf(again, sizeof(again), "%s/young-flip", base);
		copy_dir(work, again);
		char p[256];
		snprintf(p, sizeof(p), "%s/snap-0000000000000000", again);
		flip(p, off);
		struct lkv_options o;
		lkv_store *c;
		opts(&o, 0);
		assert_int_equal(lkv_open(again, &o, &c), 0);
		assert_int_equal(verify(c, false), 0);
		assert_int_equal(lkv_close(c), 0);
	}
	assert_int_equal(unlink(snap), 0);
	assert_int_equal(try_open(work, LKV_READONLY), 0);
	assert_non_null(strstr(logbuf, "replaying the whole log"));
	assert_int_equal(unlink(log1), 0);
	assert_int_equal(try_open(work, LKV_READONLY), -EUCLEAN);
	assert_non_null(strstr(logbuf, "the log does not start at its first file"));
}

/* Opens dir writable and returns its user record as a string ("" when it
 * has none: -ENOENT). */
static const char *meta_of(const char *dir)
{
	static char buf[LKV_META_MAX + 1];
	struct lkv_options o;
	lkv_store *s;
	size_t len;
	opts(&o, 0);
	logbuf[0] = 0;
	assert_int_equal(lkv_open(dir, &o, &s), 0);
	int err = lkv_meta_read(s, buf, LKV_META_MAX, &len);
	assert_true(err == 0 || err == -ENOENT);
	buf[err ? 0 : len] = 0;
	assert_int_equal(lkv_close(s), 0);
	return buf;
}

static void meta_put(const char *dir, const char *text)
{
	struct lkv_options o;
	lkv_store *s;
	opts(&o, 0);
	assert_int_equal(lkv_open(dir, &o, &s), 0);
	assert_int_equal(lkv_meta_write(s, text, strlen(text)), 0);
	assert_int_equal(lkv_close(s), 0);
}

/*
 * The user record's two copies: the newer wins, a damaged one is rewritten
 * from the other, a record with another store's uuid is not this store's,
 * and both damaged is no record.
 */
static void test_meta_copies(void **state)
{
	(void)state;
	char dir[128], meta[256], bak[256], old[256];
	snprintf(dir, sizeof(dir), "%s/meta", base);
	snprintf(meta, sizeof(meta), "%s/META", dir);
	snprintf(bak, sizeof(bak), "%s/META.bak", dir);
	snprintf(old, sizeof(old), "%s/META.old", base);
	assert_int_equal(lkv_close(build(dir)), 0);
	assert_string_equal(meta_of(dir), "");
	meta_put(dir, "first record");
	assert_string_equal(meta_of(dir), "first record");
	copy_dir(bak, old);
	meta_put(dir, "second record");

	copy_dir(old, meta);                 /* a crash between the two writes */
	assert_string_equal(meta_of(dir), "second record");
	assert_true(same_file(meta, bak));
	flip(meta, 45);
	assert_string_equal(meta_of(dir), "second record");
	assert_non_null(strstr(logbuf, "META was damaged; rewritten from META.bak"));
	flip(bak, 20);                       /* the uuid: another store's */
	assert_string_equal(meta_of(dir), "second record");
	assert_true(same_file(meta, bak));
	flip(meta, 0);
	flip(bak, 50);
	assert_string_equal(meta_of(dir), "");
}

struct rec { long off, len; int type; uint64_t epoch; };

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The records of a log file, in order, up to the first that is not one
 * (kv/record.c: magic "LKVR", type at 4, stored length at 8, epoch at 16). */
static int records(const char *path, struct rec *v, int max)
{
	FILE *f = fopen(path, "rb");
	unsigned char h[32];
	int n = 0;
	long off = 0;
	assert_non_null(f);
	while (n < max && fseek(f, off, SEEK_SET) == 0 && fread(h, 1, 32, f) == 32 &&
	       !memcmp(h, "LKVR", 4)) {
		long len = 32 + (long)le32(h + 8);
		v[n++] = (struct rec){ off, len, h[4], le32(h + 16) | (uint64_t)le32(h + 20) << 32 };
		off += len;
	}
	fclose(f);
	return n;
}

/* Opens a copy of `clean` in which the record `which` of log file `logf`
 * has a byte flipped in its body: lkv_open's result (the store closed). */
static int open_flipped(const char *clean, const char *logf, const struct rec *which,
			unsigned flags, int *eio)
{
	char work[128], path[256];
	snprintf(work, sizeof(work), "%s/midlog", base);
	snprintf(path, sizeof(path), "%s/%s", work, logf);
	copy_dir(clean, work);
	flip(path, which->off + 32 + which->len / 2 - 16);
	struct lkv_options o;
	lkv_store *s;
	opts(&o, 0);
	o.flags = flags;
	logbuf[0] = 0;
	int err = lkv_open(work, &o, &s);
	if (!err) {
		*eio = verify(s, false);
		assert_int_equal(lkv_close(s), 0);
	}
	return err;
}

/*
 * Damage in the middle of the log, with commits after it.  A leaf image
 * that later commits superseded: the open reads past it, nothing is lost.
 * A live leaf image of a durable flush (a later flush proves it): a normal
 * open refuses; a salvaging one keeps every commit, and only that leaf's
 * keys fail to read.  A leaf image of the last flush is what a crash in
 * that flush leaves too: the flush is dropped, as after the crash.
 */
static void test_damage_mid_log(void **state)
{
	(void)state;
	char live[128], clean[128], path[256], logf[64];
	struct rec v[4096];
	int eio = 0;
	snprintf(live, sizeof(live), "%s/mid", base);
	snprintf(clean, sizeof(clean), "%s/mid-clean", base);
	lkv_store *s = build(live);
	lkv_tree *t, *u;
	assert_int_equal(lkv_tree_open(s, "a", &t), 0);
	assert_int_equal(lkv_tree_open(s, "b", &u), 0);
	char k[32], val[160];
	int kl, vl;
	/* since format 3 later flushes append deltas to a leaf's image
	 * instead of replacing it: split the first leaf of tree a (two large
	 * values that verify() does not read), so that the first leaf image
	 * of the first flush (that leaf's) is superseded */
	static char big[1500];
	memset(big, 'x', sizeof(big));
	assert_int_equal(lkv_put(t, "k00000a", 7, big, sizeof(big), NULL), 0);
	assert_int_equal(lkv_put(t, "k00000b", 7, big, sizeof(big), NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	/* two more flushes of one leaf each */
	kl = sprintf(k, "k%06d", 1);
	vl = vform(val, 1, round_of(1, ROUNDS));
	assert_int_equal(lkv_put(t, k, kl, val, vl, NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	kl = sprintf(k, "k%06d", 2);
	vl = vform(val, 2, round_of(2, ROUNDS));
	assert_int_equal(lkv_put(u, k, kl, val, vl, NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	copy_dir(live, clean);            /* a crash: every flush is in the replay */
	assert_int_equal(lkv_close(s), 0);
	strcpy(logf, find(clean, "", ".log", true));
	snprintf(path, sizeof(path), "%s/%s", clean, logf);
	int n = records(path, v, 4096);
	assert_true(n > 20);
	/* each of the two one-key flushes: the leaf's record (a delta of its
	 * chain since format 3), then the commit */
	assert_true(v[n - 4].type == 4 && v[n - 3].type == 2 && v[n - 2].type == 4 &&
		    v[n - 1].type == 2);

	/* the first leaf image of the first flush: every leaf is rewritten later */
	assert_int_equal(v[0].type, 1);
	assert_int_equal(open_flipped(clean, logf, &v[0], 0, &eio), 0);
	assert_int_equal(eio, 0);
	assert_non_null(strstr(logbuf, "the commits after it are kept"));

	/* the one leaf record of the next-to-last flush, which nothing supersedes */
	assert_int_equal(open_flipped(clean, logf, &v[n - 4], 0, &eio), -EUCLEAN);
	assert_non_null(strstr(logbuf, "committed changes follow"));
	assert_int_equal(open_flipped(clean, logf, &v[n - 4], LKV_SALVAGE, &eio), 0);
	assert_true(eio > 0 && eio < NKEYS / 4);
	assert_non_null(strstr(logbuf, "leaf images they name were in the damage"));

	/* the one leaf record of the last flush: dropped with its flush */
	assert_int_equal(open_flipped(clean, logf, &v[n - 2], 0, &eio), 0);
	assert_non_null(strstr(logbuf, "a torn tail is ignored"));
}

/* A live store of ROUNDS flushes plus `extra` one-key flushes, copied as a
 * crash would leave it (every commit in the replay); log files roll every
 * `log_bytes` (0: never).  With `big`, the second round's flush also
 * writes 100 new keys ("kx" and 5 digits, which verify() does not read)
 * of 800 bytes: more than a digest reaches (since format 3 rewriting a
 * third of the keys writes only their deltas). */
static void build_crashed(const char *live, const char *clean, int extra, uint64_t log_bytes,
			  bool big)
{
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
	opts(&o, LKV_CREATE);
	o.compression_level = 0;           /* flushes of predictable size */
	if (log_bytes)
		o.log_file_bytes = log_bytes;
	assert_int_equal(lkv_open(live, &o, &s), 0);
	assert_int_equal(lkv_close(s), 0);
	o.flags = 0;
	assert_int_equal(lkv_open(live, &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "a", &t), 0);
	char k[32], v[160];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < NKEYS; i++) {
			if (r && (r < ROUNDS - 1 ? i % 3 : i % 10))
				continue;
			int kl = sprintf(k, "k%06d", i), vl = vform(v, i, r);
			lkv_tree *u;
			assert_int_equal(lkv_tree_open(s, i & 1 ? "a" : "b", &u), 0);
			assert_int_equal(lkv_put(u, k, kl, v, vl, NULL), 0);
		}
		for (int i = 0; big && r == 1 && i < 100; i++) {
			static char fill[800];
			int kl = sprintf(k, "kx%05d", i);
			assert_int_equal(lkv_put(t, k, kl, fill, sizeof(fill), NULL), 0);
		}
		assert_int_equal(lkv_flush(s, 0), 0);
	}
	for (int x = 0; x < extra; x++) {       /* same values, new commits */
		int i = 2 * x + 1, kl = sprintf(k, "k%06d", i);
		int vl = vform(v, i, round_of(i, ROUNDS));
		assert_int_equal(lkv_put(t, k, kl, v, vl, NULL), 0);
		assert_int_equal(lkv_flush(s, 0), 0);
	}
	copy_dir(live, clean);
	assert_int_equal(lkv_close(s), 0);
}

/*
 * A commit record destroyed in the middle of the log: the next commit
 * carries its digest, so a normal open rebuilds it and loses nothing.
 */
static void test_commit_rebuilt(void **state)
{
	(void)state;
	char live[128], clean[128], path[256], logf[64];
	struct rec v[4096];
	int eio = -1;
	snprintf(live, sizeof(live), "%s/digest", base);
	snprintf(clean, sizeof(clean), "%s/digest-clean", base);
	build_crashed(live, clean, 6, 0, false);
	strcpy(logf, find(clean, "", ".log", true));
	snprintf(path, sizeof(path), "%s/%s", clean, logf);
	int n = records(path, v, 4096), commit = -1;
	for (int i = 0, seen = 0; i < n; i++)   /* the third commit from the end */
		if (v[n - 1 - i].type == 2 && ++seen == 3)
			commit = n - 1 - i;
	assert_true(commit > 0);
	assert_int_equal(open_flipped(clean, logf, &v[commit], 0, &eio), 0);
	assert_int_equal(eio, 0);
	assert_non_null(strstr(logbuf, "rebuilt from their digests"));
}

/* The same at the end of a log file that the log has moved past: the next
 * file's first commit rebuilds the lost one. */
static void test_commit_rebuilt_across_files(void **state)
{
	(void)state;
	char live[128], clean[128], path[256], logf[64];
	struct rec v[4096];
	int eio = -1;
	snprintf(live, sizeof(live), "%s/digest2", base);
	snprintf(clean, sizeof(clean), "%s/digest2-clean", base);
	build_crashed(live, clean, 40, 64 << 10, false);
	strcpy(logf, find(clean, "", ".log", false));   /* the oldest: rolled */
	snprintf(path, sizeof(path), "%s/%s", clean, logf);
	int n = records(path, v, 4096);
	assert_true(n > 2 && v[n - 1].type == 2);
	int err = open_flipped(clean, logf, &v[n - 1], 0, &eio);
	if (err)
		print_message("%s", logbuf);
	assert_int_equal(err, 0);
	assert_int_equal(eio, 0);
	assert_non_null(strstr(logbuf, "rebuilt from their digests"));
}

/* Two commits destroyed further apart than a digest reaches: the first
 * cannot be rebuilt, and salvage drops what follows it, as before. */
static void test_commit_beyond_reach(void **state)
{
	(void)state;
	char live[128], clean[128], path[256], logf[64], work[128], wpath[256];
	struct rec v[4096];
	int eio = -1;
	snprintf(live, sizeof(live), "%s/digest3", base);
	snprintf(clean, sizeof(clean), "%s/digest3-clean", base);
	snprintf(work, sizeof(work), "%s/midlog", base);
	build_crashed(live, clean, 2, 0, true);
	strcpy(logf, find(clean, "", ".log", true));
	snprintf(path, sizeof(path), "%s/%s", clean, logf);
	int n = records(path, v, 4096), c[8], nc = 0;
	for (int i = 0; i < n && nc < 8; i++)
		if (v[i].type == 2)
			c[nc++] = i;
	assert_true(nc == ROUNDS + 2);
	/* the first round's commit, and the big flush after it (> 64 KiB) */
	assert_true(v[c[1]].off - v[c[0]].off > (64 << 10));
	copy_dir(clean, work);
	snprintf(wpath, sizeof(wpath), "%s/%s", work, logf);
	flip(wpath, v[c[0]].off + 40);
	flip(wpath, v[c[1]].off + 40);
	struct lkv_options o;
	lkv_store *s;
	opts(&o, 0);
	logbuf[0] = 0;
	assert_int_equal(lkv_open(work, &o, &s), -EUCLEAN);
	o.flags = LKV_SALVAGE | LKV_READONLY;
	assert_int_equal(lkv_open(work, &o, &s), 0);
	assert_non_null(strstr(logbuf, "are dropped, committed changes among them"));
	(void)eio;
	assert_int_equal(lkv_close(s), 0);
}

/* A store of format 1 is upgraded (to this build's, 3) at its first
 * writable open, not at a read-only one. */
static void test_format_upgrade(void **state)
{
	(void)state;
	char dir[128], path[256];
	snprintf(dir, sizeof(dir), "%s/v1", base);
	assert_int_equal(lkv_close(build(dir)), 0);
	const char *names[] = { "FORMAT", "FORMAT.bak" };
	for (int i = 0; i < 2; i++) {          /* as an older release wrote it */
		unsigned char f[48];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *fp = fopen(path, "r+b");
		assert_non_null(fp);
		assert_int_equal(fread(f, 1, 48, fp), 48);
		f[8] = 1;
		uint64_t c = lkv_checksum(f, 40);
		for (int b = 0; b < 8; b++)
			f[40 + b] = (unsigned char)(c >> (8 * b));
		rewind(fp);
		assert_int_equal(fwrite(f, 1, 48, fp), 48);
		fclose(fp);
	}
	assert_int_equal(try_open(dir, LKV_READONLY), 0);
	assert_null(strstr(logbuf, "upgraded"));
	assert_int_equal(try_open(dir, 0), 0);
	assert_non_null(strstr(logbuf, "store upgraded from format 1 to 4"));
	assert_int_equal(try_open(dir, 0), 0);
	assert_null(strstr(logbuf, "upgraded"));
}

static void count_damage(void *arg, const struct lkv_damage *d)
{
	int *n = arg;
	*n += d->tree == NULL && strstr(d->what, "snapshot") != NULL;
}

/* lkv_check verifies the snapshot files, not only the one the open
 * loaded: a damaged fallback is reported, and replaced with repair. */
static void test_check_snapshots(void **state)
{
	(void)state;
	char dir[128], path[256];
	snprintf(dir, sizeof(dir), "%s/snaps", base);
	assert_int_equal(lkv_close(build(dir)), 0);
	assert_int_equal(try_open(dir, 0), 0);           /* a second snapshot */
	char older[64];
	strcpy(older, find(dir, "snap-", "", false));
	assert_string_not_equal(older, find(dir, "snap-", "", true));
	snprintf(path, sizeof(path), "%s/%s", dir, older);
	flip(path, 40);
	struct lkv_options o;
	lkv_store *s;
	int n = 0;
	opts(&o, LKV_READONLY);
	assert_int_equal(lkv_open(dir, &o, &s), 0);
	assert_int_equal(lkv_check(s, 0, count_damage, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(lkv_close(s), 0);
	opts(&o, 0);
	assert_int_equal(lkv_open(dir, &o, &s), 0);
	n = 0;
	assert_int_equal(lkv_check(s, LKV_CHECK_REPAIR, count_damage, &n, NULL), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(lkv_check(s, 0, count_damage, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(lkv_close(s), 0);
}

static void test_open_copy(void **state)
{
	(void)state;
	char live[128], copy[128];
	snprintf(live, sizeof(live), "%s/live", base);
	snprintf(copy, sizeof(copy), "%s/copy", base);
	lkv_store *s = build(live);
	copy_dir(live, copy);             /* the state after the last flush */
	char logf[64], path[256];
	strcpy(logf, find(copy, "", ".log", true));
	snprintf(path, sizeof(path), "%s/%s", copy, logf);
	/* the last flush rewrote a tenth of the keys: its records are the last
	 * few tenths of the file; the first 60% is certainly earlier */
	long last_flush_from = zero_tail_at(path, NULL) * 6 / 10;   /* the records */
	assert_true(last_flush_from > 0);
	assert_int_equal(lkv_close(s), 0);
	struct outcome oc = damage(copy, logf, last_flush_from, 200);
	print_message("replay-window damage: %d opened, %d refused\n", oc.opened, oc.refused);
	assert_true(oc.refused > 0);
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(base, "/tmp/larchkv-corrupt-XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed_store),
		cmocka_unit_test(test_open_copy),
		cmocka_unit_test(test_format_copies),
		cmocka_unit_test(test_only_snapshot),
		cmocka_unit_test(test_meta_copies),
		cmocka_unit_test(test_damage_mid_log),
		cmocka_unit_test(test_commit_rebuilt),
		cmocka_unit_test(test_commit_rebuilt_across_files),
		cmocka_unit_test(test_commit_beyond_reach),
		cmocka_unit_test(test_format_upgrade),
		cmocka_unit_test(test_check_snapshots),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
