/* SPDX-License-Identifier: MIT */
/*
 * kv-bench adapter for RocksDB, through its C API (rocksdb/c.h).
 *
 * Default options plus: create_if_missing, an LRU block cache of the
 * configured size, a 10 bits/key bloom filter, LZ4 compression (the packaged
 * build has it; db_bench's default is snappy), and the integrated blob
 * files (BlobDB; rocksdb_options_set_enable_blob_files and friends are in
 * the packaged 7.8.3's C API) set up like larchkv's blob segments: values
 * of 32 KiB and more go to blob files of 256 MiB, with blob GC on (in
 * compactions, RocksDB's default age cutoff of 25%) and blob compression
 * off (RocksDB's default; the large values are incompressible, and RocksDB
 * would run its compressor over every whole blob).  Smaller values, as in
 * the db_bench workloads, stay in the SSTs as before.  Index and filter
 * blocks stay outside the block cache (RocksDB's default), as larchkv's
 * inner nodes stay outside its leaf cache.  Writes go through the WAL with
 * sync=false; sync is FlushWAL(sync=true), which fsyncs the WAL: the same
 * durability as one final lkv_flush.  put_durable is a Put with
 * WriteOptions.sync=true.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "bench.h"

#define ROCKSDB_BLOOM_BITS 10
#define ROCKSDB_MIN_BLOB   (32u << 10)     /* larchkv's blob_threshold */
#define ROCKSDB_BLOB_FILE  (256ull << 20)  /* larchkv's blob_segment_bytes */

struct rocksdb_handle {
	rocksdb_t                          *db;
	rocksdb_options_t                  *opts;
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t                    *cache;
	rocksdb_writeoptions_t             *wopts, *wopts_sync;
	rocksdb_readoptions_t              *ropts;
};

/* Prints and frees RocksDB's error string; returns -EIO. */
static int rocksdb_fail(const char *what, char *err)
{
	fprintf(stderr, "rocksdb: %s: %s\n", what, err);
	rocksdb_free(err);
	return -EIO;
}

static void rocksdb_free_handle(struct rocksdb_handle *r)
{
	if (r->db)
		rocksdb_close(r->db);
	if (r->wopts)
		rocksdb_writeoptions_destroy(r->wopts);
	if (r->wopts_sync)
		rocksdb_writeoptions_destroy(r->wopts_sync);
	if (r->ropts)
		rocksdb_readoptions_destroy(r->ropts);
	if (r->opts)
		rocksdb_options_destroy(r->opts);
	if (r->table)
		rocksdb_block_based_options_destroy(r->table);
	if (r->cache)
		rocksdb_cache_destroy(r->cache);
	free(r);
}

static int rocksdb_open_store(const char *dir, const struct engine_conf *c,
			      void **h)
{
	struct rocksdb_handle *r = calloc(1, sizeof(*r));
	char *err = NULL;

	if (!r)
		return -ENOMEM;
	r->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->opts, 1);
	rocksdb_options_set_compression(r->opts, rocksdb_lz4_compression);
	rocksdb_options_set_enable_blob_files(r->opts, 1);
	rocksdb_options_set_min_blob_size(r->opts, ROCKSDB_MIN_BLOB);
	rocksdb_options_set_blob_file_size(r->opts, ROCKSDB_BLOB_FILE);
	rocksdb_options_set_blob_compression_type(r->opts,
						  rocksdb_no_compression);
	rocksdb_options_set_enable_blob_gc(r->opts, 1);

	r->cache = rocksdb_cache_create_lru(c->cache_bytes);
	r->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(r->table, r->cache);
	rocksdb_block_based_options_set_filter_policy(r->table,
		rocksdb_filterpolicy_create_bloom_full(ROCKSDB_BLOOM_BITS));
	rocksdb_options_set_block_based_table_factory(r->opts, r->table);

	r->wopts = rocksdb_writeoptions_create();
	r->wopts_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wopts_sync, 1);
	r->ropts = rocksdb_readoptions_create();

	r->db = rocksdb_open(r->opts, dir, &err);
	if (err) {
		rocksdb_free_handle(r);
		return rocksdb_fail("open", err);
	}
	*h = r;
	return 0;
}

static int rocksdb_put_one(void *h, const void *key, size_t klen,
			   const void *val, size_t vlen)
{
	struct rocksdb_handle *r = h;
	char *err = NULL;

	rocksdb_put(r->db, r->wopts, key, klen, val, vlen, &err);
	return err ? rocksdb_fail("put", err) : 0;
}

static int rocksdb_put_durable(void *h, const void *key, size_t klen,
			       const void *val, size_t vlen)
{
	struct rocksdb_handle *r = h;
	char *err = NULL;

	rocksdb_put(r->db, r->wopts_sync, key, klen, val, vlen, &err);
	return err ? rocksdb_fail("put (sync)", err) : 0;
}

static int rocksdb_get_one(void *h, const void *key, size_t klen,
			   void *buf, size_t cap, size_t *vlen)
{
	struct rocksdb_handle *r = h;
	rocksdb_pinnableslice_t *ps;
	const char *v;
	char *err = NULL;
	size_t len;

	ps = rocksdb_get_pinned(r->db, r->ropts, key, klen, &err);
	if (err)
		return rocksdb_fail("get", err);
	if (!ps)
		return 0;
	v = rocksdb_pinnableslice_value(ps, &len);
	memcpy(buf, v, len < cap ? len : cap);
	*vlen = len;
	rocksdb_pinnableslice_destroy(ps);
	return 1;
}

static int rocksdb_scan(void *h, scan_fn fn, void *arg)
{
	struct rocksdb_handle *r = h;
	rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, r->ropts);
	char *err = NULL;
	int stop = 0;

	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && !stop;
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		stop = fn(arg, k, klen, v, vlen);
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (err)
		return rocksdb_fail("iterator", err);
	return stop;
}

static int rocksdb_sync(void *h)
{
	struct rocksdb_handle *r = h;
	char *err = NULL;

	rocksdb_flush_wal(r->db, 1, &err);
	return err ? rocksdb_fail("FlushWAL(sync)", err) : 0;
}

/* Flushes the memtable to an SST file, then polls RocksDB's properties
 * until no flush or compaction runs or is due: reads then see the settled
 * store a reopened RocksDB would show, not a memtable full of the last
 * writes (the kinder choice for RocksDB). */
static void rocksdb_quiesce(void *h)
{
	static const char *const busy[] = {
		"rocksdb.num-running-flushes",
		"rocksdb.num-running-compactions",
		"rocksdb.compaction-pending",
		"rocksdb.mem-table-flush-pending",
	};
	struct rocksdb_handle *r = h;
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char *err = NULL;

	rocksdb_flushoptions_set_wait(fo, 1);
	rocksdb_flush(r->db, fo, &err);
	rocksdb_flushoptions_destroy(fo);
	if (err)
		rocksdb_fail("flush", err);
	for (int tries = 0; tries < 60 * 100; tries++) {
		uint64_t sum = 0, v;

		for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
			if (rocksdb_property_int(r->db, busy[i], &v) == 0)
				sum += v;
		if (sum == 0)
			return;
		usleep(10000);
	}
}

static void rocksdb_report(void *h, FILE *f)
{
	struct rocksdb_handle *r = h;
	char *levels = rocksdb_property_value(r->db, "rocksdb.levelstats");

	static const char *const blob[] = {
		"rocksdb.num-blob-files",
		"rocksdb.total-blob-file-size",
		"rocksdb.live-blob-file-size",
	};

	if (levels) {
		fprintf(f, "rocksdb level stats:\n%s", levels);
		rocksdb_free(levels);
	}
	fprintf(f, "rocksdb blob files (enable_blob_files %d, min_blob_size "
		"%llu, enable_blob_gc %d):",
		rocksdb_options_get_enable_blob_files(r->opts),
		(unsigned long long)rocksdb_options_get_min_blob_size(r->opts),
		rocksdb_options_get_enable_blob_gc(r->opts));
	for (size_t i = 0; i < sizeof(blob) / sizeof(blob[0]); i++) {
		uint64_t v;

		if (rocksdb_property_int(r->db, blob[i], &v) == 0)
			fprintf(f, " %s %llu", blob[i] + 8, (unsigned long long)v);
	}
	fputc('\n', f);
}

static int rocksdb_close_store(void *h)
{
	struct rocksdb_handle *r = h;
	int rc = rocksdb_sync(r);

	rocksdb_free_handle(r);
	return rc;
}

const struct engine engine_rocksdb = {
	.name = "rocksdb",
	.open = rocksdb_open_store,
	.put = rocksdb_put_one,
	.put_durable = rocksdb_put_durable,
	.get = rocksdb_get_one,
	.scan = rocksdb_scan,
	.sync = rocksdb_sync,
	.quiesce = rocksdb_quiesce,
	.report = rocksdb_report,
	.close = rocksdb_close_store,
	.notes = "rocksdb: WAL on, sync=false puts then FlushWAL(sync=true); "
		 "LRU block cache, bloom 10 bits/key, LZ4; memtable flushed "
		 "and compactions drained (untimed) before reads;\n"
		 "    integrated blob files ON: enable_blob_files, "
		 "min_blob_size 32 KiB, blob_file_size 256 MiB, "
		 "enable_blob_gc (age cutoff 0.25), blob compression off",
};
