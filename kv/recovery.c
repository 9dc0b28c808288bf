/* SPDX-License-Identifier: MIT */
/*
 * Opening a store: the format file, the newest valid snapshot, and replay
 * of the commits logged after it.
 *
 * Files in a store directory:
 *   FORMAT              identity, written once at creation (below)
 *   LOCK                the store lock (flock, by the I/O layer)
 *   snap-<16 hex>       a snapshot record (record.c, loctable.c) of the
 *                       location table at the end of that epoch
 *   <8 digits>.log      log files: leaf records and commit records
 *   <8 digits>.blob     blob segments (blob.c)
 *
 * FORMAT (48 bytes):
 *   0  "LARCHKV\0"   8  u32 format version (1)   12 u32 flags (0)
 *   16 uuid[16]      32 u64 creation time (Unix seconds)
 *   40 u64 XXH3-64 of bytes [0, 40)
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

#define FORMAT_NAME    "FORMAT"
#define FORMAT_MAGIC   "LARCHKV"
#define FORMAT_VERSION 1
#define FORMAT_LEN     48

/* ---- FORMAT ---- */

static int write_file(lkv_store *s, const char *name, const void *p, size_t len)
{
	lkv_file *f;
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int err = s->io->ops->open(s->io, tmp, LKV_IO_CREATE, &f);
	if (err)
		return err;
	ssize_t n = s->io->ops->pwrite(f, p, len, 0);
	err = n < 0 ? (int)n : (size_t)n == len ? 0 : -EIO;
	if (!err)
		err = s->io->ops->sync(f);
	s->io->ops->close(f);
	if (!err)
		err = s->io->ops->rename(s->io, tmp, name);
	return err;
}

static void new_uuid(uint8_t u[16])
{
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(u, 1, 16, f) != 16) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t a = lkv_checksum(&ts, sizeof(ts)), b = lkv_checksum(&a, 8);
		memcpy(u, &a, 8);
		memcpy(u + 8, &b, 8);
	}
	if (f)
		fclose(f);
	u[6] = (u[6] & 0x0f) | 0x40;    /* RFC 4122 version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;
}

/* Makes a new, empty store: FORMAT and the epoch-0 snapshot. */
int format_create(lkv_store *s)
{
	uint8_t f[FORMAT_LEN] = FORMAT_MAGIC;
	put_u32(f + 8, FORMAT_VERSION);
	new_uuid(s->uuid);
	memcpy(f + 16, s->uuid, 16);
	put_u64(f + 32, (uint64_t)time(NULL));
	put_u64(f + 40, lkv_checksum(f, 40));
	int err = write_file(s, FORMAT_NAME, f, sizeof(f));
	if (!err)
		err = snapshot_write(s);
	if (err)
		store_log(s, LKV_LOG_ERR, "cannot create a store: %s", strerror(-err));
	return err;
}

static int format_read(lkv_store *s)
{
	lkv_file *f;
	uint8_t b[FORMAT_LEN];
	int err = s->io->ops->open(s->io, FORMAT_NAME, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	ssize_t n = s->io->ops->pread(f, b, sizeof(b), 0);
	s->io->ops->close(f);
	if (n < 0)
		return (int)n;
	if (n != FORMAT_LEN || memcmp(b, FORMAT_MAGIC, 8) ||
	    get_u64(b + 40) != lkv_checksum(b, 40)) {
		store_log(s, LKV_LOG_ERR, "FORMAT is damaged or not a larchkv format file");
		return -EUCLEAN;
	}
	if (get_u32(b + 8) != FORMAT_VERSION) {
		store_log(s, LKV_LOG_ERR, "format version %" PRIu32 " is not supported "
			  "(this build reads %d)", get_u32(b + 8), FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	memcpy(s->uuid, b + 16, 16);
	return 0;
}

/* ---- the directory ---- */

struct listing {
	uint64_t *snaps;
	size_t nsnaps;
	uint32_t max_log;
	uint32_t *segs;         /* blob segment numbers */
	size_t nsegs;
	bool any;               /* any file at all (LOCK aside) */
};

static int list_cb(void *arg, const char *name)
{
	struct listing *ls = arg;
	uint64_t e;
	unsigned no;
	char c;
	if (strcmp(name, "LOCK"))
		ls->any = true;
	if (sscanf(name, "snap-%16" SCNx64 "%c", &e, &c) == 1 && strlen(name) == 21) {
		uint64_t *v = realloc(ls->snaps, (ls->nsnaps + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ls->snaps = v;
		v[ls->nsnaps++] = e;
	} else if (sscanf(name, "%8u.lo%c", &no, &c) == 2 && c == 'g' && strlen(name) == 12) {
		if (no > ls->max_log)
			ls->max_log = no;
	} else if (sscanf(name, "%8u.blo%c", &no, &c) == 2 && c == 'b' && strlen(name) == 13) {
		uint32_t *v = realloc(ls->segs, (ls->nsegs + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ls->segs = v;
		v[ls->nsegs++] = no;
	}
	return 0;
}

static int file_size(lkv_store *s, const char *name, uint64_t *size)
{
	lkv_file *f;
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	err = s->io->ops->size(f, size);
	s->io->ops->close(f);
	return err;
}

/*
 * Sizes of log files and segments (not kept in the table: they only guide
 * GC), and the next segment number.  A segment the table counts live bytes
 * in but that is missing is reported: its values will read as -EIO.
 */
static int note_sizes(lkv_store *s, const struct listing *ls)
{
	char name[32];
	for (size_t i = 0; i < s->lt.nfiles; i++) {
		log_name(name, s->lt.files[i].no);
		file_size(s, name, &s->lt.files[i].size);
	}
	for (size_t i = 0; i < ls->nsegs; i++) {
		struct lt_file *f = loctable_seg(&s->lt, ls->segs[i]);
		if (!f)
			return -ENOMEM;
		blob_name(name, f->no);
		file_size(s, name, &f->size);
		if (f->no > s->seg_no)
			s->seg_no = f->no;
	}
	for (size_t i = 0; i < s->lt.nsegs; i++) {
		atomic_fetch_add(&s->blob_disk, s->lt.segs[i].size);
		atomic_fetch_add(&s->blob_live_mem, (int64_t)s->lt.segs[i].live);
		blob_name(name, s->lt.segs[i].no);
		if (s->lt.segs[i].live > s->lt.segs[i].size)
			store_log(s, LKV_LOG_ERR, "segment %s is missing or short: %" PRIu64
				  " live bytes in %" PRIu64 "; run fsck.larchfs", name,
				  s->lt.segs[i].live, s->lt.segs[i].size);
	}
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Reads one whole record at off of an open file into *rec (malloc'd). */
static int read_record(lkv_store *s, lkv_file *f, uint64_t off, uint64_t size,
		       struct rec_hdr *h, uint8_t **rec)
{
	uint8_t hdr[REC_HDR];
	*rec = NULL;
	if (size < off + REC_HDR)
		return -ENODATA;
	ssize_t n = s->io->ops->pread(f, hdr, REC_HDR, off);
	if (n < 0)
		return (int)n;
	if (n != REC_HDR || record_parse_header(hdr, h) ||
	    size - off - REC_HDR < h->stored_len)
		return -ENODATA;
	uint8_t *p = malloc(REC_HDR + (size_t)h->stored_len);
	if (!p)
		return -ENOMEM;
	memcpy(p, hdr, REC_HDR);
	n = s->io->ops->pread(f, p + REC_HDR, h->stored_len, off + REC_HDR);
	if (n != (ssize_t)h->stored_len || checksum2(p, 24, p + REC_HDR, h->stored_len) != h->csum) {
		free(p);
		return n < 0 ? (int)n : -ENODATA;
	}
	STAT_ADD(s, st_bread, REC_HDR + (uint64_t)h->stored_len);
	*rec = p;
	return 0;
}

static int load_snapshot(lkv_store *s, uint64_t epoch)
{
	char name[40];
	lkv_file *f;
	uint64_t size = 0;
	struct rec_hdr h;
	uint8_t *rec = NULL, *raw = NULL;
	snprintf(name, sizeof(name), "snap-%016" PRIx64, epoch);
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	err = s->io->ops->size(f, &size);
	if (!err)
		err = read_record(s, f, 0, size, &h, &rec);
	s->io->ops->close(f);
	if (!err && (h.type != REC_SNAPSHOT || h.epoch != epoch || size != REC_HDR + h.stored_len))
		err = -EUCLEAN;
	if (!err)
		err = record_open(rec, &h, &raw);
	if (!err)
		err = snapshot_decode(&s->lt, raw, h.raw_len);
	if (!err && s->lt.epoch != epoch)
		err = -EUCLEAN;
	free(rec);
	free(raw);
	if (err) {
		loctable_free(&s->lt);
		if (err != -ENOMEM)
			store_log(s, LKV_LOG_WARN, "snapshot %s is damaged (%s); trying an "
				  "older one", name, strerror(-err));
	}
	return err;
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
	char name[32];
	lkv_file *f;
	uint64_t size;
	struct replay r = { .file = no };
	log_name(name, no);
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
		err = read_record(s, f, off, size, &h, &rec);
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
		char name[32];
		log_name(name, n);
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

static int cmp_low(const void *a, const void *b)
{
	const struct leaf *x = *(struct leaf *const *)a, *y = *(struct leaf *const *)b;
	return keycmp(x->low, x->low_len, y->low, y->low_len);
}

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
		if (tree_insert_leaf(t, t->n, l)) {
			leaf_unref(l);
			return -ENOMEM;
		}
		l->loc = e->loc;
		if (bloom_copy(&l->bloom, &e->bloom))
			return -ENOMEM;
	}
	for (size_t i = 0; i < s->ntrees; i++) {
		struct lkv_tree *t = s->trees[i];
		qsort(t->v, t->n, sizeof(*t->v), cmp_low);
		if (!t->n || t->v[0]->low_len)
			return -EUCLEAN;
		for (size_t j = 0; j < t->n; j++)
			t->pfx[j] = key16_of(t->v[j]->low, t->v[j]->low_len);
		for (size_t j = 1; j < t->n; j++)
			if (!keycmp(t->v[j - 1]->low, t->v[j - 1]->low_len, t->v[j]->low,
				    t->v[j]->low_len))
				return -EUCLEAN;
	}
	s->next_tree_id = lt->next_tree_id;
	atomic_store(&s->next_leaf_id, lt->next_leaf_id);
	return 0;
}

static int open_snapshot(lkv_store *s, struct listing *ls)
{
	qsort(ls->snaps, ls->nsnaps, sizeof(*ls->snaps), cmp_desc);
	int err = -EUCLEAN;
	for (size_t i = 0; i < ls->nsnaps && err && err != -ENOMEM; i++)
		err = load_snapshot(s, ls->snaps[i]);
	if (err == -EUCLEAN)
		store_log(s, LKV_LOG_ERR, "no valid snapshot (%zu found); run fsck.larchfs",
			  ls->nsnaps);
	return err;
}

/*
 * Brings the store to its last durable epoch.  Creates a new store when
 * the directory is empty and LKV_CREATE is set.
 */
int recovery_run(lkv_store *s)
{
	struct listing ls = { 0 };
	int err = s->io->ops->list(s->io, list_cb, &ls);
	if (!err) {
		err = format_read(s);
		if (err == -ENOENT && (s->o.flags & LKV_CREATE) && !ls.any && !s->ro)
			err = format_create(s);
		else if (err == -ENOENT)
			store_log(s, LKV_LOG_ERR, ls.any ? "not a larchkv store (no FORMAT file, "
				  "but the directory is not empty)" : "no store here");
		else if (!err)
			err = open_snapshot(s, &ls);
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
		err = snapshot_write(s);
	free(ls.snaps);
	free(ls.segs);
	return err;
}
