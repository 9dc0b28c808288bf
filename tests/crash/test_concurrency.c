/* SPDX-License-Identifier: MIT */
/*
 * test_concurrency.c: readers and writers at once, checked against a model.
 *
 * NWRITERS writer threads each own the keys that start with their id byte.
 * Writer w's batch number n (1, 2, 3 ...) applies the SAME operations to
 * the same keys of trees A and B (put a value naming (tree, w, key, n), or
 * delete), and sets its counter key w in tree C to n, all in one
 * lkv_batch.  Before committing, the writer appends each key's operation
 * to that key's history (an append-only array published with a release
 * store), so a reader can tell which states a key may be in after any
 * batch.
 *
 * Readers check what the header promises and nothing more:
 *  - every value read is well formed (its checksum holds and it names the
 *    tree and key it was found under): never torn, never another key's;
 *  - BRACKETING: a reader reads C/w (= c1), then does its reads, then reads
 *    C/w again (= c2).  Because C/w changes in every batch of w and reads of
 *    a single key are atomic, every key of w it read must be in the state
 *    left by some batch b with c1 <= b <= c2;
 *  - ATOMICITY ACROSS TREES: reading A/k then B/k (or B then A), if the
 *    first read saw the state of batch b1 (the earliest batch consistent
 *    with it) the second must be consistent with some batch b2 >= b1: a
 *    batch is applied to both trees at once, so once its change is visible
 *    in one tree it is visible in the other;
 *  - scans (forward, reverse, prefix) return strictly ordered keys, and,
 *    bracketed by C/w reads before and after, every key's state (present
 *    or absent) is one of the bracket's states (each leaf is read
 *    atomically, the scan is not a snapshot, so nothing stronger);
 *  - C/w never goes backwards for one reader.
 * At the end the store must hold exactly the model's final state, before
 * and after lkv_close + reopen on the same faultio, and on a DROP_ALL
 * power cut taken after the close (close flushes everything).
 *
 * Knobs: LARCH_CONC_ROUNDS=N (rounds with different options; default 4),
 * LARCH_CONC_BATCHES=N (batches per writer per round; default 3000),
 * LARCH_CONC_SEED=S (run only the round with seed S).
 */
#include <errno.h>
#include <inttypes.h>
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

#include <cmocka.h>

#include "faultio.h"
#include "firsterr.h"
#include "larchkv.h"
#include "testenv.h"
#include "testrng.h"

#define NWRITERS   2
#define NREADERS   2
#define NKEYS      64              /* keys per writer */
#define MAX_KEYS   8               /* keys per batch */
#define VAL_HDR    16
#define VAL_TRAIL  8
#define VAL_MAX    (VAL_HDR + 6000 + VAL_TRAIL)
#define VAL_MAGIC  0x434e4f43u     /* "CONC" */
#define TREE_A     0
#define TREE_B     1
#define TREE_C     2
#define NTREES     3
#define COUNTER_KEY 0xffffu

static const char *const tree_names[NTREES] = { "A", "B", "C" };

/* ---- key histories ---------------------------------------------------- */

/* One change of a key: batch n put it (value naming n) or deleted it. */
struct event {
	uint64_t batch;
	bool     put;
};

struct history {
	struct event       *ev;      /* preallocated: max batches entries */
	atomic_size_t       n;       /* published count (release/acquire) */
};

struct round {
	uint64_t       seed;
	unsigned       nbatches;     /* per writer */
	faultio       *f;
	lkv_store     *s;
	lkv_tree      *t[NTREES];
	struct history h[NWRITERS][NKEYS];
	atomic_bool    writers_done;
	atomic_uint_fast64_t reads, scans, pairs;
};

struct thread_ctx {
	struct round *r;
	unsigned      id;
	uint64_t      rng;
	char          err[512];
};

/* Keeps the first contract violation a thread sees (firsterr.h). */
#define terr(c, ...) first_error((c)->err, sizeof((c)->err), __VA_ARGS__)

/* ---- keys and values -------------------------------------------------- */

static size_t key_make(uint8_t *k, unsigned w, unsigned key)
{
	if (key == COUNTER_KEY) {
		k[0] = (uint8_t)w;
		return 1;
	}
	k[0] = (uint8_t)w;
	k[1] = (uint8_t)key;
	k[2] = (uint8_t)(key * 7);
	return 2 + (key % 3 == 0);
}

static size_t val_make(uint8_t *v, unsigned tree, unsigned w, unsigned key,
		       uint64_t batch)
{
	uint64_t st = rng_mix(batch * 1000003u + key * 31u + w * 7u + tree);
	size_t pay = (size_t)(rng_next(&st) % 1500);

	if (rng_next(&st) % 50 == 0)
		pay = 6000;
	if (key == COUNTER_KEY)
		pay = 0;
	uint32_t magic = VAL_MAGIC;
	uint16_t k16 = (uint16_t)key;

	memcpy(v, &magic, 4);
	v[4] = (uint8_t)tree;
	v[5] = (uint8_t)w;
	memcpy(v + 6, &k16, 2);
	memcpy(v + 8, &batch, 8);
	for (size_t i = 0; i < pay; i++)
		v[VAL_HDR + i] = (uint8_t)rng_next(&st);
	uint64_t sum = lkv_checksum(v, VAL_HDR + pay);

	memcpy(v + VAL_HDR + pay, &sum, 8);
	return VAL_HDR + pay + VAL_TRAIL;
}

/* Returns the batch a value names, or 0 when it is malformed or belongs to
 * another (tree, writer, key). */
static uint64_t val_check(const uint8_t *v, size_t vl, unsigned tree,
			  unsigned w, unsigned key)
{
	uint32_t magic;
	uint16_t k16;
	uint64_t batch, sum;

	if (vl < VAL_HDR + VAL_TRAIL)
		return 0;
	memcpy(&magic, v, 4);
	memcpy(&k16, v + 6, 2);
	memcpy(&batch, v + 8, 8);
	memcpy(&sum, v + vl - 8, 8);
	if (magic != VAL_MAGIC || v[4] != tree || v[5] != w || k16 != key ||
	    sum != lkv_checksum(v, vl - 8))
		return 0;
	return batch;
}

/* ---- the bracket check ------------------------------------------------ */

/* The state a read saw: absent, or present naming `batch`. */
struct seen {
	bool     present;
	uint64_t batch;
};

static bool state_eq(const struct event *e, struct seen s)
{
	if (!e)                 /* before any event: absent */
		return !s.present;
	return e->put ? s.present && s.batch == e->batch : !s.present;
}

/*
 * Finds the batches b in [c1, c2] after which key (w, key) is in state s.
 * Sets *lo and *hi to the first and last such b and returns true, or
 * returns false when there is none (the read saw an impossible state).
 */
static bool bracket(struct round *r, unsigned w, unsigned key, uint64_t c1,
		    uint64_t c2, struct seen s, uint64_t *lo, uint64_t *hi)
{
	struct history *h = &r->h[w][key];
	size_t n = atomic_load_explicit(&h->n, memory_order_acquire);
	size_t i = 0;
	const struct event *cur = NULL;
	bool found = false;

	/* the state after batch c1 is that of the last event <= c1 */
	while (i < n && h->ev[i].batch <= c1)
		cur = &h->ev[i++];
	uint64_t start = c1;

	for (;;) {
		bool last = i >= n || h->ev[i].batch > c2;
		uint64_t end = last ? c2 : h->ev[i].batch - 1;

		if (state_eq(cur, s)) {
			if (!found)
				*lo = start;
			*hi = end;
			found = true;
		}
		if (last)
			break;
		start = h->ev[i].batch;
		cur = &h->ev[i++];
	}
	return found;
}

/* ---- reads ------------------------------------------------------------ */

/* Reads C/w: the last batch of writer w that is visible (0: none yet). */
static bool read_counter(struct thread_ctx *c, unsigned w, uint64_t *out)
{
	uint8_t k[4], v[VAL_MAX];
	size_t kl = key_make(k, w, COUNTER_KEY), vl = 0;
	int rc = lkv_get(c->r->t[TREE_C], k, kl, v, sizeof(v), &vl);

	if (rc == -ENOENT) {
		*out = 0;
		return true;
	}
	if (rc) {
		terr(c, "reader %u: lkv_get(C/%u) = %d", c->id, w, rc);
		return false;
	}
	*out = val_check(v, vl, TREE_C, w, COUNTER_KEY);
	if (!*out) {
		terr(c, "reader %u: malformed counter value (%zu bytes)", c->id,
		     vl);
		return false;
	}
	return true;
}

static bool read_key(struct thread_ctx *c, unsigned tree, unsigned w,
		     unsigned key, struct seen *s)
{
	uint8_t k[4], v[VAL_MAX];
	size_t kl = key_make(k, w, key), vl = SIZE_MAX;
	int rc = lkv_get(c->r->t[tree], k, kl, v, sizeof(v), &vl);

	atomic_fetch_add(&c->r->reads, 1);
	if (rc == 0 && vl == SIZE_MAX) {
		terr(c, "reader %u: lkv_get(%s/%u/%u) returned 0 but did not "
		     "set *vlen", c->id, tree_names[tree], w, key);
		return false;
	}
	s->present = false;
	if (rc == -ENOENT)
		return true;
	if (rc) {
		terr(c, "reader %u: lkv_get(%s/%u/%u) = %d", c->id,
		     tree_names[tree], w, key, rc);
		return false;
	}
	if (vl > sizeof(v)) {
		terr(c, "reader %u: %s/%u/%u has a %zu-byte value, longer than "
		     "any written", c->id, tree_names[tree], w, key, vl);
		return false;
	}
	s->present = true;
	s->batch = val_check(v, vl, tree, w, key);
	if (!s->batch) {
		terr(c, "reader %u: %s/%u/%u: malformed value of %zu bytes",
		     c->id, tree_names[tree], w, key, vl);
		return false;
	}
	return true;
}

/* Reads A/k and B/k in a random order between two counter reads. */
static bool check_pair(struct thread_ctx *c, uint64_t *last_counter)
{
	struct round *r = c->r;
	unsigned w = (unsigned)rng_below(&c->rng, NWRITERS);
	unsigned key = (unsigned)rng_below(&c->rng, NKEYS);
	unsigned first = rng_chance(&c->rng, 1, 2) ? TREE_A : TREE_B;
	unsigned second = first == TREE_A ? TREE_B : TREE_A;
	uint64_t c1, c2, lo1, hi1, lo2, hi2;
	struct seen s1, s2;

	if (!read_counter(c, w, &c1) || !read_key(c, first, w, key, &s1) ||
	    !read_key(c, second, w, key, &s2) || !read_counter(c, w, &c2))
		return false;
	if (c1 < last_counter[w] || c2 < c1) {
		terr(c, "reader %u: counter of writer %u went back (%" PRIu64
		     " then %" PRIu64 " then %" PRIu64 ")", c->id, w,
		     last_counter[w], c1, c2);
		return false;
	}
	last_counter[w] = c2;
	if (!bracket(r, w, key, c1, c2, s1, &lo1, &hi1) ||
	    !bracket(r, w, key, c1, c2, s2, &lo2, &hi2)) {
		terr(c, "reader %u: key %u of writer %u read %s %s%" PRIu64
		     " then %s %s%" PRIu64 ", not the state after any batch "
		     "in [%" PRIu64 ", %" PRIu64 "]", c->id, key, w,
		     tree_names[first], s1.present ? "batch " : "absent ",
		     s1.batch, tree_names[second],
		     s2.present ? "batch " : "absent ", s2.batch, c1, c2);
		return false;
	}
	if (lo1 > hi2) {
		terr(c, "reader %u: batch atomicity: key %u of writer %u was "
		     "in tree %s as of batch >= %" PRIu64 " but afterwards in "
		     "tree %s only as of batch <= %" PRIu64, c->id, key, w,
		     tree_names[first], lo1, tree_names[second], hi2);
		return false;
	}
	atomic_fetch_add(&r->pairs, 1);
	return true;
}

/* A full scan (forward, reverse, or one writer's prefix) of tree A or B,
 * bracketed by counter reads. */
static bool check_scan(struct thread_ctx *c, uint64_t *last_counter)
{
	struct round *r = c->r;
	unsigned tree = rng_chance(&c->rng, 1, 2) ? TREE_A : TREE_B;
	unsigned flags = rng_chance(&c->rng, 1, 2) ? LKV_REVERSE : 0;
	int only = rng_chance(&c->rng, 1, 3) ? (int)rng_below(&c->rng, NWRITERS)
					     : -1;
	uint64_t c1[NWRITERS], c2[NWRITERS], lo, hi;
	struct seen seen[NWRITERS][NKEYS];
	lkv_iter *it;
	const void *kp, *vp;
	size_t kl, vl;
	int rc, prev = -1;

	memset(seen, 0, sizeof(seen));
	for (unsigned w = 0; w < NWRITERS; w++)
		if (!read_counter(c, w, &c1[w]))
			return false;
	if (only >= 0) {
		uint8_t p = (uint8_t)only;

		rc = lkv_iter_prefix(r->t[tree], &p, 1, flags, &it);
	} else {
		rc = lkv_iter_open(r->t[tree], NULL, 0, NULL, 0, flags, &it);
	}
	if (rc) {
		terr(c, "reader %u: lkv_iter_open = %d", c->id, rc);
		return false;
	}
	while ((rc = lkv_iter_next(it, &kp, &kl, &vp, &vl)) == 1) {
		const uint8_t *k = kp;
		uint8_t want[4];

		if (kl < 2 || k[0] >= NWRITERS || k[1] >= NKEYS ||
		    key_make(want, k[0], k[1]) != kl || memcmp(want, k, kl)) {
			terr(c, "reader %u: scan of %s returned a key never "
			     "written", c->id, tree_names[tree]);
			break;
		}
		int pos = k[0] * NKEYS + k[1];

		if (prev >= 0 && (flags ? pos >= prev : pos <= prev)) {
			terr(c, "reader %u: %s scan of %s out of order (%d after "
			     "%d)", c->id, flags ? "reverse" : "forward",
			     tree_names[tree], pos, prev);
			break;
		}
		if (only >= 0 && k[0] != only) {
			terr(c, "reader %u: prefix scan left its prefix",
			     c->id);
			break;
		}
		prev = pos;
		seen[k[0]][k[1]].present = true;
		seen[k[0]][k[1]].batch = val_check(vp, vl, tree, k[0], k[1]);
		if (!seen[k[0]][k[1]].batch) {
			terr(c, "reader %u: scan of %s: malformed value of %zu "
			     "bytes under key %u of writer %u", c->id,
			     tree_names[tree], vl, k[1], k[0]);
			break;
		}
	}
	lkv_iter_close(it);
	if (c->err[0])
		return false;
	if (rc < 0) {
		terr(c, "reader %u: lkv_iter_next = %d", c->id, rc);
		return false;
	}
	for (unsigned w = 0; w < NWRITERS; w++)
		if (!read_counter(c, w, &c2[w]))
			return false;
	for (unsigned w = 0; w < NWRITERS; w++) {
		if (only >= 0 && (int)w != only)
			continue;
		if (c1[w] < last_counter[w] || c2[w] < c1[w]) {
			terr(c, "reader %u: counter of writer %u went back",
			     c->id, w);
			return false;
		}
		last_counter[w] = c2[w];
		for (unsigned k = 0; k < NKEYS; k++)
			if (!bracket(r, w, k, c1[w], c2[w], seen[w][k], &lo,
				     &hi)) {
				terr(c, "reader %u: scan of %s saw key %u of "
				     "writer %u %s%" PRIu64 ", not its state "
				     "after any batch in [%" PRIu64 ", %"
				     PRIu64 "]", c->id, tree_names[tree], k, w,
				     seen[w][k].present ? "at batch "
							: "absent ",
				     seen[w][k].batch, c1[w], c2[w]);
				return false;
			}
	}
	atomic_fetch_add(&r->scans, 1);
	return true;
}

static void *reader_main(void *arg)
{
	struct thread_ctx *c = arg;
	uint64_t last_counter[NWRITERS] = { 0 };

	while (!atomic_load(&c->r->writers_done)) {
		bool ok = rng_chance(&c->rng, 1, 8)
			  ? check_scan(c, last_counter)
			  : check_pair(c, last_counter);

		if (!ok)
			break;
	}
	return NULL;
}

/* ---- writers ---------------------------------------------------------- */

static void *writer_main(void *arg)
{
	struct thread_ctx *c = arg;
	struct round *r = c->r;
	unsigned w = c->id;
	lkv_batch *b = lkv_batch_new(r->s);
	uint8_t *vals = malloc((size_t)(2 * MAX_KEYS + 1) * VAL_MAX);
	uint64_t last_epoch = 0;

	if (!b || !vals) {
		terr(c, "writer %u: out of memory", w);
		goto out;
	}
	for (uint64_t n = 1; n <= r->nbatches; n++) {
		unsigned nk = (unsigned)rng_range(&c->rng, 1, MAX_KEYS);
		bool touched[NKEYS] = { false };
		uint8_t *v = vals;
		int rc = 0;

		for (unsigned i = 0; i < nk && !rc; i++) {
			unsigned key = (unsigned)rng_below(&c->rng, NKEYS);
			bool put = !rng_chance(&c->rng, 1, 6);
			uint8_t k[4];
			size_t kl = key_make(k, w, key);

			if (touched[key])
				continue;   /* one op per key keeps the history simple */
			touched[key] = true;
			struct history *h = &r->h[w][key];
			size_t hn = atomic_load_explicit(&h->n,
							 memory_order_relaxed);

			h->ev[hn] = (struct event){ n, put };
			atomic_store_explicit(&h->n, hn + 1,
					      memory_order_release);
			for (unsigned t = TREE_A; t <= TREE_B && !rc; t++) {
				if (put) {
					size_t vl = val_make(v, t, w, key, n);

					rc = lkv_batch_put(b, r->t[t], k, kl, v,
							   vl);
					v += vl;
				} else {
					rc = lkv_batch_delete(b, r->t[t], k, kl);
				}
			}
		}
		uint8_t ck[4];
		size_t ckl = key_make(ck, w, COUNTER_KEY);
		size_t cvl = val_make(v, TREE_C, w, COUNTER_KEY, n);
		uint64_t ep = 0;

		if (!rc)
			rc = lkv_batch_put(b, r->t[TREE_C], ck, ckl, v, cvl);
		if (!rc)
			rc = lkv_batch_commit(b, &ep);
		if (rc) {
			terr(c, "writer %u: batch %" PRIu64 " failed: %d", w, n,
			     rc);
			goto out;
		}
		if (ep < last_epoch) {
			terr(c, "writer %u: epoch went back", w);
			goto out;
		}
		last_epoch = ep;
		if (rng_chance(&c->rng, 1, 64)) {
			rc = lkv_flush(r->s, rng_chance(&c->rng, 1, 2) ? 0 : ep);
			if (rc || lkv_epoch_durable(r->s) < ep) {
				terr(c, "writer %u: lkv_flush = %d, durable %"
				     PRIu64 " < %" PRIu64, w, rc,
				     lkv_epoch_durable(r->s), ep);
				goto out;
			}
		}
	}
out:
	lkv_batch_free(b);
	free(vals);
	return NULL;
}

/* ---- the final state -------------------------------------------------- */

/* Checks that the store holds exactly the last state of every key. */
static void check_final(struct round *r, const char *when)
{
	uint8_t v[VAL_MAX];

	for (unsigned w = 0; w < NWRITERS; w++) {
		for (unsigned key = 0; key < NKEYS; key++) {
			struct history *h = &r->h[w][key];
			size_t n = atomic_load(&h->n);
			const struct event *e = n ? &h->ev[n - 1] : NULL;

			for (unsigned t = TREE_A; t <= TREE_B; t++) {
				uint8_t k[4];
				size_t kl = key_make(k, w, key), vl = 0;
				int rc = lkv_get(r->t[t], k, kl, v, sizeof(v),
						 &vl);
				bool want = e && e->put;

				if (rc != (want ? 0 : -ENOENT))
					fail_msg("seed 0x%016" PRIx64 " %s: "
						 "lkv_get(%s/%u/%u) = %d, "
						 "expected %s", r->seed, when,
						 tree_names[t], w, key, rc,
						 want ? "a value" : "-ENOENT");
				if (want && val_check(v, vl, t, w, key) !=
					    e->batch)
					fail_msg("seed 0x%016" PRIx64 " %s: "
						 "%s/%u/%u does not hold batch "
						 "%" PRIu64 "'s value", r->seed,
						 when, tree_names[t], w, key,
						 e->batch);
			}
		}
		uint64_t cnt;
		struct thread_ctx c = { .r = r };

		if (!read_counter(&c, w, &cnt) || cnt != r->nbatches)
			fail_msg("seed 0x%016" PRIx64 " %s: counter of writer "
				 "%u is %" PRIu64 ", expected %u (%s)", r->seed,
				 when, w, cnt, r->nbatches, c.err);
	}
}

static void round_open(struct round *r, faultio *f, const struct lkv_options *o)
{
	struct lkv_options oo = *o;

	oo.io = faultio_io(f);
	r->f = f;
	assert_int_equal(lkv_open("faultio-conc", &oo, &r->s), 0);
	for (unsigned t = 0; t < NTREES; t++)
		assert_int_equal(lkv_tree_open(r->s, tree_names[t], &r->t[t]),
				 0);
}

static void quiet_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= LKV_LOG_ERR)
		fprintf(stderr, "engine: %s\n", msg);
}

static void run_round(uint64_t seed, unsigned nbatches)
{
	struct round *r = calloc(1, sizeof(*r));
	uint64_t rng = seed;
	struct lkv_options o;
	pthread_t th[NWRITERS + NREADERS];
	struct thread_ctx ctx[NWRITERS + NREADERS];

	assert_non_null(r);
	r->seed = seed;
	r->nbatches = nbatches;
	for (unsigned w = 0; w < NWRITERS; w++)
		for (unsigned k = 0; k < NKEYS; k++) {
			r->h[w][k].ev = calloc(nbatches + 1, sizeof(struct event));
			assert_non_null(r->h[w][k].ev);
		}
	lkv_options_default(&o);
	o.flags = LKV_CREATE;
	o.leaf_bytes = (unsigned)(512u << rng_below(&rng, 3));
	o.cache_bytes = (size_t)(32u << 10) << rng_below(&rng, 3);
	o.dirty_bytes = (size_t)(16u << 10) << rng_below(&rng, 3);
	o.flush_interval_ms = rng_chance(&rng, 1, 2) ? 2 : 0;
	o.snapshot_bytes = 64u << 10;
	o.snapshot_share = 0;                  /* every interval: small tables */
	o.log_file_bytes = 64u << 10;
	o.compression_level = rng_chance(&rng, 1, 2);
	o.bloom_bits = rng_chance(&rng, 1, 2) ? 10 : 0;
	if (rng_chance(&rng, 2, 3)) {
		o.blob_threshold = rng_chance(&rng, 1, 2) ? 512 : 4096;
		o.blob_segment_bytes = 1u << 20;  /* the smallest allowed */
	}
	o.log = quiet_log;
	round_open(r, faultio_new(), &o);

	for (unsigned i = 0; i < NWRITERS + NREADERS; i++) {
		ctx[i] = (struct thread_ctx){ .r = r, .rng = rng_next(&rng) };
		ctx[i].id = i < NWRITERS ? i : i - NWRITERS;
		assert_int_equal(pthread_create(&th[i], NULL,
						i < NWRITERS ? writer_main
							     : reader_main,
						&ctx[i]), 0);
	}
	for (unsigned i = 0; i < NWRITERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&r->writers_done, true);
	for (unsigned i = NWRITERS; i < NWRITERS + NREADERS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < NWRITERS + NREADERS; i++)
		if (ctx[i].err[0])
			fail_msg("seed 0x%016" PRIx64 ": %s\n  replay: "
				 "LARCH_CONC_SEED=0x%016" PRIx64, seed,
				 ctx[i].err, seed);

	check_final(r, "at the end");
	assert_int_equal(lkv_close(r->s), 0);
	round_open(r, r->f, &o);
	check_final(r, "after close and reopen");
	assert_int_equal(lkv_close(r->s), 0);

	faultio *img = faultio_crash(r->f, rng_next(&rng), FAULTIO_DROP_ALL);

	assert_int_equal(faultio_free(r->f), 0);
	round_open(r, img, &o);
	check_final(r, "after a power cut following close");
	assert_int_equal(lkv_close(r->s), 0);
	assert_int_equal(faultio_free(img), 0);

	printf("  round seed 0x%016" PRIx64 ": %u batches per writer, %" PRIu64
	       " reads, %" PRIu64 " pair checks, %" PRIu64 " scans\n", seed,
	       nbatches, (uint64_t)atomic_load(&r->reads),
	       (uint64_t)atomic_load(&r->pairs),
	       (uint64_t)atomic_load(&r->scans));
	for (unsigned w = 0; w < NWRITERS; w++)
		for (unsigned k = 0; k < NKEYS; k++)
			free(r->h[w][k].ev);
	free(r);
}

static void test_readers_writers(void **state)
{
	uint64_t rounds = 4, nbatches = 3000, seed;

	(void)state;
	env_number("LARCH_CONC_ROUNDS", &rounds);
	env_number("LARCH_CONC_BATCHES", &nbatches);
	if (env_number("LARCH_CONC_SEED", &seed)) {
		run_round(seed, (unsigned)nbatches);
		return;
	}
	for (unsigned i = 0; i < (unsigned)rounds; i++)
		run_round(rng_mix(0xc0ffee00ull + i), (unsigned)nbatches);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
