/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of the location table: the record that lets an open start from
 * a recent epoch instead of replaying the whole log.
 *
 * Snapshot body (REC_SNAPSHOT, in file snap-<epoch as 16 hex digits>):
 *   u64 epoch, u64 chain, u64 next leaf id, u32 next tree id,
 *   u32 log file, u64 log offset   (where replay of later commits starts)
 *   u32 n, n × { u32 tree id, varint+bytes name }
 *   u64 n, n × location entry
 *   u32 n, n × { u32 segment, u64 live blob bytes }
 *
 * A snapshot file holds one REC_SNAPSHOT record (record.c) and nothing
 * else; it is valid iff the record verifies, its epoch matches the file's
 * name and the table's, and the body decodes exactly to its end.
 *
 * Every snapshot_bytes of log the flush writes a new one (temporary name,
 * sync, rename, directory sync).  The two newest are kept (the older is the
 * fallback should the newer be damaged), and so is every log file from the
 * older one's replay start on, or that holds a live leaf.  An open loads
 * the newest snapshot that verifies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define TREE_NAME_MAX 255
#define SNAP_RETRY_MS 1000       /* pause after a failed snapshot */

/* ---- the body ---- */

void snapshot_encode(const struct loctable *lt, struct buf *out)
{
	buf_u64(out, lt->epoch);
	buf_u64(out, lt->chain);
	buf_u64(out, lt->next_leaf_id);
	buf_u32(out, lt->next_tree_id);
	buf_u32(out, lt->log_file);
	buf_u64(out, lt->log_off);
	trees_encode(lt->trees, lt->ntrees, out);
	buf_u64(out, lt->n);
	for (size_t i = 0; i < lt->cap; i++)
		if (lt->slot[i])
			loc_ent_encode(lt->slot[i], out);
	buf_u32(out, lt->nsegs);
	for (size_t i = 0; i < lt->nsegs; i++) {
		buf_u32(out, lt->segs[i].no);
		buf_u64(out, lt->segs[i].live);
	}
}

/* Loads a snapshot body into an empty table. */
int snapshot_decode(struct loctable *lt, const uint8_t *body, size_t len)
{
	struct rd r = rd_init(body, len);
	lt->epoch = rd_u64(&r);
	lt->chain = rd_u64(&r);
	lt->next_leaf_id = rd_u64(&r);
	lt->next_tree_id = rd_u32(&r);
	lt->log_file = rd_u32(&r);
	lt->log_off = rd_u64(&r);
	if (r.bad || lt->log_file == 0)
		return -EUCLEAN;
	int err = trees_decode(lt, &r, true);
	uint64_t n = err ? 0 : rd_u64(&r);
	for (uint64_t i = 0; i < n && !err; i++) {
		struct loc_ent *e;
		err = loc_ent_decode(&r, &e);
		if (!err && loctable_get(lt, e->leaf_id)) {
			loc_ent_free(e);
			err = -EUCLEAN;
		} else if (!err) {
			err = loctable_put(lt, e);
		}
	}
	uint32_t nsegs = err ? 0 : rd_u32(&r);
	for (uint32_t i = 0; i < nsegs && !err && !r.bad; i++) {
		uint32_t no = rd_u32(&r);
		uint64_t live = rd_u64(&r);
		if (no == 0 || loctable_seg_find(lt, no))
			err = -EUCLEAN;
		struct lt_file *f = err ? NULL : loctable_seg(lt, no);
		if (!err && !f)
			err = -ENOMEM;
		if (f)
			f->live = live;
	}
	if (!err && (r.bad || rd_left(&r)))
		err = -EUCLEAN;
	return err;
}

/* ---- writing, and dropping what it made obsolete ---- */

/* The snapshot epochs and log file numbers in the directory. */
struct obsolete {
	uint64_t *snaps;
	size_t nsnaps;
	uint32_t *logs;
	size_t nlogs;
};

static int push64(uint64_t **v, size_t *n, uint64_t x)
{
	uint64_t *p = realloc(*v, (*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*v = p;
	p[(*n)++] = x;
	return 0;
}

static int note_file(void *arg, const struct file_id *id, bool tmp, const char *name)
{
	struct obsolete *o = arg;
	(void)name;
	if (!id || tmp)
		return 0;
	if (id->kind == FILE_SNAP)
		return push64(&o->snaps, &o->nsnaps, id->no);
	if (id->kind == FILE_LOG) {
		uint32_t *p = realloc(o->logs, (o->nlogs + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		o->logs = p;
		p[o->nlogs++] = (uint32_t)id->no;
	}
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void unlink_logged(lkv_store *s, enum file_kind kind, uint64_t no)
{
	char name[FILE_NAME_MAX];
	file_name(name, kind, no);
	if (s->io->ops->unlink(s->io, name))
		store_log(s, LKV_LOG_WARN, "cannot delete obsolete file %s", name);
}

/*
 * Keeps the two newest snapshots (the older one is the fallback should the
 * newer be damaged) and deletes the rest, then the log files that neither
 * snapshot's replay starts at or after and that hold no live leaf.
 * Failures only cost disk space: logged.
 */
static void drop_obsolete(lkv_store *s)
{
	struct obsolete o = { 0 };
	files_list(s->io, note_file, &o);
	qsort(o.snaps, o.nsnaps, sizeof(*o.snaps), cmp_desc);
	for (size_t i = 2; i < o.nsnaps; i++)
		unlink_logged(s, FILE_SNAP, o.snaps[i]);
	for (size_t i = 0; i < o.nlogs; i++) {
		uint32_t no = o.logs[i];
		if (no < s->keep_log_from && !loctable_file_live(&s->lt, no)) {
			store_file_forget(s, FILE_LOG, no);
			unlink_logged(s, FILE_LOG, no);
		}
	}
	free(o.snaps);
	free(o.logs);
}

/*
 * Writes the location table as of the last durable epoch to a new snapshot
 * file (temporary name, sync, rename, sync directory), then drops what it
 * made obsolete.  Caller holds flush_mu (or is opening the store).  A
 * failure costs nothing but a longer replay at the next open: logged and
 * returned, the store goes on.
 */
int snapshot_write(lkv_store *s)
{
	struct buf body = { 0 }, rec = { 0 };
	char name[FILE_NAME_MAX];
	uint64_t csum;
	file_name(name, FILE_SNAP, s->lt.epoch);
	snapshot_encode(&s->lt, &body);
	int err = body.oom ? -ENOMEM : record_append(&rec, REC_SNAPSHOT, s->lt.epoch, body.p,
						    body.len, s->cctx, s->o.compression_level,
						    &csum);
	if (!err)
		err = file_write_whole(s->io, name, rec.p, rec.len);
	buf_free(&body);
	buf_free(&rec);
	if (err) {
		store_log(s, LKV_LOG_WARN, "writing snapshot %s failed: %s (it is tried again "
			  "later; until then opening replays more of the log)", name,
			  strerror(-err));
		return err;
	}
	STAT_ADD(s, st_snaps, 1);
	STAT_ADD(s, st_bwritten, rec.len);
	s->since_snapshot = 0;
	s->keep_log_from = s->snap_log_file;
	s->snap_log_file = s->lt.log_file;
	drop_obsolete(s);
	return 0;
}

/* Writes a snapshot now unless one failed less than SNAP_RETRY_MS ago
 * (the disk may be full: do not encode the whole table at every flush). */
void snapshot_due(lkv_store *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (now < s->snap_retry_ns)
		return;
	if (snapshot_write(s))
		s->snap_retry_ns = now + SNAP_RETRY_MS * 1000000ull;
}

/* ---- loading ---- */

/* Reads snapshot `epoch` into the empty table lt (freed again on an
 * error): -EUCLEAN when it does not verify. */
static int read_snapshot(lkv_store *s, uint64_t epoch, struct loctable *lt)
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	uint64_t size = 0;
	struct rec_hdr h;
	uint8_t *rec = NULL, *raw = NULL;
	file_name(name, FILE_SNAP, epoch);
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	err = s->io->ops->size(f, &size);
	if (!err)
		err = record_read(s, f, 0, size, &h, &rec);
	if (err == -ENODATA)
		err = -EUCLEAN;               /* not a whole valid record */
	s->io->ops->close(f);
	if (!err && (h.type != REC_SNAPSHOT || h.epoch != epoch || size != REC_HDR + h.stored_len))
		err = -EUCLEAN;
	if (!err)
		err = record_open(rec, &h, &raw);
	if (!err)
		err = snapshot_decode(lt, raw, h.raw_len);
	if (!err && lt->epoch != epoch)
		err = -EUCLEAN;
	free(rec);
	free(raw);
	if (err)
		loctable_free(lt);
	return err;
}

static int load_snapshot(lkv_store *s, uint64_t epoch)
{
	int err = read_snapshot(s, epoch, &s->lt);
	if (err && err != -ENOMEM) {
		char name[FILE_NAME_MAX];
		file_name(name, FILE_SNAP, epoch);
		store_log(s, LKV_LOG_WARN, "snapshot %s is damaged (%s); trying an older one",
			  name, strerror(-err));
	}
	return err;
}

/*
 * For lkv_check: verifies every snapshot file the directory holds, calling
 * bad(arg, name, error) for each that does not verify; with `repair`, a
 * damaged one is deleted and a snapshot of the table as it is now is
 * written in its stead (the fallback it was is then the other one).
 * Returns the number damaged, or a negative errno.  Caller holds flush_mu.
 */
int snapshot_check(lkv_store *s, bool repair, void (*bad)(void *, const char *, int), void *arg)
{
	struct obsolete o = { 0 };
	int err = files_list(s->io, note_file, &o), nbad = 0;
	for (size_t i = 0; i < o.nsnaps && !err; i++) {
		struct loctable lt;
		loctable_init(&lt);
		int e = read_snapshot(s, o.snaps[i], &lt);
		loctable_free(&lt);
		if (e == -ENOMEM || e == -EIO)
			err = e;
		if (e != -EUCLEAN)
			continue;
		char name[FILE_NAME_MAX];
		file_name(name, FILE_SNAP, o.snaps[i]);
		bad(arg, name, e);
		nbad++;
		if (repair && s->io->ops->unlink(s->io, name) == 0)
			s->since_snapshot = s->o.snapshot_bytes;      /* write one below */
	}
	if (!err && repair && nbad)
		err = snapshot_write(s);
	free(o.snaps);
	free(o.logs);
	return err ? err : nbad;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Whether the log files are 1, 2, ... n with none missing: then the log
 * holds every commit since the empty store. */
static bool log_complete(uint32_t *logs, size_t n)
{
	if (!n)
		return false;
	qsort(logs, n, sizeof(*logs), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (logs[i] != i + 1)
			return false;
	return true;
}

/*
 * Loads the newest of the snapshots in the directory that verifies into
 * the (empty) location table.  When none does (a young store has only the
 * epoch-0 snapshot, an empty table) but the log is complete from its first
 * file, replay starts from the empty table instead: the whole log is the
 * second copy of a young store's table.  -EUCLEAN (logged) otherwise.
 */
int snapshot_load_newest(lkv_store *s)
{
	struct obsolete o = { 0 };
	int err = files_list(s->io, note_file, &o);
	if (!err) {
		qsort(o.snaps, o.nsnaps, sizeof(*o.snaps), cmp_desc);
		err = -EUCLEAN;
	}
	for (size_t i = 0; i < o.nsnaps && err && err != -ENOMEM; i++)
		err = load_snapshot(s, o.snaps[i]);
	if (err == -EUCLEAN && log_complete(o.logs, o.nlogs)) {
		loctable_init(&s->lt);
		store_log(s, LKV_LOG_WARN, "no valid snapshot (%zu found); replaying the whole "
			  "log, from its first file", o.nsnaps);
		err = 0;
	} else if (err == -EUCLEAN) {
		store_log(s, LKV_LOG_ERR, "no valid snapshot (%zu found) and the log does not "
			  "start at its first file; run fsck.larchfs", o.nsnaps);
	}
	free(o.snaps);
	free(o.logs);
	return err;
}
