/* SPDX-License-Identifier: MIT */
/*
 * kv-bench: shared declarations.
 *
 * The benchmark drives three engines (larchkv, LMDB, RocksDB) through one
 * small adapter interface, `struct engine`, so that every workload runs the
 * same loop on each of them.  This header holds that interface plus the
 * helpers every file needs: the monotonic clock, the deterministic PRNG and
 * the key and value generators (so that a reader can recompute the value a
 * key must hold and verify what an engine returns).
 */
#ifndef KV_BENCH_H
#define KV_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- sizes ------------------------------------------------------------- */

#define BENCH_KEY_LEN    16u   /* db_bench's key size: 16 decimal digits */
#define BENCH_VALUE_LEN  100u  /* db_bench's value size */
#define BENCH_VALUE_RAND (BENCH_VALUE_LEN / 2)  /* random half; rest repeats */

/* ---- the engine adapter interface -------------------------------------- */

/* How a store is opened. */
struct engine_conf {
	size_t cache_bytes;        /* read cache budget (ignored by LMDB) */
};

/* Called by scan for every pair in key order; a non-zero return stops the
 * scan and is what scan returns. */
typedef int (*scan_fn)(void *arg, const void *key, size_t klen,
		       const void *val, size_t vlen);

/*
 * One engine.  Every int-returning operation returns 0 on success and a
 * negative errno on failure, after printing the engine's own message (a
 * RocksDB error string, an LMDB error name) on stderr.
 */
struct engine {
	const char *name;
	/* Opens the store in `dir` (an existing directory), creating it when
	 * it is empty. */
	int  (*open)(const char *dir, const struct engine_conf *c, void **h);
	/* Stores one pair.  Not durable until sync. */
	int  (*put)(void *h, const void *key, size_t klen,
		    const void *val, size_t vlen);
	/* Stores one pair and returns only once it is durable. */
	int  (*put_durable)(void *h, const void *key, size_t klen,
			    const void *val, size_t vlen);
	/* 1 and the value (up to cap bytes copied, *vlen the full length),
	 * 0 when the key is absent, or a negative errno. */
	int  (*get)(void *h, const void *key, size_t klen,
		    void *buf, size_t cap, size_t *vlen);
	/* Calls fn for every pair in key order. */
	int  (*scan)(void *h, scan_fn fn, void *arg);
	/* Makes every put so far durable (one fsync-class sync). */
	int  (*sync)(void *h);
	/* Optional: waits until background work (compaction) is idle, so the
	 * read workloads do not measure leftovers of the writes. */
	void (*quiesce)(void *h);
	/* Optional: reclaims the space of dead values now and waits until it
	 * is back (larch: lkv_gc). */
	int  (*gc)(void *h);
	/* Optional: prints the engine's own counters. */
	void (*report)(void *h, FILE *f);
	/* Closes the store (durably, where the engine does that on close). */
	int  (*close)(void *h);
	/* One line for the notes under the table. */
	const char *notes;
};

extern const struct engine engine_larch;
extern const struct engine engine_lmdb;
extern const struct engine engine_rocksdb;

/* ---- clock ------------------------------------------------------------- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- PRNG: splitmix64 (fast, deterministic, good enough for keys) ------ */

static inline uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A uniform integer in [0, n) (Lemire's multiply-shift; the bias for n far
 * below 2^64 is negligible here). */
static inline uint64_t rand_below(uint64_t *state, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)splitmix64(state) * n) >> 64);
}

/* ---- keys and values --------------------------------------------------- */

/* Key i is i in 16 zero-padded decimal digits, as db_bench writes them, so
 * byte order equals numeric order and fillseq writes in key order. */
static inline void make_key(uint64_t i, char key[BENCH_KEY_LEN])
{
	for (int d = BENCH_KEY_LEN - 1; d >= 0; d--) {
		key[d] = (char)('0' + i % 10);
		i /= 10;
	}
}

/* The value of key i as written by generation `gen` (fills write 0,
 * overwrite 1, ...): 50 pseudo-random bytes seeded by (i, gen), then the
 * same 50 bytes again, so it compresses about 2x like db_bench's values. */
static inline void make_value(uint64_t i, unsigned gen,
			      unsigned char val[BENCH_VALUE_LEN])
{
	uint64_t st = i * 0x100000001b3ull + gen * 0x2545f4914f6cdd1dull + 1;
	unsigned n = 0;

	while (n < BENCH_VALUE_RAND) {
		uint64_t r = splitmix64(&st);
		unsigned take = BENCH_VALUE_RAND - n < 8 ? BENCH_VALUE_RAND - n : 8;

		memcpy(val + n, &r, take);
		n += take;
	}
	memcpy(val + BENCH_VALUE_RAND, val, BENCH_VALUE_LEN - BENCH_VALUE_RAND);
}

#endif
