/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of the location table: the record that lets an open start from
 * a recent epoch instead of replaying the whole log.  A snapshot is full
 * (the whole table) or a delta (what changed since the snapshot it names
 * as its base); its path is the full one and the deltas it builds on.
 *
 * Full snapshot body (REC_SNAPSHOT, in file snap-<epoch as 16 hex digits>):
 *   u64 epoch, u64 chain, u64 next leaf id, u32 next tree id,
 *   u32 log file, u64 log offset   (where replay of later commits starts)
 *   u32 n, n × { u32 tree id, varint+bytes name }
 *   u64 n, n × location entry (loctable.c: in layout 3 each names its
 *       leaf's whole chain, the base image and its deltas)
 *   u32 n, n × { u32 segment, u64 live blob bytes }
 *
 * Delta snapshot body (REC_SNAPDELTA, format 4, layout 3; same file name):
 *   u64 epoch, u64 base epoch (< epoch), u64 chain, u64 next leaf id,
 *   u32 next tree id, u32 log file, u64 log offset
 *   u32 n, n × { u32 tree id, varint+bytes name }       (every tree)
 *   u64 n, n × location entry     (each leaf put or changed since the base)
 *   u64 n, n × u64 leaf id        (each leaf dropped since the base)
 *   u32 n, n × { u32 segment, u64 live blob bytes }     (every segment)
 * It applies to the table its base loads to (whose epoch must be the base
 * epoch): the trees and segments are replaced, the entries put, the
 * dropped leaves deleted (a leaf made and dropped since the base is
 * listed, and dropping it again is nothing).
 *
 * A snapshot file holds one record (record.c) and nothing else; it is
 * valid iff the record verifies, its epoch matches the file's name and
 * the table's, and the body decodes exactly to its end; a delta loads
 * only when its base does.
 *
 * When one is due (due(), below) the flush writes a new one (temporary
 * name, sync, rename, directory sync).  Its base is the snapshot before the
 * newest, not the newest: so the newest and the one before it (the
 * fallback, should the newer be damaged) build on two paths that share
 * no file, every other snapshot on each, and no single damaged file loses
 * both.  The delta holds the leaves touched since its base (struct
 * loctable's touched and prev lists).  It is full instead when
 *   - the deltas on its path would pass half the path's full snapshot:
 *     an open reads at most 1.5 fulls' worth, and the two kept paths
 *     (below) hold at most 3;
 *   - its path has SNAP_DELTAS_MAX deltas (files an open reads);
 *   - a list is incomplete (no memory), or the base is not known: the
 *     first snapshot after an open, whose base would be the snapshot the
 *     open did not load (the one before the newest);
 *   - the caller asks (repairs that changed the table in place).
 * At 10M files a full snapshot was about 30 MB for each 64 MiB of log,
 * about half of the bytes the store wrote while creating files; deltas
 * and due() took test_snapshot's churn from 30% of the bytes written to
 * 3.4%, and a 10M-file create to none (README, "Many files").
 *
 * Kept: the snapshots on both paths (all of them while the path of the
 * one before the newest is not known); and every log file from the older
 * snapshot's replay start on, or that holds a live leaf.  An open loads
 * the newest snapshot whose path verifies.
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
#define SNAP_STRETCH_MAX 32      /* snapshot_bytes x this: a snapshot is due */

/* ---- the bodies ---- */

/* The head of a body: a full snapshot's, or with base a delta's. */
void snapshot_head_encode(const struct loctable *lt, const uint64_t *base, struct buf *out)
{
	buf_u64(out, lt->epoch);
	if (base)
		buf_u64(out, *base);
	buf_u64(out, lt->chain);
	buf_u64(out, lt->next_leaf_id);
	buf_u32(out, lt->next_tree_id);
	buf_u32(out, lt->log_file);
	buf_u64(out, lt->log_off);
	trees_encode(lt->trees, lt->ntrees, out);
}

static void segs_encode(const struct loctable *lt, struct buf *out)
{
	buf_u32(out, lt->nsegs);
	for (size_t i = 0; i < lt->nsegs; i++) {
		buf_u32(out, lt->segs[i].no);
		buf_u64(out, lt->segs[i].live);
	}
}

void snapshot_encode(const struct loctable *lt, struct buf *out)
{
	snapshot_head_encode(lt, NULL, out);
	buf_u64(out, lt->n);
	for (size_t i = 0; i < lt->cap; i++)
		if (lt->slot[i])
			snap_ent_encode(lt->slot[i], out);
	segs_encode(lt, out);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The delta body against snapshot `base`, the one before the newest: of
 * the leaves touched since either (*count of them). */
static int snapdelta_encode(const struct loctable *lt, uint64_t base, struct buf *out,
			    size_t *count)
{
	size_t n = lt->ntouched + lt->nprev, kept = 0;
	uint64_t *ids = malloc(n ? n * sizeof(*ids) : 1);
	if (!ids)
		return -ENOMEM;
	if (lt->ntouched)
		memcpy(ids, lt->touched, lt->ntouched * sizeof(*ids));
	if (lt->nprev)
		memcpy(ids + lt->ntouched, lt->prev, lt->nprev * sizeof(*ids));
	qsort(ids, n, sizeof(*ids), cmp_u64);
	for (size_t i = 0; i < n; i++)          /* each once */
		if (!kept || ids[i] != ids[kept - 1])
			ids[kept++] = ids[i];
	n = kept;
	kept = 0;
	for (size_t i = 0; i < n; i++)
		kept += loctable_get(lt, ids[i]) != NULL;
	snapshot_head_encode(lt, &base, out);
	buf_u64(out, kept);
	for (size_t i = 0; i < n; i++) {
		const struct loc_ent *e = loctable_get(lt, ids[i]);
		if (e)
			snap_ent_encode(e, out);
	}
	buf_u64(out, n - kept);
	for (size_t i = 0; i < n; i++)
		if (!loctable_get(lt, ids[i]))
			buf_u64(out, ids[i]);
	segs_encode(lt, out);
	free(ids);
	*count = n;
	return out->oom ? -ENOMEM : 0;
}

static int header_decode(struct loctable *lt, struct rd *r, uint64_t *base)
{
	lt->epoch = rd_u64(r);
	if (base)
		*base = rd_u64(r);
	lt->chain = rd_u64(r);
	lt->next_leaf_id = rd_u64(r);
	lt->next_tree_id = rd_u32(r);
	lt->log_file = rd_u32(r);
	lt->log_off = rd_u64(r);
	if (r->bad || lt->log_file == 0)
		return -EUCLEAN;
	return trees_decode(lt, r, true);
}

/* Decodes the segment list into lt (whose list is empty) and checks that
 * the body ends there. */
static int segs_decode(struct loctable *lt, struct rd *r)
{
	uint32_t nsegs = rd_u32(r);
	int err = 0;
	for (uint32_t i = 0; i < nsegs && !err && !r->bad; i++) {
		uint32_t no = rd_u32(r);
		uint64_t live = rd_u64(r);
		if (no == 0 || loctable_seg_find(lt, no))
			err = -EUCLEAN;
		struct lt_file *f = err ? NULL : loctable_seg(lt, no);
		if (!err && !f)
			err = -ENOMEM;
		if (f)
			f->live = live;
	}
	if (!err && (r->bad || rd_left(r)))
		err = -EUCLEAN;
	return err;
}

/* Reads n location entries of `layout` into lt; `fresh`: none may be
 * there already. */
static int ents_decode(struct loctable *lt, struct rd *r, uint16_t layout, bool fresh)
{
	uint64_t n = rd_u64(r);
	int err = 0;
	for (uint64_t i = 0; i < n && !err; i++) {
		struct loc_ent *e;
		err = r->bad ? -EUCLEAN : loc_ent_decode_as(r, layout, true, &e);
		if (!err && fresh && loctable_get(lt, e->leaf_id)) {
			loc_ent_free(e);
			err = -EUCLEAN;
		} else if (!err) {
			err = loctable_put(lt, e);
		}
	}
	return err;
}

/* Loads a full snapshot body of `layout` (its record's) into an empty table. */
int snapshot_decode(struct loctable *lt, const uint8_t *body, size_t len, uint16_t layout)
{
	struct rd r = rd_init(body, len);
	int err = header_decode(lt, &r, NULL);
	if (!err)
		err = ents_decode(lt, &r, layout, true);
	return err ? err : segs_decode(lt, &r);
}

/*
 * Applies a delta snapshot body to lt.  With on_base, lt holds the table
 * of its base, as an open loads it; else lt is an empty table and the
 * body is only checked (lkv_check).  -EUCLEAN when it does not decode
 * or names another base.
 */
int snapshot_decode_delta(struct loctable *lt, const uint8_t *body, size_t len, bool on_base)
{
	struct rd r = rd_init(body, len);
	uint64_t was = lt->epoch, base;
	for (size_t i = 0; i < lt->ntrees; i++)
		free(lt->trees[i].name);
	lt->ntrees = 0;
	lt->nsegs = 0;
	int err = header_decode(lt, &r, &base);
	if (!err && (base >= lt->epoch || (on_base && base != was)))
		err = -EUCLEAN;
	if (!err)
		err = ents_decode(lt, &r, REC_LAYOUT, false);
	uint64_t ndrop = err ? 0 : rd_u64(&r);
	if (!err && ndrop > rd_left(&r) / 8)
		err = -EUCLEAN;
	for (uint64_t i = 0; i < ndrop && !err; i++)
		loctable_del(lt, rd_u64(&r));
	return err ? err : segs_decode(lt, &r);
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

static void unlink_logged(lkv_store *s, enum file_kind kind, uint64_t no)
{
	char name[FILE_NAME_MAX];
	file_name(name, kind, no);
	if (s->io->ops->unlink(s->io, name))
		store_log(s, LKV_LOG_WARN, "cannot delete obsolete file %s", name);
}

static bool on_path(const struct snap_path *p, uint64_t epoch)
{
	for (uint32_t i = 0; p->valid && i <= p->deltas; i++)
		if (p->epochs[i] == epoch)
			return true;
	return false;
}

/*
 * Deletes the snapshots on neither the newest's path nor the one
 * before's (none while that one is not known), then the log files that
 * neither snapshot's replay starts at or after and that hold no live
 * leaf.  Failures only cost disk space: logged.
 */
static void drop_obsolete(lkv_store *s)
{
	struct obsolete o = { 0 };
	files_list(s->io, note_file, &o);
	for (size_t i = 0; s->snap_old.valid && i < o.nsnaps; i++)
		if (!on_path(&s->snap_new, o.snaps[i]) && !on_path(&s->snap_old, o.snaps[i]))
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

/* Whether the next snapshot may be a delta (before its size is known):
 * on the one before the newest, whose changes since are all listed. */
static bool delta_allowed(const lkv_store *s)
{
	const struct loctable *lt = &s->lt;
	return s->snap_old.valid && s->snap_new.valid && lt->track && !lt->touched_lost &&
	       !lt->prev_lost && s->snap_old.deltas < SNAP_DELTAS_MAX &&
	       lt->epoch > s->snap_new.tip;
}

/* Encodes the snapshot record to write into rec: a delta when allowed
 * and small enough (see the header), else the full table (*count: the
 * entries it holds). */
static int encode(lkv_store *s, bool full, struct buf *rec, bool *delta, size_t *count)
{
	struct buf body = { 0 };
	uint64_t csum;
	int err = 0;
	*delta = !full && delta_allowed(s);
	if (*delta) {
		const struct snap_path *on = &s->snap_old;
		err = snapdelta_encode(&s->lt, on->tip, &body, count);
		if (!err)
			err = record_append(rec, REC_SNAPDELTA, s->lt.epoch, body.p, body.len,
					    s->cctx, s->o.compression_level, &csum);
		*delta = !err && on->delta_bytes + rec->len <= on->full_bytes / 2;
		body.len = 0;
		rec->len = *delta ? rec->len : 0;
	}
	if (!err && !*delta) {
		*count = s->lt.n;
		snapshot_encode(&s->lt, &body);
		err = body.oom ? -ENOMEM : record_append(rec, REC_SNAPSHOT, s->lt.epoch, body.p,
							 body.len, s->cctx,
							 s->o.compression_level, &csum);
	}
	buf_free(&body);
	return err;
}

/* After a snapshot of `bytes` and `count` entries is durable: the path
 * it extends (the one before the newest's) or starts; it is the newest
 * now. */
static void note_written(lkv_store *s, bool delta, uint64_t bytes, size_t count)
{
	struct snap_path p = { .valid = true, .tip = s->lt.epoch, .full_bytes = bytes,
			       .epochs = { s->lt.epoch } };
	if (delta) {
		p = s->snap_old;
		p.tip = s->lt.epoch;
		p.delta_bytes += bytes;
		p.epochs[++p.deltas] = s->lt.epoch;
	}
	s->snap_old = s->snap_new;
	s->snap_new = p;
	s->snap_entry_bytes = bytes / (count ? count : 1) + 1;
	loctable_rotate(&s->lt);
	STAT_ADD(s, st_snaps, 1);
	STAT_ADD(s, st_snap_full, !delta);
	STAT_ADD(s, st_snap_bytes, bytes);
	STAT_ADD(s, st_bwritten, bytes);
	s->since_snapshot = 0;
	s->keep_log_from = s->snap_log_file;
	s->snap_log_file = s->lt.log_file;
}

/*
 * Writes the location table as of the last durable epoch to a new snapshot
 * file (temporary name, sync, rename, sync directory): the full table when
 * `full`, else a delta when that pays (see the header); then drops what it
 * made obsolete.  Caller holds flush_mu (or is opening the store).  A
 * failure costs nothing but a longer replay at the next open: logged and
 * returned, the store goes on.
 */
int snapshot_write(lkv_store *s, bool full)
{
	struct buf rec = { 0 };
	char name[FILE_NAME_MAX];
	bool delta;
	size_t count = 0;
	file_name(name, FILE_SNAP, s->lt.epoch);
	int err = encode(s, full, &rec, &delta, &count);
	if (!err)
		err = file_write_whole(s->io, name, rec.p, rec.len);
	uint64_t bytes = rec.len;
	buf_free(&rec);
	if (err) {
		store_log(s, LKV_LOG_WARN, "writing snapshot %s failed: %s (it is tried again "
			  "later; until then opening replays more of the log)", name,
			  strerror(-err));
		return err;
	}
	note_written(s, delta, bytes, count);
	drop_obsolete(s);
	return 0;
}

/*
 * Whether a snapshot is due: snapshot_bytes of log since the last one, and
 * at least snapshot_share (default 20) times the bytes the next would take
 * (its entries at the last one's bytes per entry), or SNAP_STRETCH_MAX x
 * snapshot_bytes.  So snapshots cost at most 1/20 of the log (the target
 * was 5% of what the store writes): a table that grows with the log
 * (files being created: each new leaf is in the next delta) or a full one
 * at scale waits for more log, and an open replays at most that much.
 */
static bool due(const lkv_store *s, bool closing)
{
	uint64_t since = s->since_snapshot, every = s->o.snapshot_bytes;
	if (since == 0 || (since < every && !closing))
		return false;
	if (closing && s->tail_ranges)
		return true;
	if (since / every >= SNAP_STRETCH_MAX)
		return true;
	const struct loctable *lt = &s->lt;
	const struct snap_path *on = &s->snap_old;
	uint64_t est = (lt->ntouched + lt->nprev) * s->snap_entry_bytes;
	if (!delta_allowed(s) || on->delta_bytes + est > on->full_bytes / 2)
		est = lt->n * s->snap_entry_bytes;
	return est * s->o.snapshot_share <= since;
}

/* Writes a snapshot when one is due, unless one failed less than
 * SNAP_RETRY_MS ago (the disk may be full: do not encode the whole table
 * at every flush).  `closing`: the store is being closed; a snapshot that
 * saves the next open its replay is due at any length of log that pays
 * for it by the same share, and always when the last commit relies on
 * blob ranges: replay drops a last commit whose blob bytes do not read
 * back as torn, so damage to them after a clean close would silently
 * undo it, where under a snapshot it reads as -EIO and fsck reports it. */
void snapshot_due(lkv_store *s, bool closing)
{
	if (!due(s, closing))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (now < s->snap_retry_ns)
		return;
	if (snapshot_write(s, false))
		s->snap_retry_ns = now + SNAP_RETRY_MS * 1000000ull;
}

/* ---- loading ---- */

/* Reads the record of snapshot `epoch` (*raw: its body, *bytes: the
 * file's size); -EUCLEAN when it is not one whole valid snapshot record. */
static int read_one(lkv_store *s, uint64_t epoch, struct rec_hdr *h, uint8_t **raw,
		    uint64_t *bytes)
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	uint8_t *rec = NULL;
	*raw = NULL;
	*bytes = 0;
	file_name(name, FILE_SNAP, epoch);
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err == -ENOENT ? -EUCLEAN : err;
	err = s->io->ops->size(f, bytes);
	if (!err)
		err = record_read(s, f, 0, *bytes, h, &rec);
	if (err == -ENODATA)
		err = -EUCLEAN;               /* not a whole valid record */
	s->io->ops->close(f);
	if (!err && ((h->type != REC_SNAPSHOT && h->type != REC_SNAPDELTA) ||
		     h->epoch != epoch || *bytes != REC_HDR + h->stored_len))
		err = -EUCLEAN;
	if (!err)
		err = record_open(rec, h, raw);
	free(rec);
	return err;
}

/* Loads snapshot `epoch` into lt (empty): for a delta, its base first,
 * at most `depth` deltas deep. */
static int read_chain(lkv_store *s, uint64_t epoch, struct loctable *lt, struct snap_path *c,
		      uint32_t depth)
{
	struct rec_hdr h;
	uint8_t *raw;
	uint64_t bytes;
	int err = read_one(s, epoch, &h, &raw, &bytes);
	if (!err && h.type == REC_SNAPSHOT) {
		err = snapshot_decode(lt, raw, h.raw_len, h.layout);
		*c = (struct snap_path){ .valid = true, .tip = epoch, .full_bytes = bytes,
					 .epochs = { epoch } };
	} else if (!err) {
		uint64_t base = h.raw_len >= 16 ? get_u64(raw + 8) : UINT64_MAX;
		err = base < epoch && depth ? read_chain(s, base, lt, c, depth - 1) : -EUCLEAN;
		if (!err)
			err = snapshot_decode_delta(lt, raw, h.raw_len, true);
		c->tip = epoch;
		c->delta_bytes += bytes;
		if (!err)
			c->epochs[++c->deltas] = epoch;
	}
	if (!err && lt->epoch != epoch)
		err = -EUCLEAN;
	free(raw);
	return err;
}

/* Reads snapshot `epoch` with its chain into the empty table lt (freed
 * again on an error): -EUCLEAN when it does not verify. */
static int read_snapshot(lkv_store *s, uint64_t epoch, struct loctable *lt, struct snap_path *c)
{
	int err = read_chain(s, epoch, lt, c, SNAP_DELTAS_MAX);
	if (err)
		loctable_free(lt);
	return err;
}

static int load_snapshot(lkv_store *s, uint64_t epoch)
{
	struct snap_path c = { 0 };
	int err = read_snapshot(s, epoch, &s->lt, &c);
	char name[FILE_NAME_MAX];
	file_name(name, FILE_SNAP, epoch);
	if (err && err != -ENOMEM)
		store_log(s, LKV_LOG_WARN, "snapshot %s is damaged (%s%s); trying an older one",
			  name, strerror(-err), c.deltas ? ", or one it builds on" : "");
	if (err)
		return err;
	s->snap_new = c;
	s->snap_old = (struct snap_path){ 0 };   /* not known: the next one is full */
	s->snap_entry_bytes = c.full_bytes / (s->lt.n ? s->lt.n : 1) + 1;
	return 0;
}

/* Whether epoch e is among the n epochs of v. */
static bool has_epoch(const uint64_t *v, size_t n, uint64_t e)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == e)
			return true;
	return false;
}

/* Verifies snapshot file `epoch` on its own (a delta decoded alone):
 * 0, -EUCLEAN, -ENOENT (a delta whose base is not among the good ones
 * in v), or an I/O error. */
static int check_one(lkv_store *s, uint64_t epoch, const uint64_t *good, size_t ngood)
{
	struct rec_hdr h;
	uint8_t *raw;
	uint64_t bytes;
	struct loctable lt;
	loctable_init(&lt);
	int err = read_one(s, epoch, &h, &raw, &bytes);
	if (!err && h.type == REC_SNAPSHOT)
		err = snapshot_decode(&lt, raw, h.raw_len, h.layout);
	else if (!err)
		err = snapshot_decode_delta(&lt, raw, h.raw_len, false);
	if (!err && lt.epoch != epoch)
		err = -EUCLEAN;
	if (!err && h.type == REC_SNAPDELTA && !has_epoch(good, ngood, get_u64(raw + 8)))
		err = -ENOENT;
	loctable_free(&lt);
	free(raw);
	return err;
}

/*
 * For lkv_check: verifies every snapshot file the directory holds, calling
 * bad(arg, name, error) for each that does not verify (-ENOENT: a delta
 * whose base is missing or damaged); with `repair`, a bad one is deleted
 * and a full snapshot of the table as it is now is written in its stead
 * (the fallback it was is then the other one).  Returns the number bad,
 * or a negative errno.  Caller holds flush_mu.
 */
int snapshot_check(lkv_store *s, bool repair, void (*bad)(void *, const char *, int), void *arg)
{
	struct obsolete o = { 0 };
	uint64_t *good = NULL;
	size_t ngood = 0;
	int err = files_list(s->io, note_file, &o), nbad = 0;
	if (!err)
		qsort(o.snaps, o.nsnaps, sizeof(*o.snaps), cmp_u64);  /* bases first */
	for (size_t i = 0; i < o.nsnaps && !err; i++) {
		int e = check_one(s, o.snaps[i], good, ngood);
		if (e == -ENOMEM || e == -EIO)
			err = e;
		else if (!e)
			err = push64(&good, &ngood, o.snaps[i]);
		if (e != -EUCLEAN && e != -ENOENT)
			continue;
		char name[FILE_NAME_MAX];
		file_name(name, FILE_SNAP, o.snaps[i]);
		bad(arg, name, e);
		nbad++;
		if (repair && s->io->ops->unlink(s->io, name) == 0)
			s->snap_new.valid = s->snap_old.valid = false;  /* one lost a link */
	}
	if (!err && repair && nbad)
		err = snapshot_write(s, true);
	free(good);
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
		qsort(o.snaps, o.nsnaps, sizeof(*o.snaps), cmp_u64);
		err = -EUCLEAN;
	}
	for (size_t i = 0; i < o.nsnaps && err && err != -ENOMEM; i++)
		err = load_snapshot(s, o.snaps[o.nsnaps - 1 - i]);
	if (err == -EUCLEAN && log_complete(o.logs, o.nlogs)) {
		loctable_init(&s->lt);
		s->snap_new = s->snap_old = (struct snap_path){ 0 };
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
