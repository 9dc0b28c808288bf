/* SPDX-License-Identifier: MIT */
/*
 * kv-bench adapter for larchkv (kv/larchkv.h).
 *
 * One store with one tree ("bench"), the engine's default options except
 * the leaf cache budget.  put is lkv_put (a single-operation batch); sync is
 * lkv_flush(s, 0), which seals the current epoch and returns once its
 * commit record is fsynced; put_durable is lkv_put then lkv_flush through
 * the epoch that put was stamped with.  scan is one iterator over the whole
 * tree.  gc (after the large overwrites) is lkv_gc, which empties every
 * segment and log file holding dead bytes and waits until they are gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "larchkv.h"
#include "bench.h"

#define LARCH_TREE "bench"

struct larch_handle {
	lkv_store *s;
	lkv_tree  *t;
};

static int larch_fail(const char *what, int rc)
{
	fprintf(stderr, "larch: %s: %s\n", what, strerror(-rc));
	return rc;
}

static int larch_open(const char *dir, const struct engine_conf *c, void **h)
{
	struct larch_handle *l = calloc(1, sizeof(*l));
	struct lkv_options o;
	int rc;

	if (!l)
		return -ENOMEM;
	lkv_options_default(&o);
	o.flags = LKV_CREATE;
	o.cache_bytes = c->cache_bytes;
	if ((rc = lkv_open(dir, &o, &l->s))) {
		free(l);
		return larch_fail("lkv_open", rc);
	}
	if ((rc = lkv_tree_open(l->s, LARCH_TREE, &l->t))) {
		lkv_close(l->s);
		free(l);
		return larch_fail("lkv_tree_open", rc);
	}
	*h = l;
	return 0;
}

static int larch_put(void *h, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	struct larch_handle *l = h;
	int rc = lkv_put(l->t, key, klen, val, vlen, NULL);

	return rc < 0 ? larch_fail("lkv_put", rc) : 0;
}

static int larch_put_durable(void *h, const void *key, size_t klen,
			     const void *val, size_t vlen)
{
	struct larch_handle *l = h;
	uint64_t epoch;
	int rc = lkv_put(l->t, key, klen, val, vlen, &epoch);

	if (rc < 0)
		return larch_fail("lkv_put", rc);
	rc = lkv_flush(l->s, epoch);
	return rc < 0 ? larch_fail("lkv_flush", rc) : 0;
}

static int larch_get(void *h, const void *key, size_t klen,
		     void *buf, size_t cap, size_t *vlen)
{
	struct larch_handle *l = h;
	int rc = lkv_get(l->t, key, klen, buf, cap, vlen);

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? larch_fail("lkv_get", rc) : 1;
}

static int larch_scan(void *h, scan_fn fn, void *arg)
{
	struct larch_handle *l = h;
	const void *k, *v;
	size_t klen, vlen;
	lkv_iter *it;
	int rc, stop = 0;

	if ((rc = lkv_iter_open(l->t, NULL, 0, NULL, 0, 0, &it)))
		return larch_fail("lkv_iter_open", rc);
	while (!stop && (rc = lkv_iter_next(it, &k, &klen, &v, &vlen)) == 1)
		stop = fn(arg, k, klen, v, vlen);
	lkv_iter_close(it);
	if (stop)
		return stop;
	return rc < 0 ? larch_fail("lkv_iter_next", rc) : 0;
}

static int larch_sync(void *h)
{
	struct larch_handle *l = h;
	int rc = lkv_flush(l->s, 0);

	return rc < 0 ? larch_fail("lkv_flush", rc) : 0;
}

static int larch_gc(void *h)
{
	struct larch_handle *l = h;
	int rc = lkv_gc(l->s);

	return rc < 0 ? larch_fail("lkv_gc", rc) : 0;
}

static void larch_report(void *h, FILE *f)
{
	struct larch_handle *l = h;
	struct lkv_stats st;
	double mib = 1024.0 * 1024.0;

	lkv_stats(l->s, &st);
	fprintf(f,
		"larch stats (lkv_stats; counters since the store was last "
		"opened):\n"
		"  cache hits %llu misses %llu (%.1f%% hit), "
		"bloom skips %llu, evictions %llu\n"
		"  leaves %llu (resident %llu), read %llu, written %llu\n"
		"  bytes read %.1f MiB, written %.1f MiB (raw leaf %.1f MiB, "
		"compression %.2fx)\n"
		"  flushes %llu, mean %.2f ms, max %.2f ms; snapshots %llu\n"
		"  checksum failures %llu\n"
		"  cache %.1f MiB, dirty %.1f MiB; epoch %llu, durable %llu\n"
		"  disk %.1f MiB, live %.1f MiB (space amp %.2fx)\n"
		"  blobs: live %.1f MiB, segments %llu holding %.1f MiB; "
		"written %.1f MiB, read %.1f MiB; gc runs %llu, moved %.1f MiB\n",
		(unsigned long long)st.cache_hits,
		(unsigned long long)st.cache_misses,
		st.cache_hits + st.cache_misses ?
			100.0 * st.cache_hits / (st.cache_hits + st.cache_misses) : 0,
		(unsigned long long)st.bloom_skips,
		(unsigned long long)st.evictions,
		(unsigned long long)st.leaves,
		(unsigned long long)st.resident_leaves,
		(unsigned long long)st.leaves_read,
		(unsigned long long)st.leaves_written,
		st.bytes_read / mib, st.bytes_written / mib,
		st.raw_bytes_written / mib,
		st.bytes_written ? (double)st.raw_bytes_written / st.bytes_written : 0,
		(unsigned long long)st.flushes,
		st.flushes ? st.flush_ns_total / 1e6 / st.flushes : 0,
		st.flush_ns_max / 1e6,
		(unsigned long long)st.snapshots,
		(unsigned long long)st.checksum_failures,
		st.cache_bytes / mib, st.dirty_bytes / mib,
		(unsigned long long)st.epoch,
		(unsigned long long)st.durable_epoch,
		st.disk_bytes / mib, st.live_bytes / mib,
		st.live_bytes ? (double)st.disk_bytes / st.live_bytes : 0,
		st.blob_live_bytes / mib, (unsigned long long)st.segments,
		st.blob_disk_bytes / mib, st.blob_bytes_written / mib,
		st.blob_bytes_read / mib, (unsigned long long)st.gc_runs,
		st.gc_bytes_moved / mib);
}

static int larch_close(void *h)
{
	struct larch_handle *l = h;
	int rc = lkv_close(l->s);

	free(l);
	return rc < 0 ? larch_fail("lkv_close", rc) : 0;
}

const struct engine engine_larch = {
	.name = "larch",
	.open = larch_open,
	.put = larch_put,
	.put_durable = larch_put_durable,
	.get = larch_get,
	.scan = larch_scan,
	.sync = larch_sync,
	.gc = larch_gc,
	.report = larch_report,
	.close = larch_close,
	.notes = "larch: lkv_put per key, one lkv_flush(s, 0) at the end; "
		 "default options except cache_bytes (so blob_threshold "
		 "32 KiB, 256 MiB segments, zstd tried on a 4 KiB sample)",
};
