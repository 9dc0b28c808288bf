/* SPDX-License-Identifier: MIT */
/*
 * kv-bench adapter for LMDB.
 *
 * Follows the LMDB port of db_bench: a 64 GiB map, and for the bulk fills
 * MDB_NOSYNC|MDB_NOMETASYNC with puts grouped into write transactions of
 * LMDB_BATCH puts (a transaction per put would measure LMDB's commit path,
 * not its tree), or fewer when their values reach LMDB_BATCH_BYTES: LMDB
 * keeps a transaction's dirty pages in memory, and 1000 values of 1 MiB
 * would be a 1 GiB transaction.  Values too big for a leaf page go to
 * overflow pages (runs of contiguous pages, reused from the freelist).
 * sync commits the open batch and calls mdb_env_sync(force).
 * put_durable switches the sync flags off and commits one transaction per
 * put, which fdatasyncs the data and then the meta page.
 *
 * Reads run in one long read-only transaction (renewed after writes), as
 * the LMDB port does; LMDB has no cache of its own: it reads through the
 * mmap, so the cache budget is ignored.  No MDB_APPEND for fillseq: the
 * other engines have no such hint either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <lmdb.h>

#include "bench.h"

#define LMDB_MAP_SIZE (64ull << 30)
#define LMDB_BATCH    1000u
#define LMDB_BATCH_BYTES (64u << 20)   /* and at most this much value data */

struct lmdb_handle {
	MDB_env  *env;
	MDB_dbi   dbi;
	MDB_txn  *wtxn;         /* open write batch, or NULL */
	unsigned  wtxn_puts;
	size_t    wtxn_bytes;
	MDB_txn  *rtxn;         /* read txn, live when rtxn_live */
	bool      rtxn_live;
	bool      nosync;       /* MDB_NOSYNC|MDB_NOMETASYNC currently set */
};

/* Prints LMDB's message for rc and maps it to a negative errno. */
static int lmdb_fail(const char *what, int rc)
{
	fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
	return rc > 0 && rc < 1000 ? -rc : -EIO;
}

static int lmdb_set_nosync(struct lmdb_handle *l, bool on)
{
	int rc;

	if (l->nosync == on)
		return 0;
	rc = mdb_env_set_flags(l->env, MDB_NOSYNC | MDB_NOMETASYNC, on);
	if (rc)
		return lmdb_fail("mdb_env_set_flags", rc);
	l->nosync = on;
	return 0;
}

/* Ends the read transaction so this thread may write. */
static void lmdb_end_read(struct lmdb_handle *l)
{
	if (l->rtxn_live) {
		mdb_txn_reset(l->rtxn);
		l->rtxn_live = false;
	}
}

/* Commits the open write batch, if any (without sync under NOSYNC). */
static int lmdb_commit_batch(struct lmdb_handle *l)
{
	int rc;

	if (!l->wtxn)
		return 0;
	rc = mdb_txn_commit(l->wtxn);
	l->wtxn = NULL;
	l->wtxn_puts = 0;
	l->wtxn_bytes = 0;
	return rc ? lmdb_fail("mdb_txn_commit", rc) : 0;
}

/* A read transaction that sees every put so far. */
static int lmdb_begin_read(struct lmdb_handle *l)
{
	int rc = lmdb_commit_batch(l);

	if (rc || l->rtxn_live)
		return rc;
	rc = l->rtxn ? mdb_txn_renew(l->rtxn)
		     : mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn);
	if (rc)
		return lmdb_fail("read txn", rc);
	l->rtxn_live = true;
	return 0;
}

static int lmdb_open(const char *dir, const struct engine_conf *c, void **h)
{
	struct lmdb_handle *l = calloc(1, sizeof(*l));
	MDB_txn *txn;
	int rc;

	(void)c;
	if (!l)
		return -ENOMEM;
	if ((rc = mdb_env_create(&l->env)) ||
	    (rc = mdb_env_set_mapsize(l->env, LMDB_MAP_SIZE)) ||
	    (rc = mdb_env_open(l->env, dir, MDB_NOSYNC | MDB_NOMETASYNC, 0644))) {
		rc = lmdb_fail("open", rc);
		goto fail;
	}
	l->nosync = true;
	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)))  {
		rc = lmdb_fail("mdb_txn_begin", rc);
		goto fail;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) ||
	    (rc = mdb_txn_commit(txn))) {
		rc = lmdb_fail("mdb_dbi_open", rc);
		goto fail;
	}
	*h = l;
	return 0;
fail:
	if (l->env)
		mdb_env_close(l->env);
	free(l);
	return rc;
}

static int lmdb_put(void *h, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	struct lmdb_handle *l = h;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int rc;

	if (!l->wtxn) {
		lmdb_end_read(l);
		if ((rc = lmdb_set_nosync(l, true)))
			return rc;
		if ((rc = mdb_txn_begin(l->env, NULL, 0, &l->wtxn)))
			return lmdb_fail("mdb_txn_begin", rc);
	}
	if ((rc = mdb_put(l->wtxn, l->dbi, &k, &v, 0)))
		return lmdb_fail("mdb_put", rc);
	l->wtxn_bytes += vlen;
	if (++l->wtxn_puts >= LMDB_BATCH || l->wtxn_bytes >= LMDB_BATCH_BYTES)
		return lmdb_commit_batch(l);
	return 0;
}

static int lmdb_put_durable(void *h, const void *key, size_t klen,
			    const void *val, size_t vlen)
{
	struct lmdb_handle *l = h;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	MDB_txn *txn;
	int rc;

	lmdb_end_read(l);
	if ((rc = lmdb_commit_batch(l)) || (rc = lmdb_set_nosync(l, false)))
		return rc;
	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)))
		return lmdb_fail("mdb_txn_begin", rc);
	if ((rc = mdb_put(txn, l->dbi, &k, &v, 0))) {
		mdb_txn_abort(txn);
		return lmdb_fail("mdb_put", rc);
	}
	if ((rc = mdb_txn_commit(txn)))
		return lmdb_fail("mdb_txn_commit", rc);
	return 0;
}

static int lmdb_get(void *h, const void *key, size_t klen,
		    void *buf, size_t cap, size_t *vlen)
{
	struct lmdb_handle *l = h;
	MDB_val k = { klen, (void *)key }, v;
	int rc;

	if ((rc = lmdb_begin_read(l)))
		return rc;
	rc = mdb_get(l->rtxn, l->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_fail("mdb_get", rc);
	memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
	*vlen = v.mv_size;
	return 1;
}

static int lmdb_scan(void *h, scan_fn fn, void *arg)
{
	struct lmdb_handle *l = h;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, stop = 0;

	if ((rc = lmdb_begin_read(l)))
		return rc;
	if ((rc = mdb_cursor_open(l->rtxn, l->dbi, &cur)))
		return lmdb_fail("mdb_cursor_open", rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		stop = fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
	mdb_cursor_close(cur);
	if (stop)
		return stop;
	return rc == MDB_NOTFOUND ? 0 : lmdb_fail("mdb_cursor_get", rc);
}

static int lmdb_sync(void *h)
{
	struct lmdb_handle *l = h;
	int rc = lmdb_commit_batch(l);

	if (rc)
		return rc;
	rc = mdb_env_sync(l->env, 1);
	return rc ? lmdb_fail("mdb_env_sync", rc) : 0;
}

static void lmdb_report(void *h, FILE *f)
{
	struct lmdb_handle *l = h;
	MDB_stat st;
	MDB_envinfo info;

	mdb_env_stat(l->env, &st);
	mdb_env_info(l->env, &info);
	fprintf(f, "lmdb: depth %u, branch pages %zu, leaf pages %zu, "
		"overflow pages %zu, entries %zu, last page %zu\n",
		st.ms_depth, st.ms_branch_pages, st.ms_leaf_pages,
		st.ms_overflow_pages, st.ms_entries, info.me_last_pgno);
}

static int lmdb_close(void *h)
{
	struct lmdb_handle *l = h;
	int rc = lmdb_sync(l);

	if (l->rtxn)
		mdb_txn_abort(l->rtxn);
	mdb_env_close(l->env);
	free(l);
	return rc;
}

const struct engine engine_lmdb = {
	.name = "lmdb",
	.open = lmdb_open,
	.put = lmdb_put,
	.put_durable = lmdb_put_durable,
	.get = lmdb_get,
	.scan = lmdb_scan,
	.sync = lmdb_sync,
	.report = lmdb_report,
	.close = lmdb_close,
	.notes = "lmdb: fills batch 1000 puts per write txn under "
		 "MDB_NOSYNC|MDB_NOMETASYNC (or 64 MiB of values), then "
		 "mdb_env_sync(force); "
		 "reads in one read txn; no cache limit (mmap)",
};
