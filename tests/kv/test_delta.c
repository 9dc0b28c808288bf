/* SPDX-License-Identifier: MIT */
/*
 * Delta records and leaf chains (kv/delta.c, kv/image.c), against models:
 *   - encode/decode: random writes remembered by a leaf's entries, the
 *     delta after an epoch applied to the entries as they were then, must
 *     give the entries as they are; many changes of one key between two
 *     records (splices and patches that compose), deletes and puts of one
 *     key, flags that change, values that grow and shrink;
 *   - the decoder refuses what is not a delta of this chain (another
 *     leaf, another previous record, a splice that does not fit, the
 *     wrong count of keys);
 *   - chains in a store: random batches flushed one by one with a cache
 *     too small to keep leaves, so that loads read base and deltas, with
 *     log files and snapshots rolling under the chains; reopened (cleanly
 *     and from a crash image) and compared with a model of every key,
 *     the tree's key count, each leaf's count in the location table and
 *     its filter (shared with the table's entry);
 *   - a damaged delta record: the leaf's reads fail with -EIO, and
 *     lkv_check with repair loses exactly the keys that delta changed;
 *   - a commit whose blob ranges did not reach the disk (the log synced,
 *     the segment not: a power cut between) is dropped at the next open;
 *   - consolidation: foreground flushes leave it to the background;
 *   - a store of format 2 (data/format2, written by the release before;
 *     data/format2-gen.c.txt made it) opens read-only as it is and is
 *     upgraded at its first writable open.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "internal.h"
#include "faultio.h"
#include "testrng.h"

/* ---- encode/decode against the entries themselves ---- */

#define MKEYS 64

/* A copy of d's entries (no change remembered). */
static struct entries *copy_of(const struct entries *d)
{
	struct entries *c = entries_new();
	for (uint32_t i = 0; i < d->n; i++)
		assert_int_equal(entries_put(c, d->e[i].k, d->e[i].kl, d->e[i].v, d->e[i].vl,
					     d->e[i].flags), 0);
	return c;
}

static void assert_same(const struct entries *a, const struct entries *b)
{
	assert_int_equal(a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		assert_int_equal(a->e[i].kl, b->e[i].kl);
		assert_memory_equal(a->e[i].k, b->e[i].k, a->e[i].kl);
		assert_int_equal(a->e[i].vl, b->e[i].vl);
		if (a->e[i].vl)
			assert_memory_equal(a->e[i].v, b->e[i].v, a->e[i].vl);
		assert_int_equal(a->e[i].flags, b->e[i].flags);
	}
}

/* A random change of key slot in epoch ep: a new value, a small edit of
 * the old one (a splice), a different flag, or a deletion. */
static void random_change(struct entries *d, uint64_t *rng, uint64_t ep, uint64_t logged)
{
	char k[16];
	static uint8_t v[9000];
	int kl = snprintf(k, sizeof(k), "k%03u", (unsigned)rng_below(rng, MKEYS));
	bool found;
	uint32_t i = entries_search(d, k, kl, &found);
	unsigned what = (unsigned)rng_below(rng, 10);
	size_t vl;
	uint8_t flags = 0;
	if (what == 0) {
		assert_true(entries_remove(d, k, kl, ep) >= 0);
		return;
	}
	if (found && what < 7) {            /* an edit: most of the value stays */
		vl = d->e[i].vl;
		memcpy(v, d->e[i].v, vl);
		flags = d->e[i].flags;
		if (what == 6 && vl + 100 < sizeof(v))
			vl += 1 + rng_below(rng, 100);     /* grows at the end */
		else if (what == 5 && vl > 10)
			vl -= 1 + rng_below(rng, 10);      /* shrinks */
		for (int n = 1 + (int)rng_below(rng, 4); n > 0 && vl; n--)
			v[rng_below(rng, vl)] ^= (uint8_t)(1 + rng_below(rng, 255));
		if (what == 4)
			flags ^= ENT_BLOB;          /* a changed flag: the whole value */
	} else {
		vl = rng_below(rng, 4) ? rng_below(rng, 200) : 2000 + rng_below(rng, 6000);
		for (size_t j = 0; j < vl; j++)
			v[j] = (uint8_t)rng_next(rng);
	}
	assert_int_equal(entries_change(d, k, kl, v, vl, flags, ep, logged), 0);
}

/*
 * Many rounds: a durable state (a copy), a few epochs of random changes
 * (several per key: the splices compose), the delta of everything after
 * the durable epoch applied to the copy, compared with the entries.  Then
 * the copy is the new durable state (as a publish would make it).
 */
static void test_delta_model(void **state)
{
	(void)state;
	uint64_t rng = 0x5eed;
	struct entries *d = entries_new();
	uint64_t logged = 0, ep = 1;
	size_t splices = 0, deletes = 0, patches = 0;
	for (int round = 0; round < 400; round++) {
		struct entries *durable = copy_of(d);
		unsigned epochs = 1 + (unsigned)rng_below(&rng, 3);
		for (unsigned e = 0; e < epochs; e++, ep++)
			for (int n = (int)rng_below(&rng, 30); n > 0; n--)
				random_change(d, &rng, ep, logged);
		struct buf b = { 0 };
		uint64_t *h;
		size_t nh;
		assert_int_equal(delta_encode(d, 7, 9, 1234, logged, &b, &h, &nh), 0);
		struct delta_rd it;
		struct delta_op op;
		if (nh) {
			assert_int_equal(delta_open(b.p, b.len, &it), 0);
			assert_int_equal(it.nops, nh);
			for (size_t i = 0; i < nh; i++) {
				assert_int_equal(delta_next(&it, &op), 1);
				assert_true(h[i] == lkv_checksum(op.k, op.kl));
				splices += op.op == 1;
				deletes += op.op == 2;
				patches += op.op == 3;
			}
			assert_int_equal(delta_next(&it, &op), 0);
			assert_int_equal(delta_apply(durable, b.p, b.len, 7, 9, 1234), 0);
			/* not this leaf's, or not after this record: refused */
			struct entries *c = copy_of(durable);
			assert_int_equal(delta_apply(c, b.p, b.len, 7, 10, 1234), -EUCLEAN);
			assert_int_equal(delta_apply(c, b.p, b.len, 7, 9, 1235), -EUCLEAN);
			entries_free(c);
		} else {
			assert_int_equal(delta_open(b.p, b.len, &it), -EUCLEAN);  /* no op */
		}
		assert_same(durable, d);
		free(h);
		buf_free(&b);
		entries_free(durable);
		logged = ep - 1;
		entries_logged(d, logged);
		assert_int_equal(d->ntomb, 0);
	}
	print_message("delta model: %zu splices, %zu patches, %zu deletions in 400 rounds\n",
		      splices, patches, deletes);
	assert_true(splices > 100 && patches > 100 && deletes > 100);
	entries_free(d);
}

/* A splice logs the bytes that changed, however large the value; applied
 * where the key is missing or too short, or with the wrong count of keys
 * after, it is refused. */
static void test_splice_small(void **state)
{
	(void)state;
	static uint8_t v[30000];
	memset(v, 'a', sizeof(v));
	struct entries *d = entries_new();
	assert_int_equal(entries_put(d, "blk", 3, v, sizeof(v), 0), 0);
	struct entries *old = copy_of(d);
	memset(v + 10000, 'b', 4096);                     /* a 4 KiB write */
	assert_int_equal(entries_change(d, "blk", 3, v, sizeof(v), 0, 5, 4), 0);
	memset(v + 12000, 'c', 100);                      /* a second, inside */
	assert_int_equal(entries_change(d, "blk", 3, v, sizeof(v), 0, 6, 4), 0);
	struct buf b = { 0 };
	uint64_t *h;
	size_t nh;
	assert_int_equal(delta_encode(d, 1, 2, 3, 4, &b, &h, &nh), 0);
	assert_int_equal(nh, 1);
	assert_true(b.len < 4096 + 64);
	assert_int_equal(delta_apply(old, b.p, b.len, 1, 2, 3), 0);
	assert_same(old, d);
	/* the key missing: refused */
	struct entries *empty = entries_new();
	assert_int_equal(delta_apply(empty, b.p, b.len, 1, 2, 3), -EUCLEAN);
	/* too short for the kept bytes: refused */
	assert_int_equal(entries_put(empty, "blk", 3, v, 100, 0), 0);
	assert_int_equal(delta_apply(empty, b.p, b.len, 1, 2, 3), -EUCLEAN);
	/* one key too many after it: refused */
	struct entries *more = copy_of(old);
	assert_int_equal(entries_put(more, "zzz", 3, "", 0, 0), 0);
	assert_int_equal(delta_apply(more, b.p, b.len, 1, 2, 3), -EUCLEAN);
	entries_free(more);
	entries_free(empty);
	entries_free(old);
	entries_free(d);
	free(h);
	buf_free(&b);
}

/* ---- chains in a store, against a model ---- */

#define SKEYS 600
#define SVAL  600

struct model { int ver[SKEYS]; };

static size_t sval(uint8_t *v, int i, int ver)
{
	uint64_t st = rng_mix(((uint64_t)i << 32) ^ (uint64_t)ver);
	size_t n = ver % 7 == 0 ? SVAL : 20 + rng_mix(st) % 200;
	/* most of a value stays from version to version: splices */
	for (size_t j = 0; j < n; j++)
		v[j] = (uint8_t)(i * 31 + j);
	snprintf((char *)v, n, "%d.%d.", i, ver);
	return n;
}

static int skey(char *k, int i)
{
	return sprintf(k, "key%05d", i);
}

static void check_model(lkv_tree *t, const struct model *m)
{
	char k[16];
	uint8_t v[SVAL], buf[SVAL];
	size_t vl;
	for (int i = 0; i < SKEYS; i++) {
		int kl = skey(k, i);
		int err = lkv_get(t, k, kl, buf, sizeof(buf), &vl);
		if (!m->ver[i]) {
			assert_int_equal(err, -ENOENT);
			continue;
		}
		assert_int_equal(err, 0);
		size_t n = sval(v, i, m->ver[i]);
		assert_int_equal(vl, n);
		assert_memory_equal(buf, v, n);
	}
}

static uint64_t model_keys(const struct model *m)
{
	uint64_t n = 0;
	for (int i = 0; i < SKEYS; i++)
		n += m->ver[i] != 0;
	return n;
}

/*
 * What the chains must keep beside their keys: each leaf's count in the
 * location table is its chain's (lkv_tree_count sums them at the open),
 * and a leaf with a chain shares its table entry's filter (bloom.c), to
 * which every delta added its keys (check_model, with leaves evicted,
 * finds a key a delta made only if the filter says it may be there).
 */
static void check_chains(lkv_store *s, lkv_tree *t, const struct model *m)
{
	assert_int_equal(lkv_tree_count(t), model_keys(m));
	uint64_t sum = 0;
	pthread_mutex_lock(&s->flush_mu);
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		const struct leaf *l = t->v[i];
		const struct loc_ent *e = loctable_get(&s->lt, l->id);
		if (!e)
			continue;                    /* never flushed */
		sum += e->nkeys;
		if (l->nchain && !l->dirty_epoch)
			assert_ptr_equal(l->bloom.bits, e->bloom.bits);
	}
	pthread_rwlock_unlock(&t->lock);
	pthread_mutex_unlock(&s->flush_mu);
	assert_int_equal(sum, model_keys(m));
}

static void random_batch(lkv_store *s, lkv_tree *t, uint64_t *rng, struct model *m, int *ver)
{
	lkv_batch *b = lkv_batch_new(s);
	char k[16];
	uint8_t v[SVAL];
	struct model next = *m;
	for (int n = 1 + (int)rng_below(rng, 12); n > 0; n--) {
		int i = (int)rng_below(rng, SKEYS);
		int kl = skey(k, i);
		if (rng_chance(rng, 1, 6)) {
			assert_int_equal(lkv_batch_delete(b, t, k, kl), 0);
			next.ver[i] = 0;
		} else {
			++*ver;
			assert_int_equal(lkv_batch_put(b, t, k, kl, v, sval(v, i, *ver)), 0);
			next.ver[i] = *ver;
		}
	}
	assert_int_equal(lkv_batch_commit(b, NULL), 0);
	*m = next;
	lkv_batch_free(b);
}

static void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static void chain_opts(struct lkv_options *o, faultio *f)
{
	lkv_options_default(o);
	o->flags = LKV_CREATE;
	o->flush_interval_ms = 0;
	o->gc_interval_ms = 0;
	o->leaf_bytes = 4096;
	o->cache_bytes = 16u << 10;            /* leaves are evicted: loads read chains */
	o->log_file_bytes = 96u << 10;         /* chains span log files */
	o->snapshot_bytes = 128u << 10;        /* ... and snapshots */
	o->snapshot_share = 0;
	o->io = faultio_io(f);
	o->log = quiet;
}

/*
 * Random batches, each flushed (foreground: deltas, past the soft limit
 * too); every so often a clean reopen or a crash image, and the model
 * checked.  Chains must be read (deltas_read), consolidated (the hard
 * limit) and survive log rolls, snapshots and GC of log files.
 */
static void test_chains_model(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	struct lkv_options o;
	chain_opts(&o, f);
	lkv_store *s;
	lkv_tree *t;
	assert_int_equal(lkv_open("chains", &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	struct model m = { 0 };
	uint64_t rng = 0xc4a1;
	int ver = 0;
	struct lkv_stats st, total = { 0 };
	for (int round = 0; round < 1500; round++) {
		random_batch(s, t, &rng, &m, &ver);
		assert_int_equal(lkv_flush(s, 0), 0);
		if (round % 300 == 150)
			assert_int_equal(lkv_gc(s), 0);      /* log files rewritten */
		if (round % 250 != 249)
			continue;
		lkv_stats(s, &st);
		total.deltas_written += st.deltas_written;
		total.deltas_read += st.deltas_read;
		total.consolidations += st.consolidations;
		if (round % 500 == 499) {                /* a crash: everything flushed */
			faultio *img = faultio_crash(f, rng_next(&rng), FAULTIO_DROP_ALL);
			assert_int_equal(lkv_close(s), 0);
			assert_int_equal(faultio_free(f), 0);
			f = img;
			o.io = faultio_io(f);
		} else {
			assert_int_equal(lkv_close(s), 0);
		}
		assert_int_equal(lkv_open("chains", &o, &s), 0);
		assert_int_equal(lkv_tree_open(s, "main", &t), 0);
		check_model(t, &m);
		check_chains(s, t, &m);
	}
	check_model(t, &m);
	assert_int_equal(lkv_flush(s, 0), 0);
	check_chains(s, t, &m);
	struct lkv_check_stats cs;
	assert_int_equal(lkv_check(s, 0, NULL, NULL, &cs), 0);
	assert_int_equal(cs.problems, 0);
	lkv_stats(s, &st);
	print_message("chains: %lu deltas written, %lu read, %lu consolidations; now %lu "
		      "links, %lu log bytes\n", (unsigned long)total.deltas_written,
		      (unsigned long)total.deltas_read, (unsigned long)total.consolidations,
		      (unsigned long)st.chain_links, (unsigned long)st.disk_bytes);
	assert_true(total.deltas_written > 1000);
	assert_true(total.deltas_read > 100);
	assert_true(total.consolidations > 0);
	assert_true(st.chain_links > 0);
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(faultio_free(f), 0);
}

/* ---- damage ---- */

struct log_rec { uint64_t off; uint32_t len; uint8_t type; uint64_t epoch; };

/* The records of a log file of f, in order. */
static int log_records(faultio *f, const char *name, struct log_rec *v, int max)
{
	uint64_t size, off = 0;
	int n = 0;
	assert_int_equal(faultio_file_size(f, name, &size), 0);
	uint8_t h[32];
	while (n < max && off + 32 <= size && faultio_read(f, name, h, 32, off) == 32 &&
	       !memcmp(h, "LKVR", 4)) {
		uint32_t len = 32 + get_u32(h + 8);
		v[n++] = (struct log_rec){ off, len, h[4], get_u64(h + 16) };
		off += len;
	}
	return n;
}

static void count_damage(void *arg, const struct lkv_damage *d)
{
	int *keys = arg;
	keys[0] += d->key != NULL;
	keys[1] += d->key == NULL && d->tree != NULL && !d->partial;   /* whole leaves */
	keys[2] += d->key == NULL && d->tree != NULL && d->partial;    /* unnamed keys */
}

/*
 * One leaf whose chain ends with a delta changing three keys, then a
 * later flush (so the damaged flush is known durable).  Returns the
 * crash image of the store; *o its options, m the model, *delta and
 * *commit the offsets in 00000001.log of that delta and of its commit.
 */
static faultio *delta_store(struct lkv_options *o, struct model *m, uint64_t *delta,
			    uint64_t *commit)
{
	faultio *f = faultio_new();
	chain_opts(o, f);
	o->cache_bytes = 256u << 20;
	o->leaf_bytes = 64u << 10;
	o->snapshot_bytes = 1u << 30;           /* the commits stay in the log */
	o->log_file_bytes = 1u << 30;
	lkv_store *s;
	lkv_tree *t, *u;
	assert_int_equal(lkv_open("dmg", o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	assert_int_equal(lkv_tree_open(s, "other", &u), 0);
	char k[16];
	uint8_t v[SVAL];
	for (int i = 0; i < 40; i++) {          /* one leaf of 40 keys */
		assert_int_equal(lkv_put(t, k, skey(k, i), v, sval(v, i, 1), NULL), 0);
		m->ver[i] = 1;
	}
	assert_int_equal(lkv_flush(s, 0), 0);
	/* the delta: key 3 and 7 changed, key 45 new */
	assert_int_equal(lkv_put(t, k, skey(k, 3), v, sval(v, 3, 2), NULL), 0);
	assert_int_equal(lkv_put(t, k, skey(k, 7), v, sval(v, 7, 2), NULL), 0);
	assert_int_equal(lkv_put(t, k, skey(k, 45), v, sval(v, 45, 2), NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	assert_int_equal(lkv_put(u, "x", 1, "y", 1, NULL), 0);      /* a later flush */
	assert_int_equal(lkv_flush(s, 0), 0);
	faultio *img = faultio_crash(f, 1, FAULTIO_DROP_ALL);
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(faultio_free(f), 0);
	struct log_rec r[64];
	int n = log_records(img, "00000001.log", r, 64);
	int d = -1, c = -1;
	for (int i = 0; i < n; i++)
		if (r[i].type == REC_DELTA)
			d = d < 0 ? i : d;
	assert_true(d >= 0);
	for (int i = d + 1; i < n; i++)
		if (r[i].type == REC_COMMIT && r[i].epoch == r[d].epoch)
			c = c < 0 ? i : c;
	assert_true(c >= 0);
	*delta = r[d].off + r[d].len - 8;
	*commit = r[c].off + r[c].len - 8;
	return img;
}

/*
 * After the delta (and, with_commit, its commit record, which a later
 * commit's digest rebuilds) is damaged: the normal open refuses (a live
 * record lost); a salvaging one opens, reads of the leaf fail with -EIO,
 * others do not; lkv_check with repair then reports the two keys of the
 * leaf it changed that it can name and drops them, and reports the leaf's
 * range as partly lost for the third, new in that delta, which nothing
 * names (so that the layer above looks there for what referred to it);
 * every other key of the leaf and of the store reads back as before.
 * The keys are the same whether the commit survived (its entry lists
 * them) or not (the digest does): the leaf is never emptied.
 */
static void damaged_delta(bool with_commit)
{
	struct lkv_options o;
	struct model m = { 0 };
	uint64_t doff, coff;
	faultio *img = delta_store(&o, &m, &doff, &coff);
	assert_int_equal(faultio_corrupt(img, "00000001.log", doff, 0x5a), 0);
	if (with_commit)
		assert_int_equal(faultio_corrupt(img, "00000001.log", coff, 0x5a), 0);

	lkv_store *s;
	lkv_tree *t, *u;
	o.io = faultio_io(img);
	o.flags = 0;
	assert_int_equal(lkv_open("dmg", &o, &s), -EUCLEAN);
	o.flags = LKV_SALVAGE;
	assert_int_equal(lkv_open("dmg", &o, &s), 0);
	struct lkv_stats st;
	lkv_stats(s, &st);
	assert_int_equal(st.rebuilt_commits, with_commit ? 1 : 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	assert_int_equal(lkv_tree_open(s, "other", &u), 0);
	char k[16];
	uint8_t buf[SVAL];
	size_t vl;
	assert_int_equal(lkv_get(t, k, skey(k, 20), buf, sizeof(buf), &vl), -EIO);
	assert_int_equal(lkv_get(u, "x", 1, buf, sizeof(buf), &vl), 0);
	int keys[3] = { 0, 0, 0 };
	assert_int_equal(lkv_check(s, LKV_CHECK_REPAIR, count_damage, keys, NULL), 0);
	assert_int_equal(keys[0], 2);            /* keys 3 and 7, by name */
	assert_int_equal(keys[1], 0);            /* no leaf emptied */
	assert_int_equal(keys[2], 1);            /* key 45: the leaf, partly */
	m.ver[3] = m.ver[7] = 0;                 /* lost */
	check_model(t, &m);                      /* 45 absent, the rest as before */
	assert_int_equal(lkv_tree_count(t), model_keys(&m));
	assert_int_equal(lkv_get(u, "x", 1, buf, sizeof(buf), &vl), 0);
	memset(keys, 0, sizeof(keys));
	assert_int_equal(lkv_check(s, 0, count_damage, keys, NULL), 0);
	assert_int_equal(keys[0] + keys[1] + keys[2], 0);
	assert_int_equal(lkv_close(s), 0);
	o.flags = 0;                             /* repaired: opens normally */
	assert_int_equal(lkv_open("dmg", &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	check_model(t, &m);
	assert_int_equal(lkv_tree_count(t), model_keys(&m));
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(faultio_free(img), 0);
}

static void test_damaged_delta(void **state)
{
	(void)state;
	damaged_delta(false);
}

/* The delta and its commit record both damaged (small records share a
 * region of damage): the digest of a later commit lists its keys. */
static void test_damaged_delta_and_commit(void **state)
{
	(void)state;
	damaged_delta(true);
}

/*
 * A flush that changes more keys of a leaf than a chain link lists
 * (LINK_HASHES_MAX) writes a full image, not a delta: a damaged delta
 * whose keys are not listed would take its whole leaf with it (base and
 * chain, which lie elsewhere), where fsck reads past one that lists them.
 * 32 changed keys of a 300-key leaf make a delta, 33 an image.
 */
static void test_wide_delta_is_image(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	struct lkv_options o;
	chain_opts(&o, f);
	o.cache_bytes = 256u << 20;
	o.leaf_bytes = 1u << 20;                /* one leaf */
	lkv_store *s;
	lkv_tree *t;
	assert_int_equal(lkv_open("wide", &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	char k[16];
	for (int i = 0; i < 300; i++)
		assert_int_equal(lkv_put(t, k, skey(k, i), "v1", 2, NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	struct lkv_stats a, b, c;
	lkv_stats(s, &a);
	for (int i = 0; i < 32; i++)
		assert_int_equal(lkv_put(t, k, skey(k, i * 9), "v2", 2, NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	lkv_stats(s, &b);
	assert_int_equal(b.deltas_written - a.deltas_written, 1);
	for (int i = 0; i < 33; i++)
		assert_int_equal(lkv_put(t, k, skey(k, i * 9), "v3", 2, NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	lkv_stats(s, &c);
	assert_int_equal(c.deltas_written - b.deltas_written, 0);
	assert_int_equal(c.leaves_written - b.leaves_written, 1);
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(faultio_free(f), 0);
}

/* ---- blob ranges ---- */

/* Whether the log of f holds a commit record of epoch e. */
static bool has_commit(faultio *f, uint64_t e)
{
	struct log_rec r[256];
	int n = log_records(f, "00000001.log", r, 256);
	for (int i = 0; i < n; i++)
		if (r[i].type == REC_COMMIT && r[i].epoch == e)
			return true;
	return false;
}

/*
 * A flush that wrote a blob syncs the segment with the log.  A power cut
 * after the log's sync and before the segment's (faultio has no sync_many:
 * the engine syncs the log first) leaves a commit whose blob range is not
 * on the disk: the next open drops that commit, as a torn one, and opens
 * to the epoch before.  A cut after the flush keeps it.
 */
static void test_torn_blob_range(void **state)
{
	(void)state;
	for (int late = 0; late < 2; late++) {
		faultio *f = faultio_new();
		struct lkv_options o;
		chain_opts(&o, f);
		o.blob_threshold = 4096;
		o.log_file_bytes = 64u << 20;
		o.compression_level = 0;
		lkv_store *s;
		lkv_tree *t;
		assert_int_equal(lkv_open("ranges", &o, &s), 0);
		assert_int_equal(lkv_tree_open(s, "main", &t), 0);
		static uint8_t big[20000];
		memset(big, 7, sizeof(big));
		/* a first flush too large to start the log's zeroing ahead,
		 * whose syncs would count below */
		char k[16];
		for (int i = 0; i < 300; i++)
			assert_int_equal(lkv_put(t, k, skey(k, i), big, 1000, NULL), 0);
		assert_int_equal(lkv_put(t, "a", 1, "small", 5, NULL), 0);
		assert_int_equal(lkv_flush(s, 0), 0);
		uint64_t before = lkv_epoch_durable(s), e;
		assert_int_equal(lkv_put(t, "b", 1, big, sizeof(big), &e), 0);
		/* the flush's syncs: the log, then the new segment, then the
		 * directory */
		if (!late)
			faultio_freeze_after_ops(f, FAULTIO_OP_SYNC, 1);
		assert_int_equal(lkv_flush(s, 0), 0);
		faultio *img = faultio_crash(f, 3, FAULTIO_DROP_ALL);
		assert_true(has_commit(img, e));     /* the commit is on the disk */
		assert_int_equal(lkv_close(s), 0);
		assert_int_equal(faultio_free(f), 0);
		o.io = faultio_io(img);
		o.flags = 0;
		assert_int_equal(lkv_open("ranges", &o, &s), 0);
		assert_int_equal(lkv_tree_open(s, "main", &t), 0);
		uint8_t buf[20000];
		size_t vl;
		assert_int_equal(lkv_get(t, "a", 1, buf, sizeof(buf), &vl), 0);
		if (late) {
			assert_int_equal(lkv_get(t, "b", 1, buf, sizeof(buf), &vl), 0);
			assert_memory_equal(buf, big, sizeof(big));
		} else {
			assert_int_equal(lkv_epoch_durable(s), before);
			assert_int_equal(lkv_get(t, "b", 1, buf, sizeof(buf), &vl), -ENOENT);
		}
		assert_int_equal(lkv_close(s), 0);
		assert_int_equal(faultio_free(img), 0);
	}
}

/* ---- a store of format 2 ---- */

static const char *g_format2;        /* tests/kv/data/format2 (argv[1]) */
static char g_log[4096];

static void keep_log(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	size_t n = strlen(g_log);
	snprintf(g_log + n, sizeof(g_log) - n, "%s\n", msg);
}

/* The contents data/format2-gen.c.txt gave the store: k000..k199 of tree
 * a at their last round, k007 deleted; "big" in tree b. */
static void check_format2(lkv_store *s, int extra_round)
{
	lkv_tree *a, *b;
	char k[16], v[32], buf[5000];
	size_t vl;
	assert_int_equal(lkv_tree_open(s, "a", &a), 0);
	assert_int_equal(lkv_tree_open(s, "b", &b), 0);
	for (int i = 0; i < 200; i++) {
		int kl = sprintf(k, "k%03d", i), r = i % 3 == 0 ? 2 : i % 2 == 0 ? 1 : 0;
		if (extra_round && i % 5 == 0)
			r = extra_round;
		int n = sprintf(v, "v%d.%d", i, r);
		int err = lkv_get(a, k, kl, buf, sizeof(buf), &vl);
		if (i == 7 && !(extra_round && i % 5 == 0)) {
			assert_int_equal(err, -ENOENT);
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(vl, n);
		assert_memory_equal(buf, v, n);
	}
	assert_int_equal(lkv_get(b, "big", 3, buf, sizeof(buf), &vl), 0);
	assert_int_equal(vl, 5000);
	assert_true(buf[0] == 'b' && buf[4999] == 'b');
}

/*
 * A store that the release before this one (format 2) left as a crash
 * does: every commit in the log after its first snapshot.  A read-only
 * open reads it as it is; a writable one upgrades it to format 4 (the
 * log's commits replayed by their layout, 0), then its leaves take deltas
 * on their old images; closed and reopened it reads back the same, and
 * lkv_check finds nothing.
 */
static void test_format2_upgrade(void **state)
{
	(void)state;
	char dir[64] = "/tmp/larchkv-f2-XXXXXX", cmd[256], store[96];
	assert_non_null(mkdtemp(dir));
	snprintf(store, sizeof(store), "%s/s", dir);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", g_format2, store);
	assert_int_equal(system(cmd), 0);
	struct lkv_options o;
	lkv_options_default(&o);
	o.flags = LKV_READONLY;
	o.log = keep_log;
	o.leaf_bytes = 512;
	o.blob_threshold = 4096;
	lkv_store *s;
	g_log[0] = 0;
	assert_int_equal(lkv_open(store, &o, &s), 0);
	check_format2(s, 0);
	assert_int_equal(lkv_close(s), 0);
	assert_null(strstr(g_log, "upgraded"));
	o.flags = 0;
	o.flush_interval_ms = 0;
	assert_int_equal(lkv_open(store, &o, &s), 0);
	assert_non_null(strstr(g_log, "store upgraded from format 2 to 4"));
	check_format2(s, 0);
	lkv_tree *a;
	char k[16], v[32];
	assert_int_equal(lkv_tree_open(s, "a", &a), 0);
	for (int i = 0; i < 200; i += 5) {        /* deltas on format-2 images */
		int kl = sprintf(k, "k%03d", i), vl = sprintf(v, "v%d.%d", i, 9);
		assert_int_equal(lkv_put(a, k, kl, v, vl, NULL), 0);
		if (i % 50 == 0)
			assert_int_equal(lkv_flush(s, 0), 0);
	}
	assert_int_equal(lkv_flush(s, 0), 0);
	struct lkv_stats st;
	lkv_stats(s, &st);
	assert_true(st.deltas_written > 0);
	check_format2(s, 9);
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(lkv_open(store, &o, &s), 0);
	check_format2(s, 9);
	struct lkv_check_stats cs;
	assert_int_equal(lkv_check(s, 0, NULL, NULL, &cs), 0);
	assert_int_equal(cs.problems, 0);
	assert_int_equal(lkv_close(s), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * A foreground flush leaves consolidation to the background: flushes of a
 * leaf whose chain passes its soft limit write deltas and queue it; a
 * consolidation's mark (gc_consolidate's) met by a foreground flush
 * writes nothing and leaves it queued; the flusher may consolidate only
 * CONS_QUIET_MS after the last foreground flush; gc_consolidate's own
 * (background) flush writes the image.  No flusher thread here: the
 * test calls gc_consolidate itself.
 */
static void test_consolidation_background(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	struct lkv_options o;
	chain_opts(&o, f);
	o.cache_bytes = 1u << 20;
	lkv_store *s;
	lkv_tree *t;
	assert_int_equal(lkv_open("cons", &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	char k[16];
	uint8_t v[SVAL];
	for (int i = 0; i < 8; i++)              /* one leaf */
		assert_int_equal(lkv_put(t, k, skey(k, i), v, sval(v, i, 1), NULL), 0);
	assert_int_equal(lkv_flush(s, 0), 0);
	struct leaf *l = t->v[0];
	assert_int_equal(t->n, 1);
	for (int ver = 2; ver < 2 + 20 && !leaf_chain_long(l); ver++) {
		assert_int_equal(lkv_put(t, k, skey(k, 3), v, sval(v, 3, ver), NULL), 0);
		assert_int_equal(lkv_flush(s, 0), 0);
	}
	struct lkv_stats st;
	lkv_stats(s, &st);
	assert_true(leaf_chain_long(l));         /* past the soft limit ... */
	assert_int_equal(st.consolidations, 0);  /* ... in deltas */
	assert_true(l->queued);
	uint32_t links = l->nchain;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	assert_true(consolidation_due(s) > now);  /* a foreground flush just ran */

	leaf_ref(l);                              /* the mark, then an fsync's flush */
	assert_int_equal(cache_load(s, l), 0);
	assert_int_equal(batch_mark_consolidate(s, l), 0);
	cache_release(l);
	assert_int_equal(lkv_flush(s, 0), 0);
	lkv_stats(s, &st);
	assert_int_equal(st.consolidations, 0);
	assert_int_equal(l->nchain, links);
	assert_true(l->queued);

	assert_int_equal(gc_consolidate(s), 0);   /* the flusher's turn */
	lkv_stats(s, &st);
	assert_int_equal(st.consolidations, 1);
	assert_int_equal(l->nchain, 0);
	assert_false(l->queued);
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(lkv_open("cons", &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", &t), 0);
	uint8_t buf[SVAL];
	size_t vl;
	assert_int_equal(lkv_get(t, k, skey(k, 3), buf, sizeof(buf), &vl), 0);
	assert_int_equal(lkv_close(s), 0);
	assert_int_equal(faultio_free(f), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_model),
		cmocka_unit_test(test_splice_small),
		cmocka_unit_test(test_chains_model),
		cmocka_unit_test(test_damaged_delta),
		cmocka_unit_test(test_damaged_delta_and_commit),
		cmocka_unit_test(test_wide_delta_is_image),
		cmocka_unit_test(test_torn_blob_range),
		cmocka_unit_test(test_format2_upgrade),
		cmocka_unit_test(test_consolidation_background),
	};
	g_format2 = argc > 1 ? argv[1] : "tests/kv/data/format2";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
