/* SPDX-License-Identifier: MIT */
/*
 * test_crash.c: power cuts against the engine's crash contract.
 *
 * Contract under test (larchkv.h): after any crash the store opens to
 * exactly the state at the end of some sealed epoch, no older than the last
 * one reported durable; batches are all-or-nothing; torn writes are ignored.
 *
 * One ITERATION (everything derived from one printed seed):
 *   1. open a store with LKV_CREATE on a fresh faultio, with small leaves,
 *      a small cache, small dirty limit, snapshot and log-file sizes, so
 *      that splits, merges, eviction, back-pressure flushes, snapshots and
 *      log rollovers all happen within a few hundred batches;
 *   2. up to three GENERATIONS of: NTHREADS writer threads run random
 *      batches (1..20 puts/deletes over NTREES trees, keys from a small
 *      space, values of random length whose bytes are a function of
 *      (tree, key, version)) with occasional lkv_flush; the cut is frozen
 *      at a random moment, inside a flush (faultio_freeze_after), or at the
 *      end; faultio_crash() gives the disk image; the old store is closed;
 *      a new store is opened on the image and its contents are read back
 *      (forward scan, reverse scan, prefix scans and lkv_get must agree),
 *      then checked against the model; the recovered store is the start
 *      of the next generation.
 *
 * THE MODEL.  Each thread owns the keys that start with its id byte, so
 * the state at the end of epoch E is, per thread, its batches with epoch
 * <= E applied in program order.  The recovered state must equal that for
 * some E >= B, where B is the highest lkv_epoch_durable() a thread read
 * while faultio_frozen() was still false (so the durability it reports
 * happened before the cut).  Candidate E's are B and every batch epoch
 * above it.  With injected I/O errors, a batch whose commit failed may be
 * applied or not (each such batch is the last of its thread).
 *
 * CUTS IN THE MIDDLE OF GC (crash_gc).  Blobs are always on (threshold
 * 512..2048 bytes, 1 MiB segments, so overwrites and deletes leave sparse
 * segments within a generation), the background GC runs every 1-5 ms when
 * the flusher is on (half the iterations), and writers stall to run GC
 * passes of their own.  A GC THREAD calls lkv_gc() at random moments while
 * the writers run.  In most generations it arms the freeze just before one
 * of its calls: a few syncs or name operations into the pass (among the
 * flush of the moved blobs, the segment unlinks, the two snapshots and the
 * deletions after them), or a number of mutating calls into it (among the
 * relocation appends, anywhere, or near the end).  A successful lkv_gc
 * makes everything before it durable, so it is another sample of the
 * bound.  lkv_gc may fail only in generations with injected errors.  After
 * each recovery and the usual checks, lkv_gc runs on the recovered store:
 * it must succeed, change nothing (everything still reads back
 * well-formed), count no checksum failure and, unless errors were injected
 * (see check_gc_recovered), leave no dead byte in any segment; a power cut
 * right after it (everything is durable by then) must lose nothing either.
 *
 * CHAINS OF DELTA RECORDS (crash_chains).  Values change in a few bytes
 * from version to version and keep their length for several, so a flush
 * writes deltas (splices) and chains grow; the flusher runs every 1-4 ms
 * (its flushes consolidate chains past their soft limit, which the
 * writers' own lkv_flush calls queue) and writers flush often.  The cut is
 * frozen a few calls into a flush (as crash_in_flush), into consolidating
 * background flushes as often as not.
 *
 * BLOB RANGES (crash_blob_sync).  Blobs always, values of a few KiB, so a
 * flush syncs the segments with the log and its commit lists their ranges
 * (kv/commit.c).  The cut is frozen 0-3 syncs into a writer's lkv_flush:
 * the engine (faultio has no sync_many) syncs the log first, so a cut
 * after one sync leaves a commit whose blob ranges are not on the disk,
 * which the open must drop; or 1-2 writes into a writer's put of a blob:
 * between the segment write and the flush's log write.
 *
 * Knobs: LARCH_CRASH_ITERS=N (iterations per test case; default in cases),
 * LARCH_CRASH_SEED=S (run only the iteration with seed S; thread timing
 * still varies, so a replay repeats the workload and the cut parameters,
 * not the interleaving), LARCH_CRASH_VERBOSE=1 (every generation's plan
 * and cut), `--only NAME` (one test case), `--iters N`; the runner that
 * reads them, and prints the replay line of a failure, is
 * tests/support/crashrun.c.
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

#include "crashrun.h"
#include "faultio.h"
#include "firsterr.h"
#include "larchkv.h"
#include "testrng.h"

/* ---- workload shape ----------------------------------------------------- */

#define NTHREADS   3
#define NTREES     3
#define NKEYS      48                      /* keys per thread */
#define NSLOTS     (NTHREADS * NKEYS)      /* keys per tree */
#define MAX_OPS    20                      /* ops per batch */
#define MAX_GENS   3
#define VAL_SMALL  3000                    /* usual longest value */
#define VAL_BIG    24000                   /* rare long values */
#define KEY_MAX    8

static const char *const tree_names[NTREES] = { "alpha", "beta", "gamma" };

/* Test cases: how the cut is placed and which crash modes are used. */
enum cut_case {
	CASE_DROP,        /* every unsynced write lost */
	CASE_ORDERED,     /* a prefix of each file's unsynced writes */
	CASE_TORN,        /* ... and the last one torn */
	CASE_REORDER,     /* a random subset in a random order (may tear) */
	CASE_IN_FLUSH,    /* cut frozen a few calls into a running flush */
	CASE_INTERVAL,    /* background flusher every few ms */
	CASE_ERRORS,      /* injected EIO/ENOSPC, then the cut */
	CASE_GC,          /* cut in the middle of lkv_gc / background GC */
	CASE_CHAINS,      /* deltas and consolidations, cut in a flush */
	CASE_BLOBSYNC,    /* blob ranges synced with the log, cut between */
	NCASES
};

/* Their names, iterations and cuts.  About two cuts per iteration:
 * ~4,500 cuts over the eight cases. */
static const struct crashrun_case cases[NCASES] = {
	[CASE_DROP]     = { "crash_drop_all", 200, CRASHRUN_CUT_DROP },
	[CASE_ORDERED]  = { "crash_ordered",  200, CRASHRUN_CUT_ORDERED },
	[CASE_TORN]     = { "crash_torn",     300, CRASHRUN_CUT_TORN },
	[CASE_REORDER]  = { "crash_reorder",  250, CRASHRUN_CUT_REORDER },
	[CASE_IN_FLUSH] = { "crash_in_flush", 350, CRASHRUN_CUT_ANY },
	[CASE_INTERVAL] = { "crash_interval", 200, CRASHRUN_CUT_ANY },
	[CASE_ERRORS]   = { "crash_errors",   300, CRASHRUN_CUT_ANY },
	[CASE_GC]       = { "crash_gc",       500, CRASHRUN_CUT_ANY },
	[CASE_CHAINS]   = { "crash_chains",   300, CRASHRUN_CUT_ANY },
	[CASE_BLOBSYNC] = { "crash_blob_sync", 300, CRASHRUN_CUT_ANY },
};

enum cut_when {
	WHEN_MOMENT, WHEN_IN_FLUSH, WHEN_END, WHEN_END_FLUSHED,
	WHEN_IN_GC,       /* frozen a few calls into an lkv_gc (crash_gc) */
	WHEN_IN_SYNC,     /* a few syncs into a flush (crash_blob_sync) */
	WHEN_IN_BLOB,     /* a write or two into a blob's put (crash_blob_sync) */
};

/* ---- model records ------------------------------------------------------ */

struct mop {
	uint8_t  tree;
	uint16_t slot;
	uint64_t ver;                 /* 0: delete */
};

enum { B_OK, B_MAYBE };

struct mbatch {
	uint64_t epoch;               /* B_OK: epoch from the commit */
	uint32_t first, n;            /* ops[first .. first+n) */
	uint8_t  status;
};

/* What a value read back from the store decoded to. */
struct slotval {
	bool     present;
	uint64_t ver;                 /* decoded version (values >= 8 bytes) */
	uint8_t  slen;                /* short values: length and bytes */
	uint8_t  sbytes[8];
};

struct recstate {
	struct slotval v[NTREES][NSLOTS];
};

/* ---- the iteration ------------------------------------------------------ */

struct iter;

struct worker {
	struct iter   *it;
	unsigned       tid;
	uint64_t       rng;
	unsigned       nbatches;
	struct mbatch *b;
	size_t         nb, capb;
	struct mop    *ops;
	size_t         nops, capops;
	uint8_t       *vbuf;          /* values of the batch being built */
	char           err[512];      /* set on a contract violation */
	bool           io_error;      /* stopped by an injected error */
};

/* The GC thread of crash_gc: lkv_gc at random moments while writers run. */
struct gcthread {
	struct iter   *it;
	uint64_t       rng;
	uint64_t       span;          /* mutating calls during the last lkv_gc */
	unsigned       calls, failed;
	bool           cut_inside;    /* the freeze happened during a call */
	bool           cut_busy;      /* ... while the writers ran */
	char           err[512];      /* set on a contract violation */
};

struct iter {
	enum cut_case      cc;
	uint64_t           rng;
	struct lkv_options o;
	faultio           *f;
	lkv_store         *s;
	lkv_tree          *t[NTREES];
	uint64_t           ver[NTHREADS];     /* last version issued per thread */
	uint64_t           base[NTREES][NSLOTS];  /* state the generation began in */

	/* this generation's cut */
	enum cut_when      when;
	unsigned           freeze_tid, freeze_batch;   /* WHEN_MOMENT */
	unsigned           flush_freeze_n;             /* WHEN_IN_FLUSH */
	unsigned           flush_freeze_from;          /* first batch to arm at */
	atomic_bool        flush_freeze_armed;
	unsigned           gc_arm_call;                /* WHEN_IN_GC */
	atomic_bool        gc_freeze_armed;
	atomic_bool        writers_done;               /* tells the GC thread */
	atomic_uint_fast64_t bound;                    /* durable before the cut */
	bool               errors;
	bool               had_errors;                 /* in any generation */
	struct worker      w[NTHREADS];
	struct gcthread    gc;
};

/* What the cuts of one test case did, printed at its end so that a green
 * run shows it exercised something. */
struct case_stats {
	uint64_t cuts, batches, frozen_early, lost_tail, at_bound, empty;
	uint64_t io_errors, maybe_applied;
	uint64_t flushes, snapshots, evictions, leaves_written, csum_failures;
	/* crash_gc */
	uint64_t gc_calls, gc_failed, cuts_in_gc, cuts_in_busy_gc;
	uint64_t gc_runs, gc_moved;
	uint64_t segs_recovered, segs_after_gc;
	/* crash_chains, crash_blob_sync */
	uint64_t deltas, consolidations, deltas_read, cuts_in_sync, cuts_in_blob;
};

static struct case_stats g_st;

/* ---- keys and values ---------------------------------------------------- */

/* Key of slot: thread byte, 2-byte index, then 0..4 filler bytes, so keys
 * differ in length and byte order is slot order. */
static size_t key_make(uint8_t *k, unsigned slot)
{
	unsigned tid = slot / NKEYS, idx = slot % NKEYS;
	size_t n = 3 + idx % 5;

	k[0] = (uint8_t)tid;
	k[1] = (uint8_t)(idx >> 8);
	k[2] = (uint8_t)idx;
	for (size_t i = 3; i < n; i++)
		k[i] = (uint8_t)(idx * 31 + i);
	return n;
}

/* Slot of a key, or -1 when it is not a key this test writes. */
static int key_parse(const uint8_t *k, size_t kl)
{
	uint8_t want[KEY_MAX];

	if (kl < 3 || k[0] >= NTHREADS)
		return -1;
	unsigned idx = (unsigned)k[1] << 8 | k[2];

	if (idx >= NKEYS)
		return -1;
	unsigned slot = k[0] * NKEYS + idx;

	if (key_make(want, slot) != kl || memcmp(want, k, kl))
		return -1;
	return (int)slot;
}

static uint64_t val_hash(unsigned tree, unsigned slot, uint64_t ver)
{
	return rng_mix(rng_mix(ver) ^ ((uint64_t)tree << 48) ^
		       ((uint64_t)slot << 32));
}

static uint64_t val_key(unsigned tree, unsigned slot)
{
	return rng_mix(0x7661c0deULL ^ ((uint64_t)tree << 20) ^ slot);
}

/* crash_chains: a slot's value keeps its length (but for one version in
 * STABLE_RUN) and differs only in its 8-byte tag and the STABLE_EDIT bytes
 * after it from one version to the next, so flushes write deltas
 * (splices of 24 bytes). */
static bool g_stable;
#define STABLE_RUN  16
#define STABLE_EDIT 16

static size_t val_len(unsigned tree, unsigned slot, uint64_t ver)
{
	if (g_stable)
		return 24 + (size_t)(rng_mix(val_key(tree, slot) ^
					     (ver % STABLE_RUN ? 0 : ver)) % 900);

	uint64_t r = rng_mix(val_hash(tree, slot, ver));

	if (r % 64 == 0)
		return VAL_SMALL + (size_t)((r >> 8) % (VAL_BIG - VAL_SMALL));
	return (size_t)((r >> 8) % (VAL_SMALL + 1));
}

/* Writes the value of (tree, slot, ver) into out; returns its length.
 * Values of 8 bytes or more start with ver ^ val_key(), so a value read
 * back names its own version. */
static size_t val_make(uint8_t *out, unsigned tree, unsigned slot,
		       uint64_t ver)
{
	size_t n = val_len(tree, slot, ver), i = 0;
	uint64_t st = val_hash(tree, slot, ver);

	if (n >= 8) {
		uint64_t x = ver ^ val_key(tree, slot);

		for (; i < 8; i++)
			out[i] = (uint8_t)(x >> (8 * i));
	}
	if (g_stable && n >= 8 + STABLE_EDIT) {
		/* the edit depends on the version, the rest on the slot */
		while (i < 8 + STABLE_EDIT) {
			uint64_t r = rng_next(&st);

			for (int j = 0; j < 8 && i < 8 + STABLE_EDIT; j++, i++)
				out[i] = (uint8_t)(r >> (8 * j));
		}
		st = val_key(tree, slot);
	}
	while (i < n) {
		uint64_t r = rng_next(&st);

		for (int j = 0; j < 8 && i < n; j++, i++)
			out[i] = (uint8_t)(r >> (8 * j));
	}
	return n;
}

/* Decodes a value read back; false when it is no value this test wrote
 * (torn, corrupt, or stale bytes). */
static bool val_decode(unsigned tree, unsigned slot, const uint8_t *v,
		       size_t vl, uint64_t max_ver, struct slotval *out,
		       uint8_t *scratch)
{
	memset(out, 0, sizeof(*out));
	out->present = true;
	if (vl < 8) {
		out->slen = (uint8_t)vl;
		memcpy(out->sbytes, v, vl);
		return true;
	}
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x |= (uint64_t)v[i] << (8 * i);
	out->ver = x ^ val_key(tree, slot);
	if (!out->ver || out->ver > max_ver)
		return false;
	return val_make(scratch, tree, slot, out->ver) == vl &&
	       !memcmp(scratch, v, vl);
}

/* Whether a recovered slot holds version `ver` (0: absent). */
static bool slot_matches(const struct slotval *sv, unsigned tree,
			 unsigned slot, uint64_t ver)
{
	if (!ver)
		return !sv->present;
	if (!sv->present)
		return false;
	if (sv->ver)
		return sv->ver == ver;

	uint8_t tmp[VAL_BIG];
	size_t n = val_len(tree, slot, ver);

	if (n != sv->slen)
		return false;
	val_make(tmp, tree, slot, ver);
	return !memcmp(tmp, sv->sbytes, n);
}

/* ---- workers ------------------------------------------------------------ */

/* Keeps the first contract violation a worker sees (firsterr.h). */
#define werr(w, ...) first_error((w)->err, sizeof((w)->err), __VA_ARGS__)

static void atomic_max(atomic_uint_fast64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load(a);

	while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

/* Reads the durable epoch; it bounds the cut only if the freeze has not
 * happened yet when we look (durability was reached before the cut). */
static void sample_durable(struct iter *it)
{
	uint64_t d = lkv_epoch_durable(it->s);

	if (!faultio_frozen(it->f))
		atomic_max(&it->bound, d);
}

static void record_op(struct worker *w, unsigned tree, unsigned slot,
		      uint64_t ver)
{
	if (w->nops == w->capops) {
		w->capops = w->capops ? 2 * w->capops : 256;
		w->ops = realloc(w->ops, w->capops * sizeof(*w->ops));
		if (!w->ops)
			abort();
	}
	w->ops[w->nops++] = (struct mop){ (uint8_t)tree, (uint16_t)slot, ver };
}

static void record_batch(struct worker *w, uint32_t first, uint64_t epoch,
			 uint8_t status)
{
	if (w->nb == w->capb) {
		w->capb = w->capb ? 2 * w->capb : 64;
		w->b = realloc(w->b, w->capb * sizeof(*w->b));
		if (!w->b)
			abort();
	}
	w->b[w->nb++] = (struct mbatch){ epoch, first,
					 (uint32_t)(w->nops - first), status };
}

/* Handles a failed engine call: expected only with injected errors. */
static bool worker_io_error(struct worker *w, const char *what, int rc)
{
	if (w->it->errors && rc < 0) {
		w->io_error = true;
		return true;
	}
	werr(w, "thread %u: %s returned %d", w->tid, what, rc);
	return false;
}

/* One batch (or a single lkv_put/lkv_delete).  Returns false to stop. */
static bool worker_batch(struct worker *w, lkv_batch *b)
{
	struct iter *it = w->it;
	unsigned n = (unsigned)rng_range(&w->rng, 1, MAX_OPS);
	bool single = rng_chance(&w->rng, 1, 8);
	uint32_t first = (uint32_t)w->nops;
	size_t voff = 0;
	uint64_t ep = 0;
	int rc = 0;

	if (single)
		n = 1;
	for (unsigned i = 0; i < n && !rc; i++) {
		unsigned tree = (unsigned)rng_below(&w->rng, NTREES);
		unsigned slot = w->tid * NKEYS +
				(unsigned)rng_below(&w->rng, NKEYS);
		bool del = rng_chance(&w->rng, 1, 4);
		uint8_t k[KEY_MAX];
		size_t kl = key_make(k, slot);

		if (del) {
			record_op(w, tree, slot, 0);
			rc = single ? lkv_delete(it->t[tree], k, kl, &ep)
				    : lkv_batch_delete(b, it->t[tree], k, kl);
			continue;
		}
		uint64_t ver = ++it->ver[w->tid];
		uint8_t *v = w->vbuf + voff;
		size_t vl = val_make(v, tree, slot, ver);

		voff += vl;
		record_op(w, tree, slot, ver);
		/* between the segment write and the log write: the blob goes
		 * to its segment now, its commit comes later */
		if (it->when == WHEN_IN_BLOB && vl >= it->o.blob_threshold &&
		    w->nb >= it->flush_freeze_from &&
		    !atomic_exchange(&it->flush_freeze_armed, true))
			faultio_freeze_after_ops(it->f, FAULTIO_OP_WRITE,
						 1 + it->flush_freeze_n % 2);
		rc = single ? lkv_put(it->t[tree], k, kl, v, vl, &ep)
			    : lkv_batch_put(b, it->t[tree], k, kl, v, vl);
	}
	if (!rc && !single)
		rc = lkv_batch_commit(b, &ep);
	if (rc) {
		lkv_batch_clear(b);
		record_batch(w, first, 0, B_MAYBE);
		worker_io_error(w, "commit", rc);
		return false;
	}
	if (w->nb && w->b[w->nb - 1].epoch > ep) {
		werr(w, "thread %u: epoch went back from %" PRIu64 " to %"
		     PRIu64, w->tid, w->b[w->nb - 1].epoch, ep);
		return false;
	}
	record_batch(w, first, ep, B_OK);
	sample_durable(it);
	return true;
}

/* lkv_flush of the current epoch or of our last batch's; checks that it
 * really is durable afterwards. */
static bool worker_flush(struct worker *w)
{
	struct iter *it = w->it;
	uint64_t target = w->nb ? w->b[w->nb - 1].epoch : 0;
	bool current = rng_chance(&w->rng, 1, 2);

	if (it->when == WHEN_IN_FLUSH && w->nb >= it->flush_freeze_from &&
	    !atomic_exchange(&it->flush_freeze_armed, true))
		faultio_freeze_after(it->f, it->flush_freeze_n);
	/* 0-3 syncs in: after the log's and before the segments' with one */
	if (it->when == WHEN_IN_SYNC && w->nb >= it->flush_freeze_from &&
	    !atomic_exchange(&it->flush_freeze_armed, true))
		faultio_freeze_after_ops(it->f, FAULTIO_OP_SYNC, it->flush_freeze_n % 4);

	int rc = lkv_flush(it->s, current ? 0 : target);

	if (rc) {
		worker_io_error(w, "lkv_flush", rc);
		return false;
	}
	uint64_t d = lkv_epoch_durable(it->s);

	if (d < target) {
		werr(w, "thread %u: lkv_flush(%" PRIu64 ") returned 0 but "
		     "durable epoch is %" PRIu64, w->tid,
		     current ? 0 : target, d);
		return false;
	}
	sample_durable(it);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct iter *it = w->it;
	lkv_batch *b = lkv_batch_new(it->s);
	int after_freeze = -1;

	if (!b) {
		werr(w, "lkv_batch_new failed");
		return NULL;
	}
	for (unsigned i = 0; i < w->nbatches; i++) {
		if (!worker_batch(w, b))
			break;
		if (rng_chance(&w->rng, 1, 10) && !worker_flush(w))
			break;
		if (it->when == WHEN_MOMENT && w->tid == it->freeze_tid &&
		    i + 1 == it->freeze_batch)
			faultio_freeze_after(it->f, 0);
		if (crashrun_stop_after_freeze(it->f, &w->rng, &after_freeze))
			break;
	}
	lkv_batch_free(b);
	return NULL;
}

/* ---- the GC thread (crash_gc) ------------------------------------------- */

static void pause_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	if (us)
		nanosleep(&ts, NULL);
}

/*
 * Arms the cut for the coming lkv_gc.  Half the time it lands a few syncs
 * or name operations in: between the steps whose order makes GC safe (the
 * flush of the moved blobs, the segment unlinks, the two snapshots and the
 * deletions after them), however many blobs the pass copies first.  Else
 * it lands a number of mutating calls in: among the first relocation
 * appends, anywhere, or near the end.  That number is scaled by the calls
 * the previous lkv_gc saw, which include concurrent writers' and depend on
 * timing: a replay repeats it only roughly.
 */
static void gc_arm_freeze(struct gcthread *g)
{
	faultio *f = g->it->f;
	uint64_t *r = &g->rng, span = g->span ? g->span : 64;

	switch (rng_below(r, 6)) {
	case 0: case 1: case 2:
		faultio_freeze_after_ops(f, FAULTIO_OP_SYNC | FAULTIO_OP_NAME,
					 rng_below(r, 28));
		break;
	case 3:
		faultio_freeze_after(f, rng_below(r, 16));
		break;
	case 4:
		faultio_freeze_after(f, rng_below(r, span + 1));
		break;
	default:                /* the last 40 calls and a little past */
		faultio_freeze_after(f, span > 40
					? rng_range(r, span - 40, span + 8)
					: rng_below(r, span + 8));
		break;
	}
}

/* One lkv_gc, with the cut armed first when it is this call's turn (or
 * `last`).  Returns false when the thread should stop. */
static bool gc_call(struct gcthread *g, bool last)
{
	struct iter *it = g->it;
	bool arm = it->when == WHEN_IN_GC &&
		   (last || g->calls >= it->gc_arm_call) &&
		   !atomic_exchange(&it->gc_freeze_armed, true);

	if (arm)
		gc_arm_freeze(g);

	bool busy = !atomic_load(&it->writers_done);
	bool frozen = faultio_frozen(it->f);
	uint64_t ops = faultio_op_count(it->f);
	int rc = lkv_gc(it->s);

	g->span = faultio_op_count(it->f) - ops;
	g->calls++;
	if (!frozen && faultio_frozen(it->f)) {
		g->cut_inside = true;
		g->cut_busy = busy;
	}
	if (rc) {
		g->failed++;
		if (!it->errors) {
			first_error(g->err, sizeof(g->err), "lkv_gc returned "
				    "%d (%s) with no fault injected", rc,
				    strerror(-rc));
			return false;
		}
		return g->failed < 3;   /* a transient error may pass */
	}
	sample_durable(it);             /* lkv_gc flushed what came before */
	return !faultio_frozen(it->f);  /* after the cut nothing matters */
}

static void *gc_main(void *arg)
{
	struct gcthread *g = arg;
	struct iter *it = g->it;
	bool go = true;

	while (go && !atomic_load(&it->writers_done)) {
		if (rng_chance(&g->rng, 1, 2))
			pause_us((unsigned)rng_below(&g->rng, 500));
		go = gc_call(g, false);
	}
	/* The writers finished before this generation's cut was armed: cut
	 * into a pass over the quiet store instead. */
	if (go && it->when == WHEN_IN_GC &&
	    !atomic_load(&it->gc_freeze_armed))
		gc_call(g, true);
	return NULL;
}

/* ---- opening and reading back ------------------------------------------- */

static atomic_uint_fast64_t g_torn_ranges;   /* opens that dropped such a commit */

/* crashrun_log, counting the opens that dropped a last commit whose blob
 * ranges did not reach the disk (crash_blob_sync's statistics). */
static void count_log(void *arg, int level, const char *msg)
{
	if (strstr(msg, "blob bytes that did not all reach the disk"))
		atomic_fetch_add(&g_torn_ranges, 1);
	crashrun_log(arg, level, msg);
}

static void iter_options(struct iter *it)
{
	struct lkv_options *o = &it->o;
	uint64_t *r = &it->rng;

	lkv_options_default(o);
	o->flags = LKV_CREATE;
	o->leaf_bytes = (unsigned)(512u << rng_below(r, 3));       /* 512..2K */
	o->cache_bytes = (size_t)(16u << 10) << rng_below(r, 4);   /* 16K..128K */
	o->dirty_bytes = (size_t)(8u << 10) << rng_below(r, 4);    /* 8K..64K */
	o->snapshot_bytes = (uint64_t)(32u << 10) << rng_below(r, 2);
	o->snapshot_share = rng_chance(r, 2, 3) ? 0 : 20;  /* mostly: every interval */
	o->log_file_bytes = (uint64_t)(32u << 10) << rng_below(r, 2);
	o->compression_level = rng_chance(r, 1, 3) ? 1 : 0;
	o->bloom_bits = rng_chance(r, 1, 2) ? 10 : 0;
	/* Values at or above the threshold go to blob segments (and the
	 * segment GC); 1-2 MiB segments (the smallest allowed). */
	if (rng_chance(r, 3, 4)) {
		static const size_t thr[] = { 512, 2048, 8192 };

		o->blob_threshold = thr[rng_below(r, 3)];
		o->blob_segment_bytes = (uint64_t)(1u << 20) << rng_below(r, 2);
	}
	o->flush_interval_ms = it->cc == CASE_INTERVAL || it->cc == CASE_CHAINS
			       ? (unsigned)rng_range(r, 1, 4) : 0;
	if (it->cc == CASE_CHAINS)
		o->leaf_bytes = (unsigned)(2048u << rng_below(r, 2));  /* 2K..4K */
	if (it->cc == CASE_BLOBSYNC) {
		static const size_t thr[] = { 512, 1024, 2048 };

		o->blob_threshold = thr[rng_below(r, 3)];
		o->blob_segment_bytes = 1u << 20;
		o->flush_interval_ms = rng_chance(r, 1, 2)
				       ? (unsigned)rng_range(r, 1, 4) : 0;
	}
	if (it->cc == CASE_GC) {
		/* Blobs always; segments of the smallest size; a background
		 * GC pass every few ms on the flusher (half the time). */
		static const size_t thr[] = { 512, 1024, 2048 };
		static const unsigned live[] = { 30, 60, 90 };

		o->blob_threshold = thr[rng_below(r, 3)];
		o->blob_segment_bytes = 1u << 20;
		o->gc_live_percent = live[rng_below(r, 3)];
		o->gc_interval_ms = (unsigned)rng_range(r, 1, 5);
		o->flush_interval_ms = rng_chance(r, 1, 2)
				       ? (unsigned)rng_range(r, 1, 4) : 0;
	}
	o->log = count_log;
}

static void store_open(struct iter *it, faultio *f)
{
	struct lkv_options o = it->o;
	int rc;

	o.io = faultio_io(f);
	rc = lkv_open("faultio-store", &o, &it->s);
	if (rc)
		iter_fail("lkv_open on the crash image: %d (%s)", rc,
			  strerror(-rc));
	it->f = f;
	for (unsigned i = 0; i < NTREES; i++) {
		rc = lkv_tree_open(it->s, tree_names[i], &it->t[i]);
		if (rc)
			iter_fail("lkv_tree_open(%s): %d", tree_names[i],
				  rc);
	}
}

struct scanned {
	uint16_t slot;
	uint32_t vlen;
	uint64_t vsum;
};

/* Scans tree `tree` (with iter flags) into out[]; returns the count.
 * Checks strictly monotone keys and that every key and value is one the
 * test wrote. */
static size_t scan_tree(struct iter *it, unsigned tree, unsigned flags,
			const void *prefix, struct scanned *out,
			struct recstate *rs, uint8_t *scratch)
{
	lkv_iter *iter;
	const void *k, *v;
	size_t kl, vl, n = 0;
	int rc, prev = -1;
	uint8_t pfx = 0;

	if (prefix) {
		pfx = *(const uint8_t *)prefix;
		rc = lkv_iter_prefix(it->t[tree], &pfx, 1, flags, &iter);
	} else {
		rc = lkv_iter_open(it->t[tree], NULL, 0, NULL, 0, flags, &iter);
	}
	if (rc)
		iter_fail("lkv_iter_open(%s): %d", tree_names[tree], rc);
	while ((rc = lkv_iter_next(iter, &k, &kl, &v, &vl)) == 1) {
		int slot = key_parse(k, kl);

		if (slot < 0 || n >= NSLOTS) {
			lkv_iter_close(iter);
			iter_fail("tree %s: scan returned a key this test "
				  "never wrote (len %zu)", tree_names[tree], kl);
		}
		bool rev = flags & LKV_REVERSE;

		if (prev >= 0 && (rev ? slot >= prev : slot <= prev)) {
			lkv_iter_close(iter);
			iter_fail("tree %s: %s scan out of order: slot %d "
				  "after %d", tree_names[tree],
				  rev ? "reverse" : "forward", slot, prev);
		}
		prev = slot;
		if (rs) {
			unsigned tid = (unsigned)slot / NKEYS;

			if (!val_decode(tree, (unsigned)slot, v, vl,
					it->ver[tid], &rs->v[tree][slot],
					scratch)) {
				lkv_iter_close(iter);
				iter_fail("tree %s slot %d: malformed value "
					  "of %zu bytes (torn or stale data "
					  "returned)", tree_names[tree], slot,
					  vl);
			}
		}
		out[n++] = (struct scanned){ (uint16_t)slot, (uint32_t)vl,
					     lkv_checksum(v, vl) };
	}
	lkv_iter_close(iter);
	if (rc < 0)
		iter_fail("lkv_iter_next(%s): %d", tree_names[tree], rc);
	return n;
}

/* Reads the whole store back into rs, checking that forward, reverse and
 * prefix scans and lkv_get all agree. */
static void read_back(struct iter *it, struct recstate *rs)
{
	static struct scanned fwd[NSLOTS], rev[NSLOTS], pre[NSLOTS];
	uint8_t *scratch = malloc(VAL_BIG), *gbuf = malloc(VAL_BIG);

	if (!scratch || !gbuf)
		abort();
	memset(rs, 0, sizeof(*rs));
	for (unsigned t = 0; t < NTREES; t++) {
		size_t n = scan_tree(it, t, 0, NULL, fwd, rs, scratch);
		size_t nr = scan_tree(it, t, LKV_REVERSE, NULL, rev, NULL, NULL);

		if (nr != n)
			iter_fail("tree %s: forward scan saw %zu keys, "
				  "reverse %zu", tree_names[t], n, nr);
		for (size_t i = 0; i < n; i++)
			if (memcmp(&fwd[i], &rev[n - 1 - i], sizeof(fwd[i])))
				iter_fail("tree %s: reverse scan differs "
					  "at slot %u", tree_names[t],
					  fwd[i].slot);
		/* prefix scans, one per thread, concatenate to the full scan */
		size_t at = 0;

		for (unsigned tid = 0; tid < NTHREADS; tid++) {
			uint8_t p = (uint8_t)tid;
			unsigned fl = rng_chance(&it->rng, 1, 2) ? LKV_REVERSE
								 : 0;
			size_t np = scan_tree(it, t, fl, &p, pre, NULL, NULL);

			for (size_t i = 0; i < np; i++) {
				const struct scanned *want =
					fl ? &pre[np - 1 - i] : &pre[i];

				if (at + i >= n ||
				    memcmp(&fwd[at + i], want, sizeof(*want)))
					iter_fail("tree %s: prefix scan of "
						  "thread %u differs from the "
						  "full scan", tree_names[t],
						  tid);
			}
			at += np;
		}
		if (at != n)
			iter_fail("tree %s: prefix scans saw %zu keys, "
				  "the full scan %zu", tree_names[t], at, n);
		/* point lookups of every slot, present or not */
		size_t j = 0;

		for (unsigned slot = 0; slot < NSLOTS; slot++) {
			uint8_t k[KEY_MAX];
			size_t kl = key_make(k, slot), vl = SIZE_MAX;
			int rc = lkv_get(it->t[t], k, kl, gbuf, VAL_BIG, &vl);
			bool in_scan = j < n && fwd[j].slot == slot;

			if (rc == 0 && vl == SIZE_MAX)
				iter_fail("tree %s slot %u: lkv_get returned "
					  "0 but did not set *vlen",
					  tree_names[t], slot);

			if (rc == -ENOENT && !in_scan)
				continue;
			if (rc)
				iter_fail("tree %s slot %u: lkv_get %d but "
					  "the scan %s it", tree_names[t], slot,
					  rc, in_scan ? "saw" : "did not see");
			if (!in_scan)
				iter_fail("tree %s slot %u: lkv_get finds "
					  "a key the scan did not", tree_names[t],
					  slot);
			if (vl != fwd[j].vlen ||
			    lkv_checksum(gbuf, vl) != fwd[j].vsum)
				iter_fail("tree %s slot %u: lkv_get and the "
					  "scan return different values",
					  tree_names[t], slot);
			j++;
		}
	}
	free(scratch);
	free(gbuf);
}

/* ---- checking against the model ----------------------------------------- */

static void apply_batch(uint64_t st[NTREES][NSLOTS], const struct worker *w,
			const struct mbatch *b)
{
	for (uint32_t i = 0; i < b->n; i++) {
		const struct mop *op = &w->ops[b->first + i];

		st[op->tree][op->slot] = op->ver;
	}
}

static unsigned count_mismatch(struct iter *it, uint64_t st[NTREES][NSLOTS],
			       const struct recstate *rs, bool print)
{
	unsigned bad = 0;

	for (unsigned t = 0; t < NTREES; t++)
		for (unsigned s = 0; s < NSLOTS; s++) {
			const struct slotval *sv = &rs->v[t][s];

			if (slot_matches(sv, t, s, st[t][s]))
				continue;
			if (print && bad < 12)
			{
				char want[32] = "absent", got[48] = "absent";

				if (st[t][s])
					snprintf(want, sizeof(want), "version %"
						 PRIu64, st[t][s]);
				if (sv->present && sv->ver)
					snprintf(got, sizeof(got), "version %"
						 PRIu64, sv->ver);
				else if (sv->present)
					snprintf(got, sizeof(got), "a %u-byte "
						 "value", sv->slen);
				fprintf(stderr, "    tree %s thread %u key %u: "
					"expected %s, found %s\n", tree_names[t],
					s / NKEYS, s % NKEYS, want, got);
			}
			bad++;
		}
	(void)it;
	return bad;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Finds an epoch E >= bound whose model state equals rs; on success the
 * matching state becomes it->base.  Fails the test otherwise. */
static void check_model(struct iter *it, const struct recstate *rs)
{
	uint64_t bound = atomic_load(&it->bound);
	size_t ncand = 1;

	for (unsigned t = 0; t < NTHREADS; t++)
		ncand += it->w[t].nb;

	uint64_t *cand = malloc(ncand * sizeof(*cand));
	uint64_t (*st)[NSLOTS] = malloc(sizeof(it->base));
	uint64_t (*tmp)[NSLOTS] = malloc(sizeof(it->base));
	size_t nc = 0, ptr[NTHREADS] = { 0 };

	if (!cand || !st || !tmp)
		abort();
	cand[nc++] = bound;
	for (unsigned t = 0; t < NTHREADS; t++)
		for (size_t i = 0; i < it->w[t].nb; i++)
			if (it->w[t].b[i].status == B_OK &&
			    it->w[t].b[i].epoch > bound)
				cand[nc++] = it->w[t].b[i].epoch;
	qsort(cand, nc, sizeof(*cand), cmp_u64);
	memcpy(st, it->base, sizeof(it->base));

	unsigned best = ~0u;
	uint64_t best_e = 0;

	for (size_t c = 0; c < nc; c++) {
		uint64_t e = cand[c];

		if (c && e == cand[c - 1])
			continue;
		unsigned maybe = 0;   /* threads whose next batch is MAYBE */

		for (unsigned t = 0; t < NTHREADS; t++) {
			struct worker *w = &it->w[t];

			while (ptr[t] < w->nb && w->b[ptr[t]].status == B_OK &&
			       w->b[ptr[t]].epoch <= e)
				apply_batch(st, w, &w->b[ptr[t]++]);
			if (ptr[t] < w->nb && w->b[ptr[t]].status == B_MAYBE)
				maybe |= 1u << t;
		}
		/* each MAYBE batch may or may not have been applied */
		for (unsigned m = 0; m < (1u << NTHREADS); m++) {
			if (m & ~maybe)
				continue;
			memcpy(tmp, st, sizeof(it->base));
			for (unsigned t = 0; t < NTHREADS; t++)
				if (m & (1u << t))
					apply_batch(tmp, &it->w[t],
						    &it->w[t].b[ptr[t]]);
			unsigned bad = count_mismatch(it, tmp, rs, false);

			if (!bad) {
				uint64_t top = 0;

				for (unsigned t = 0; t < NTHREADS; t++)
					if (it->w[t].nb &&
					    it->w[t].b[it->w[t].nb - 1].epoch > top)
						top = it->w[t].b[it->w[t].nb - 1].epoch;
				g_st.lost_tail += e < top;
				g_st.at_bound += e == bound;
				g_st.maybe_applied += m != 0;
				memcpy(it->base, tmp, sizeof(it->base));
				free(cand);
				free(st);
				free(tmp);
				return;
			}
			if (bad < best) {
				best = bad;
				best_e = e;
			}
		}
	}

	/* No epoch fits: explain the nearest one, then fail. */
	fprintf(stderr, "\n  durable bound %" PRIu64 "; candidate epochs:",
		bound);
	for (size_t c = 0; c < nc; c++)
		fprintf(stderr, " %" PRIu64, cand[c]);
	fprintf(stderr, "\n");
	for (unsigned t = 0; t < NTHREADS; t++) {
		struct worker *w = &it->w[t];

		fprintf(stderr, "  thread %u: %zu batches, epochs %" PRIu64
			"..%" PRIu64 "%s\n", t, w->nb, w->nb ? w->b[0].epoch : 0,
			w->nb ? w->b[w->nb - 1].epoch : 0,
			w->io_error ? " (stopped by an injected error)" : "");
	}
	fprintf(stderr, "  nearest: epoch %" PRIu64 " with %u wrong keys:\n",
		best_e, best);
	memcpy(st, it->base, sizeof(it->base));
	for (unsigned t = 0; t < NTHREADS; t++)
		for (size_t i = 0; i < it->w[t].nb; i++)
			if (it->w[t].b[i].status == B_OK &&
			    it->w[t].b[i].epoch <= best_e)
				apply_batch(st, &it->w[t], &it->w[t].b[i]);
	count_mismatch(it, st, rs, true);
	free(cand);
	free(st);
	free(tmp);
	iter_fail("the recovered state is not the state at the end of "
		  "any epoch >= %" PRIu64 " (the last reported durable)",
		  bound);
}

/* ---- one generation and one iteration ----------------------------------- */

static void gen_plan(struct iter *it, unsigned gen)
{
	uint64_t *r = &it->rng;
	unsigned total = 0;

	for (unsigned t = 0; t < NTHREADS; t++) {
		struct worker *w = &it->w[t];

		w->nb = w->nops = 0;
		w->err[0] = 0;
		w->io_error = false;
		w->it = it;
		w->tid = t;
		w->rng = rng_next(r);
		w->nbatches = (unsigned)rng_range(r, 5, 60);
		if (!w->vbuf && !(w->vbuf = malloc(MAX_OPS * VAL_BIG)))
			abort();
		total += w->nbatches;
	}
	(void)total;
	switch (it->cc) {
	case CASE_IN_FLUSH:
		it->when = WHEN_IN_FLUSH;
		break;
	case CASE_GC:
		it->when = rng_chance(r, 2, 3) ? WHEN_IN_GC
			   : (enum cut_when)rng_below(r, 4);
		break;
	case CASE_CHAINS:
		it->when = rng_chance(r, 2, 3) ? WHEN_IN_FLUSH
			   : (enum cut_when)rng_below(r, 4);
		break;
	case CASE_BLOBSYNC:
		it->when = rng_chance(r, 1, 2) ? WHEN_IN_SYNC
			   : rng_chance(r, 2, 3) ? WHEN_IN_BLOB
			   : (enum cut_when)rng_below(r, 4);
		break;
	default:
		it->when = (enum cut_when)rng_below(r, 4);
		break;
	}
	it->freeze_tid = (unsigned)rng_below(r, NTHREADS);
	it->freeze_batch = (unsigned)rng_range(r, 1,
					       it->w[it->freeze_tid].nbatches);
	it->flush_freeze_n = (unsigned)rng_below(r, 24);
	it->flush_freeze_from = (unsigned)rng_below(r, 30);
	atomic_store(&it->flush_freeze_armed, false);
	if (it->cc == CASE_GC) {
		struct gcthread *g = &it->gc;

		memset(g, 0, sizeof(*g));
		g->it = it;
		g->rng = rng_next(r);
		it->gc_arm_call = (unsigned)rng_below(r, 4);
	}
	atomic_store(&it->gc_freeze_armed, false);
	atomic_store(&it->writers_done, false);
	atomic_store(&it->bound, lkv_epoch_durable(it->s));
	/* a quarter of crash_gc's generations inject errors too */
	it->errors = it->cc == CASE_ERRORS ||
		     (it->cc == CASE_GC && rng_chance(r, 1, 4));
	it->had_errors |= it->errors;
	if (crashrun_verbose())
		fprintf(stderr, "gen %u: store at epoch %" PRIu64 ", durable %"
			PRIu64 "; cut %d\n", gen, lkv_epoch_current(it->s),
			lkv_epoch_durable(it->s), (int)it->when);
	if (it->errors) {
		static const unsigned cls[] = {
			FAULTIO_OP_WRITE, FAULTIO_OP_SYNC, FAULTIO_OP_NAME,
			FAULTIO_OP_MUTATING, FAULTIO_OP_READ,
		};
		faultio_fail_after(it->f, cls[rng_below(r, 5)],
				   rng_below(r, 200),
				   rng_chance(r, 1, 2) ? -EIO : -ENOSPC,
				   rng_chance(r, 1, 2));
	}
}

static unsigned crash_mode(struct iter *it)
{
	return crashrun_mode(cases[it->cc].cut, &it->rng);
}

/*
 * crash_gc, after a recovery: lkv_gc on the recovered store must succeed,
 * change nothing and meet no bad checksum.  Then everything is durable, so
 * a power cut right after it (while a background pass may be running)
 * must give back exactly the same state.
 */
static void check_gc_recovered(struct iter *it)
{
	struct recstate *rs = malloc(sizeof(*rs));
	struct lkv_stats ks;
	int rc;

	if (!rs)
		abort();
	lkv_stats(it->s, &ks);
	g_st.segs_recovered += ks.segments;
	rc = lkv_gc(it->s);
	if (rc)
		iter_fail("lkv_gc on the recovered store: %d (%s)", rc,
			  strerror(-rc));
	read_back(it, rs);
	if (count_mismatch(it, it->base, rs, true))
		iter_fail("lkv_gc on the recovered store changed its "
			  "contents");
	lkv_stats(it->s, &ks);
	g_st.segs_after_gc += ks.segments;
	if (ks.checksum_failures)
		iter_fail("%" PRIu64 " checksum failures in the recovered "
			  "store (read back, lkv_gc, read back)",
			  ks.checksum_failures);
	/* lkv_gc empties every segment that holds dead bytes, also the ones
	 * a cut left half emptied or not yet deleted.  Not after injected
	 * errors: a failed append leaves a hole in its segment that ends
	 * GC's walk of it, so the segment stays (safe, but never freed). */
	if (!it->had_errors && ks.blob_disk_bytes != ks.blob_live_bytes)
		iter_fail("after lkv_gc on the recovered store its %" PRIu64
			  " segments hold %" PRIu64 " bytes, %" PRIu64 " of "
			  "them live", ks.segments, ks.blob_disk_bytes,
			  ks.blob_live_bytes);

	/* The cut, opened beside the live store, which then carries on. */
	faultio *img = faultio_crash(it->f, rng_next(&it->rng), crash_mode(it));
	lkv_store *s = it->s;
	faultio *f = it->f;
	lkv_tree *t[NTREES];

	memcpy(t, it->t, sizeof(t));
	store_open(it, img);
	read_back(it, rs);
	if (count_mismatch(it, it->base, rs, true))
		iter_fail("a power cut right after lkv_gc on the recovered "
			  "store changed its contents");
	rc = lkv_close(it->s);
	if (rc)
		iter_fail("lkv_close of the store cut after lkv_gc: %d", rc);
	crashrun_free_closed(img, "lkv_close");
	it->s = s;
	it->f = f;
	memcpy(it->t, t, sizeof(t));
	free(rs);
}

static void run_generation(struct iter *it, unsigned gen)
{
	pthread_t th[NTHREADS], gc_th;
	bool gc = it->cc == CASE_GC;

	crashrun_generation(gen);
	gen_plan(it, gen);
	for (unsigned t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, worker_main, &it->w[t]))
			abort();
	if (gc && pthread_create(&gc_th, NULL, gc_main, &it->gc))
		abort();
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	atomic_store(&it->writers_done, true);
	if (gc)
		pthread_join(gc_th, NULL);
	for (unsigned t = 0; t < NTHREADS; t++)
		if (it->w[t].err[0])
			iter_fail("%s", it->w[t].err);
	if (gc && it->gc.err[0])
		iter_fail("%s", it->gc.err);

	if (it->when == WHEN_END_FLUSHED && !faultio_frozen(it->f)) {
		int rc = lkv_flush(it->s, 0);

		if (rc == 0)
			sample_durable(it);
		else if (!it->errors)
			iter_fail("final lkv_flush: %d", rc);
	}
	faultio_freeze_after(it->f, 0);   /* no-op when already frozen */
	faultio_clear_faults(it->f);

	/* The power cut.  Then the old store shuts down cleanly on the old
	 * (still working) faultio, which must not affect the image. */
	g_st.cuts++;
	g_st.frozen_early += it->when != WHEN_END &&
			     it->when != WHEN_END_FLUSHED;
	for (unsigned t = 0; t < NTHREADS; t++) {
		g_st.batches += it->w[t].nb;
		g_st.io_errors += it->w[t].io_error;
	}

	struct lkv_stats ks;

	lkv_stats(it->s, &ks);
	g_st.flushes += ks.flushes;
	g_st.snapshots += ks.snapshots;
	g_st.evictions += ks.evictions;
	g_st.leaves_written += ks.leaves_written;
	g_st.gc_runs += ks.gc_runs;
	g_st.gc_moved += ks.gc_bytes_moved;
	g_st.deltas += ks.deltas_written;
	g_st.consolidations += ks.consolidations;
	g_st.deltas_read += ks.deltas_read;
	g_st.cuts_in_sync += it->when == WHEN_IN_SYNC && atomic_load(&it->flush_freeze_armed);
	g_st.cuts_in_blob += it->when == WHEN_IN_BLOB && atomic_load(&it->flush_freeze_armed);
	if (gc) {
		g_st.gc_calls += it->gc.calls;
		g_st.gc_failed += it->gc.failed;
		g_st.cuts_in_gc += it->gc.cut_inside;
		g_st.cuts_in_busy_gc += it->gc.cut_busy;
	}

	unsigned mode = crash_mode(it);

	if (crashrun_verbose()) {
		fprintf(stderr, "gen %u: bound %" PRIu64 ", crash mode %#x\n",
			gen, (uint64_t)atomic_load(&it->bound), mode);
		for (unsigned t = 0; t < NTHREADS; t++) {
			fprintf(stderr, "  thread %u epochs:", t);
			for (size_t i = 0; i < it->w[t].nb; i++)
				fprintf(stderr, " %" PRIu64 "%s",
					it->w[t].b[i].epoch,
					it->w[t].b[i].status == B_MAYBE
					? "?" : "");
			fprintf(stderr, "\n");
		}
	}
	faultio *img = faultio_crash(it->f, rng_next(&it->rng), mode);
	int rc = lkv_close(it->s);

	it->s = NULL;
	if (rc && !it->errors)
		iter_fail("lkv_close of the cut store: %d", rc);
	crashrun_free_closed(it->f, "lkv_close");
	it->f = NULL;

	struct recstate *rs = malloc(sizeof(*rs));

	if (!rs)
		abort();
	store_open(it, img);
	read_back(it, rs);
	check_model(it, rs);

	bool empty = true;

	for (unsigned t = 0; t < NTREES; t++)
		for (unsigned sl = 0; sl < NSLOTS; sl++)
			empty &= !rs->v[t][sl].present;
	g_st.empty += empty;
	lkv_stats(it->s, &ks);
	g_st.csum_failures += ks.checksum_failures;
	free(rs);
	if (gc)
		check_gc_recovered(it);
	/* Epochs reported durable by the new store bound its next cut. */
}

/* Closes the last recovered store cleanly, reopens it and checks that
 * nothing changed: a clean shutdown after recovery loses nothing. */
static void final_reopen(struct iter *it)
{
	struct recstate *rs = malloc(sizeof(*rs));
	int rc = lkv_close(it->s);
	faultio *f = it->f;

	if (!rs)
		abort();
	it->s = NULL;
	if (rc)
		iter_fail("lkv_close after recovery: %d", rc);
	store_open(it, f);
	read_back(it, rs);
	for (unsigned t = 0; t < NTHREADS; t++)
		it->w[t].nb = 0;
	atomic_store(&it->bound, 0);
	if (count_mismatch(it, it->base, rs, true))
		iter_fail("a clean close and reopen changed the store");
	free(rs);
}

static void run_iteration(unsigned cc, uint64_t seed)
{
	struct iter *it = calloc(1, sizeof(*it));
	faultio *f = faultio_new();
	int rc;

	if (!it)
		abort();
	it->cc = (enum cut_case)cc;
	it->rng = seed;
	g_stable = it->cc == CASE_CHAINS;
	iter_options(it);

	unsigned gens = (unsigned)rng_range(&it->rng, 1, MAX_GENS);

	store_open(it, f);
	for (unsigned gen = 1; gen <= gens; gen++)
		run_generation(it, gen);
	crashrun_generation(0);
	if (rng_chance(&it->rng, 1, 4))
		final_reopen(it);
	rc = lkv_close(it->s);
	if (rc)
		iter_fail("final lkv_close: %d", rc);
	crashrun_free_closed(it->f, "lkv_close");
	for (unsigned t = 0; t < NTHREADS; t++) {
		free(it->w[t].b);
		free(it->w[t].ops);
		free(it->w[t].vbuf);
	}
	free(it);
}

/* ---- cmocka glue -------------------------------------------------------- */

/* What the cuts of case cc did, below the runner's first line. */
static void print_case_stats(enum cut_case cc)
{
	printf("  %" PRIu64 " batches; cuts: %" PRIu64 " mid-run, %" PRIu64
	       " lost unsynced epochs, %" PRIu64 " recovered exactly the "
	       "durable bound, %" PRIu64 " recovered empty, %" PRIu64
	       " with I/O errors (%" PRIu64 " failed batches applied)\n",
	       g_st.batches, g_st.frozen_early, g_st.lost_tail, g_st.at_bound,
	       g_st.empty, g_st.io_errors, g_st.maybe_applied);
	printf("  engine: %" PRIu64 " flushes, %" PRIu64 " snapshots, %" PRIu64
	       " evictions, %" PRIu64 " leaves written, %" PRIu64
	       " checksum failures seen on recovery\n", g_st.flushes,
	       g_st.snapshots, g_st.evictions, g_st.leaves_written,
	       g_st.csum_failures);
	printf("  chains: %" PRIu64 " deltas written, %" PRIu64 " read, %" PRIu64
	       " consolidations\n", g_st.deltas, g_st.deltas_read, g_st.consolidations);
	if (cc == CASE_BLOBSYNC)
		printf("  blob sync: %" PRIu64 " cuts armed a few syncs into a flush, %"
		       PRIu64 " a write or two into a blob's put; %" PRIu64 " opens "
		       "dropped a commit whose blob ranges were torn\n", g_st.cuts_in_sync,
		       g_st.cuts_in_blob, (uint64_t)atomic_load(&g_torn_ranges));
	if (cc == CASE_GC)
		printf("  gc: %" PRIu64 " lkv_gc calls (%" PRIu64 " failed), %"
		       PRIu64 " cuts inside one (%" PRIu64 " while writers "
		       "ran); %" PRIu64 " passes in all moved %.1f MiB; "
		       "recovered stores held %" PRIu64 " segments, %" PRIu64
		       " after lkv_gc\n", g_st.gc_calls, g_st.gc_failed,
		       g_st.cuts_in_gc, g_st.cuts_in_busy_gc, g_st.gc_runs,
		       (double)g_st.gc_moved / (1 << 20), g_st.segs_recovered,
		       g_st.segs_after_gc);
}

static void run_case(unsigned cc)
{
	memset(&g_st, 0, sizeof(g_st));
	crashrun_iterations(cc, &g_st.cuts);
	print_case_stats((enum cut_case)cc);
}

int main(int argc, char **argv)
{
	/* Seeds from case 0 up (seed_case_base 0); under a sanitizer too,
	 * every case runs its full count (fewer_when_sanitized false). */
	static const struct crashrun_suite suite = {
		.name = "crash",
		.cases = cases,
		.ncases = NCASES,
		.log_label = "engine log",
		.hang_cause = "an engine deadlock or livelock?",
		.run_case = run_case,
		.run_iteration = run_iteration,
	};

	return crashrun_main(&suite, argc, argv);
}
