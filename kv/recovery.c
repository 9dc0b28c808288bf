/* SPDX-License-Identifier: MIT */
/*
 * Opening a store: the format file (format.c), the newest valid snapshot
 * (snapshot.c), and replay of the commits logged after it.
 *
 * Recovery: load the newest snapshot whose record verifies (older ones are
 * the fallback while a newer one was being written).  Replay from the
 * snapshot's log position: read record after record; collect verified leaf
 * records; at a commit record whose checksum verifies, whose chain value
 * matches the previous commit and every leaf of which was seen intact
 * after the previous commit, apply it.  The first record that fails any of
 * this ends the log.  Because every flush is synced before the next one
 * starts, a crash can leave behind the last commit only the records of one
 * flush: a torn tail, all of one epoch, which is ignored.  Valid records of
 * another epoch (or anything after a valid commit) past that point mean the
 * log was damaged after it was durable: the open fails rather than drop
 * committed epochs (unless LKV_SALVAGE asks to cut the log there).  Zeros
 * written ahead of the flush (logzero.c) read as such a tail.  A log file
 * is continued into the next one only when it ended exactly at a commit
 * (a roll first cuts those zeros off).  The writer then truncates the torn tail
 * and deletes later log files, so new commits never sit behind garbage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- the directory ---- */

struct listing {
	uint32_t max_log;
	uint32_t *segs;         /* blob segment numbers */
	size_t nsegs;
	bool any;               /* any file at all (LOCK aside) */
};

static int list_cb(void *arg, const struct file_id *id, bool tmp, const char *name)
{
	struct listing *ls = arg;
	(void)name;
	if (!id || id->kind != FILE_LOCK)
		ls->any = true;
	if (!id || tmp)
		return 0;
	if (id->kind == FILE_LOG && id->no > ls->max_log)
		ls->max_log = (uint32_t)id->no;
	if (id->kind == FILE_BLOB) {
		uint32_t *v = realloc(ls->segs, (ls->nsegs + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ls->segs = v;
		v[ls->nsegs++] = (uint32_t)id->no;
	}
	return 0;
}

/*
 * Sizes of log files and segments (not kept in the table: they only guide
 * GC), and the next segment number.  A segment the table counts live bytes
 * in but that is missing is reported: its values will read as -EIO.
 */
static int note_sizes(lkv_store *s, const struct listing *ls)
{
	char name[FILE_NAME_MAX];
	for (size_t i = 0; i < s->lt.nfiles; i++) {
		file_name(name, FILE_LOG, s->lt.files[i].no);
		file_size(s->io, name, &s->lt.files[i].size);
	}
	for (size_t i = 0; i < ls->nsegs; i++) {
		struct lt_file *f = loctable_seg(&s->lt, ls->segs[i]);
		if (!f)
			return -ENOMEM;
		file_name(name, FILE_BLOB, f->no);
		file_size(s->io, name, &f->size);
		if (f->no > s->seg_no)
			s->seg_no = f->no;
	}
	for (size_t i = 0; i < s->lt.nsegs; i++) {
		atomic_fetch_add(&s->blob_disk, s->lt.segs[i].size);
		atomic_fetch_add(&s->blob_live_mem, (int64_t)s->lt.segs[i].live);
		file_name(name, FILE_BLOB, s->lt.segs[i].no);
		if (s->lt.segs[i].live > s->lt.segs[i].size)
			store_log(s, LKV_LOG_ERR, "segment %s is missing or short: %" PRIu64
				  " live bytes in %" PRIu64 "; run fsck.larchfs", name,
				  s->lt.segs[i].live, s->lt.segs[i].size);
	}
	return 0;
}

/* ---- replay ---- */

struct seen { uint64_t off, csum; uint32_t len; };

struct replay {
	uint32_t file;
	struct seen *v;      /* leaf records verified since the last commit */
	size_t n, cap;
};

static int check_leaf(void *arg, const struct loc_ent *e)
{
	struct replay *r = arg;
	if (e->loc.file != r->file)
		return -EUCLEAN;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].off == e->loc.off)
			return r->v[i].csum == e->loc.csum && r->v[i].len == e->loc.len ?
			       0 : -EUCLEAN;
	return -EUCLEAN;
}

/*
 * Decides whether the bytes [from, size) of a log file, past its last valid
 * commit, are a torn tail (0) or damage (-EUCLEAN, logged).  Valid records
 * are found by their magic and checksum; the scan skips over each one, so
 * record bytes stored inside a value are not mistaken for records.
 */
static int tail_check(lkv_store *s, lkv_file *f, const char *name, uint64_t from,
		      uint64_t size)
{
	size_t len = size - from;
	uint8_t *p = malloc(len), magic[4];
	if (!p)
		return -ENOMEM;
	ssize_t n = s->io->ops->pread(f, p, len, from);
	if (n != (ssize_t)len) {
		free(p);
		return n < 0 ? (int)n : -EIO;
	}
	put_u32(magic, get_u32((const uint8_t *)"LKVR"));
	uint64_t epoch = 0, bad_at = 0;
	bool seen = false, after_commit = false;
	for (size_t at = 1; !bad_at && at + REC_HDR <= len;) {
		uint8_t *m = memmem(p + at, len - at, magic, 4);
		struct rec_hdr h;
		if (!m || (size_t)(m - p) + REC_HDR > len)
			break;
		at = m - p;
		if (record_parse_header(m, &h) || h.stored_len > len - at - REC_HDR ||
		    checksum2(m, 24, m + REC_HDR, h.stored_len) != h.csum) {
			at++;
			continue;
		}
		if (after_commit || (seen && h.epoch != epoch))
			bad_at = from + at;
		seen = true;
		epoch = h.epoch;
		after_commit = h.type == REC_COMMIT;
		at += REC_HDR + h.stored_len;
	}
	free(p);
	if (!bad_at)
		return 0;
	store_log(s, LKV_LOG_ERR, "%s is damaged at offset %" PRIu64 ": committed records "
		  "follow at offset %" PRIu64 "; run fsck.larchfs", name, from, bad_at);
	return -EUCLEAN;
}

/*
 * Replays one log file from `off`.  Returns the offset just past the last
 * commit applied (or `off`) in *end and whether the file ended exactly
 * there in *clean.
 */
static int replay_file(lkv_store *s, uint32_t no, uint64_t off, uint64_t *end, bool *clean)
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	uint64_t size;
	struct replay r = { .file = no };
	file_name(name, FILE_LOG, no);
	*end = off;
	*clean = false;
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err == -ENOENT)
		return 0;
	if (err || (err = s->io->ops->size(f, &size))) {
		if (!err)
			s->io->ops->close(f);
		return err;
	}
	while (!err) {
		struct rec_hdr h;
		uint8_t *rec, *raw = NULL;
		err = record_read(s, f, off, size, &h, &rec);
		if (err)
			break;
		uint64_t next = off + REC_HDR + h.stored_len;
		if (h.type == REC_LEAF && h.epoch > s->lt.epoch) {
			struct seen *v = r.n < r.cap ? r.v : realloc(r.v, (r.cap = r.cap * 2 + 64) * sizeof(*v));
			if (!v) {
				err = -ENOMEM;
			} else {
				r.v = v;
				v[r.n++] = (struct seen){ off, h.csum, (uint32_t)(next - off) };
			}
		} else if (h.type == REC_COMMIT && !(err = record_open(rec, &h, &raw))) {
			err = commit_apply(&s->lt, raw, h.raw_len, h.epoch, h.csum, check_leaf, &r);
			if (!err) {
				*end = next;
				r.n = 0;
			}
		} else {
			err = -EUCLEAN;
		}
		free(rec);
		free(raw);
		off = next;
	}
	free(r.v);
	*clean = *end == size;
	/* bytes that are not a valid next commit end the log; an I/O error
	 * does not (it fails the open: truncating there would lose commits) */
	if (err == -ENODATA || err == -EUCLEAN || err == -ESTALE) {
		err = *clean ? 0 : tail_check(s, f, name, *end, size);
		if (err == -EUCLEAN && (s->o.flags & LKV_SALVAGE)) {
			store_log(s, LKV_LOG_ERR, "%s: salvaging: the %" PRIu64 " bytes from "
				  "offset %" PRIu64 " on are dropped, committed changes among them",
				  name, size - *end, *end);
			s->salvaged += size - *end;
			err = 0;
		}
	} else if (err != -ENOMEM)
		store_log(s, LKV_LOG_ERR, "%s: cannot read offset %" PRIu64 ": %s", name,
			  off, strerror(-err));
	s->io->ops->close(f);
	if (!err && !*clean)
		store_log(s, LKV_LOG_INFO, "%s: log ends at offset %" PRIu64 " of %" PRIu64
			  " (a torn tail is ignored)", name, *end, size);
	return err;
}

/* Replays every commit after the snapshot and cuts the log after the last. */
static int replay(lkv_store *s, uint32_t max_log)
{
	uint32_t no = s->lt.log_file;
	uint64_t off = s->lt.log_off, end;
	bool clean;
	for (;;) {
		int err = replay_file(s, no, off, &end, &clean);
		if (err)
			return err;
		s->since_snapshot += end - off;
		if (!clean || no >= max_log) {
			s->lt.log_file = no;
			s->lt.log_off = end;
			break;
		}
		no++;
		off = 0;
	}
	if (s->ro)
		return 0;
	/* the tail after `end` and any later file hold nothing committed */
	for (uint32_t n = s->lt.log_file + 1; n <= max_log; n++) {
		char name[FILE_NAME_MAX];
		file_name(name, FILE_LOG, n);
		int err = s->io->ops->unlink(s->io, name);
		if (err && err != -ENOENT)
			return err;
	}
	int err = log_open_append(s, s->lt.log_file, s->lt.log_off);
	if (!err)
		err = s->io->ops->truncate(s->log, s->lt.log_off);
	if (!err)
		err = s->io->ops->sync(s->log);
	if (!err)
		err = s->io->ops->sync_dir(s->io);
	return err;
}

/* ---- building the in-memory index ---- */

static int build_trees(lkv_store *s)
{
	struct loctable *lt = &s->lt;
	s->trees = calloc(lt->ntrees ? lt->ntrees : 1, sizeof(*s->trees));
	if (!s->trees)
		return -ENOMEM;
	for (size_t i = 0; i < lt->ntrees; i++) {
		int err = tree_create(s, lt->trees[i].id, lt->trees[i].name, &s->trees[i]);
		if (err)
			return err;
		s->ntrees++;
	}
	for (size_t i = 0; i < lt->cap; i++) {
		struct loc_ent *e = lt->slot[i];
		if (!e)
			continue;
		struct lkv_tree *t = store_tree_by_id(s, e->tree_id);
		if (!t)
			return -EUCLEAN;
		struct leaf *l = leaf_new(t, e->leaf_id, e->low, e->low_len);
		if (!l)
			return -ENOMEM;
		if (tree_append_leaf(t, l)) {
			leaf_unref(l);
			return -ENOMEM;
		}
		l->loc = e->loc;
		if (bloom_copy(&l->bloom, &e->bloom))
			return -ENOMEM;
	}
	for (size_t i = 0; i < s->ntrees; i++) {
		int err = tree_sort(s->trees[i]);
		if (err)
			return err;
	}
	s->next_tree_id = lt->next_tree_id;
	atomic_store(&s->next_leaf_id, lt->next_leaf_id);
	return 0;
}

/* Makes a new, empty store: FORMAT and the epoch-0 snapshot. */
static int create(lkv_store *s)
{
	int err = format_create(s);
	if (!err)
		err = snapshot_write(s);
	if (err)
		store_log(s, LKV_LOG_ERR, "cannot create a store: %s", strerror(-err));
	return err;
}

/*
 * Brings the store to its last durable epoch.  Creates a new store when
 * the directory is empty and LKV_CREATE is set.
 */
int recovery_run(lkv_store *s)
{
	struct listing ls = { 0 };
	bool created = false;
	int err = files_list(s->io, list_cb, &ls);
	if (!err) {
		err = format_read(s);
		if (err == -ENOENT && (s->o.flags & LKV_CREATE) && !ls.any && !s->ro) {
			err = create(s);
			created = !err;
		} else if (err == -ENOENT) {
			store_log(s, LKV_LOG_ERR, ls.any ? "not a larchkv store (no FORMAT file, "
				  "but the directory is not empty)" : "no store here");
		} else if (!err) {
			err = meta_load(s);
		}
		if (!err && !created)
			err = snapshot_load_newest(s);
		s->snap_log_file = s->lt.log_file;
	}
	if (!err)
		err = replay(s, ls.max_log);
	if (!err)
		err = build_trees(s);
	if (!err)
		err = note_sizes(s, &ls);
	if (!err) {
		s->durable = s->lt.epoch;
		s->current = s->lt.epoch + 1;
	}
	if (!err && !s->ro && s->since_snapshot >= s->o.snapshot_bytes)
		snapshot_due(s);        /* a failure is logged; the next flush retries */
	free(ls.segs);
	return err;
}
