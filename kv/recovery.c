/* SPDX-License-Identifier: MIT */
/*
 * Opening a store: the format file (format.c), the newest valid snapshot
 * (snapshot.c), and replay of the commits logged after it.
 *
 * Recovery: load the newest snapshot whose record verifies (older ones are
 * the fallback while a newer one was being written).  Replay from the
 * snapshot's log position: read record after record; collect verified leaf
 * records; at a commit record whose checksum verifies, whose chain value
 * matches the previous commit and every leaf record of which (full image
 * or delta) was seen intact after the previous commit, apply it.  The
 * first record that fails any of this ends the log.  A commit that lists
 * blob ranges (synced together with it, commit.c) applies only if they
 * read back with their checksums, or if a later record proves its flush
 * finished: the last commit of the log whose blobs did not all reach the
 * disk is dropped, as a torn one is.  Because every flush is synced before the next one
 * starts, a crash can leave behind the last commit only the records of one
 * flush: a torn tail, all of one epoch, which is ignored.  Zeros written
 * ahead of the flush (logzero.c) read as such a tail.
 *
 * Damage: valid records of a later epoch past that point mean the log was
 * damaged after it was durable.  Replay then resyncs (after_damage): it
 * goes on from every later record that verifies, applying the commits that
 * follow the chain.  When nothing live was in the damage (a superseded
 * leaf image) the open goes on, logged, and a writable one writes a
 * snapshot so that the next open starts past it.  When a commit names a
 * leaf record that was in the damage (its epoch durable, as a later
 * epoch's records prove), or a commit itself was (the chain breaks), only
 * LKV_SALVAGE (fsck) goes on: the leaf then reads as -EIO and lkv_check
 * reports and empties it; after a broken chain the rest is dropped and
 * counted.  A normal open refuses.  The last flush of the log cannot be
 * told from a torn one when its own records are damaged: it is dropped,
 * as a crash in it would be.
 *
 * A log file is continued into the next one only when it ended exactly at
 * a commit (a roll first cuts those zeros off) or was read past damage to
 * its end without a break.  The writer then truncates the torn tail and
 * deletes later log files, so new commits never sit behind garbage.
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
	/* reading past damage (after_damage) */
	uint64_t damage_at;
	bool resumed;        /* a commit after the damage was applied */
	bool gap;            /* a commit after it does not follow the chain */
	struct leaf_loc *lost;  /* leaf records named by commits (or digests) but
				   not found intact: their images are lost */
	size_t nlost, lostcap;
	uint64_t lost_images;   /* how many of them the table still points to */
	bool torn;           /* the last commit names leaf records not written */
	bool lost_tail;      /* the file's last commits were lost to damage */
	uint64_t bridged;    /* lost commits rebuilt from digests */
	bool more_files;     /* later log files exist: this one was durable */
};

static int seen_add(struct replay *r, uint64_t off, uint64_t csum, uint32_t len)
{
	if (r->n == r->cap) {
		struct seen *v = realloc(r->v, (r->cap * 2 + 64) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = r->cap * 2 + 64;
	}
	r->v[r->n++] = (struct seen){ off, csum, len };
	return 0;
}

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

/* Whether a commit body lists a blob range (synced together with it)
 * that does not read back with its checksum (`say`: logged). */
static bool ranges_torn(lkv_store *s, const uint8_t *body, size_t len, uint16_t layout,
			bool say)
{
	struct blob_range *v;
	size_t n;
	bool torn = false;
	if (commit_ranges(body, len, layout, &v, &n))
		return false;       /* malformed: applying it says so */
	for (size_t i = 0; i < n && !torn; i++)
		torn = !blob_range_ok(s, &v[i]);
	if (torn && say)
		store_log(s, LKV_LOG_INFO, "the last commit relies on blob bytes that did not "
			  "all reach the disk: it is dropped, as a torn commit is");
	free(v);
	return torn;
}

/* Whether a valid record starts at off of f (`size` bytes): a commit
 * followed by one is not the last of its file. */
static bool record_follows(lkv_store *s, lkv_file *f, uint64_t off, uint64_t size)
{
	struct rec_hdr h;
	uint8_t *rec;
	bool yes = record_read(s, f, off, size, &h, &rec) == 0;
	free(rec);
	return yes;
}

/* A verified record found while scanning a damaged file. */
struct found { uint64_t off; struct rec_hdr h; const uint8_t *p; };

/* The next record at or after `at` in p[0, len) whose header parses and
 * whose checksum matches (records stored inside values are skipped with
 * their record, so they are never mistaken for records).  False at the
 * end. */
static bool next_valid(const uint8_t *p, size_t len, size_t *at, struct found *r)
{
	uint8_t magic[4];
	put_u32(magic, get_u32((const uint8_t *)"LKVR"));
	while (*at + REC_HDR <= len) {
		const uint8_t *m = memmem(p + *at, len - *at, magic, 4);
		if (!m || (size_t)(m - p) + REC_HDR > len)
			return false;
		*at = m - p;
		if (record_parse_header(m, &r->h) || r->h.stored_len > len - *at - REC_HDR ||
		    checksum2(m, 24, m + REC_HDR, r->h.stored_len) != r->h.csum) {
			(*at)++;
			continue;
		}
		r->off = *at;
		r->p = m;
		*at += REC_HDR + r->h.stored_len;
		return true;
	}
	return false;
}

/* The newest epoch of the valid records in p[at, len), 0 if none. */
static uint64_t later_epoch(const uint8_t *p, size_t len, size_t at)
{
	struct found fr;
	uint64_t e = 0;
	while (next_valid(p, len, &at, &fr))
		e = fr.h.epoch > e ? fr.h.epoch : e;
	return e;
}

/* Notes a leaf image lost to damage. */
static int seen_lost(struct replay *r, uint32_t file, uint64_t off)
{
	if (r->nlost == r->lostcap) {
		struct leaf_loc *v = realloc(r->lost, (r->lostcap * 2 + 16) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->lost = v;
		r->lostcap = r->lostcap * 2 + 16;
	}
	r->lost[r->nlost++] = (struct leaf_loc){ .file = file, .off = off };
	return 0;
}

/* Accepts every leaf location of a commit read past damage, noting the
 * ones whose record was not seen intact: their images are lost. */
static int check_leaf_lenient(void *arg, const struct loc_ent *e)
{
	struct replay *r = arg;
	return check_leaf(arg, e) ? seen_lost(r, e->loc.file, e->loc.off) : 0;
}

/* How many records of the table's chains are at a lost location (a later
 * commit may have written their leaves again since). */
static uint64_t count_lost(const struct loctable *lt, const struct replay *r)
{
	uint64_t n = 0;
	for (size_t i = 0; i < lt->cap; i++) {
		const struct loc_ent *e = lt->slot[i];
		for (size_t j = 0; e && j < r->nlost; j++) {
			const struct leaf_loc *x = &r->lost[j];
			n += e->loc.file == x->file && e->loc.off == x->off;
			for (uint32_t k = 0; k < e->nchain; k++)
				n += e->chain[k].loc.file == x->file && e->chain[k].loc.off == x->off;
		}
	}
	return n;
}

/* ---- rebuilding commits lost to damage from later digests ---- */

/* Reads the record at w->loc, which must be of `type` and `epoch`, into
 * *raw (malloc'd); false when it is not there intact. */
static bool digest_record(lkv_store *s, const struct digest_leaf *w, uint8_t type,
			  uint64_t epoch, struct rec_hdr *h, uint8_t **raw)
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	uint64_t size = 0;
	uint8_t *rec = NULL;
	*raw = NULL;
	file_name(name, FILE_LOG, w->loc.file);
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (!err) {
		if (!s->io->ops->size(f, &size))
			err = record_read(s, f, w->loc.off, size, h, &rec);
		s->io->ops->close(f);
	}
	bool ok = !err && rec && h->type == type && h->epoch == epoch &&
		  REC_HDR + (uint64_t)h->stored_len == w->loc.len && !record_open(rec, h, raw);
	free(rec);
	if (!ok) {
		free(*raw);
		*raw = NULL;
	}
	return ok;
}

/*
 * The location entry for base image w of a lost commit of `epoch`: from
 * its record when that verifies (the count of keys and the bloom filter
 * come from the image), else pointing at the damaged bytes (the leaf then
 * reads as -EIO) and noted lost.  The low key: the table's for a leaf it
 * knows, the digest's for a new one.
 */
static int digest_entry(lkv_store *s, struct replay *r, const struct digest_leaf *w,
			uint64_t epoch, struct loc_ent **out)
{
	struct loc_ent *e = calloc(1, sizeof(*e)), *known = loctable_get(&s->lt, w->id);
	const uint8_t *low = known ? known->low : w->low;
	size_t low_len = known ? known->low_len : w->low_len;
	if (!e || !(e->low = malloc(low_len ? low_len : 1))) {
		free(e);
		return -ENOMEM;
	}
	memcpy(e->low, low, low_len);
	*e = (struct loc_ent){ .leaf_id = w->id, .tree_id = w->tree, .loc = w->loc,
			       .low = e->low, .low_len = low_len };
	struct rec_hdr h;
	uint8_t *raw;
	int err = 0;
	if (digest_record(s, w, REC_LEAF, epoch, &h, &raw) && h.raw_len >= 16 &&
	    get_u32(raw) == w->tree && get_u64(raw + 4) == w->id) {
		e->loc.csum = h.csum;
		e->nkeys = get_u32(raw + 12);
		bloom_build(&e->bloom, raw, h.raw_len, s->o.bloom_bits);
	} else {
		err = seen_lost(r, w->loc.file, w->loc.off);
	}
	free(raw);
	if (err == -ENOMEM) {
		loc_ent_free(e);
		return err;
	}
	*out = e;
	return 0;
}

/* The key hashes of lost delta w as its digest lists them (so that fsck
 * drops those keys and keeps the rest of the leaf), or not listed.
 * -ENOMEM. */
static int digest_link_hashes(const struct digest_leaf *w, struct loc_ent *d)
{
	d->nhash = LINK_HASHES_MAX + 1;              /* keys unknown: not listed */
	if (!w->hash_le || w->nhash > LINK_HASHES_MAX)
		return 0;
	d->hash = malloc((w->nhash ? w->nhash : 1) * sizeof(*d->hash));
	if (!d->hash)
		return -ENOMEM;
	for (size_t i = 0; i < w->nhash; i++)
		d->hash[i] = get_u64(w->hash_le + 8 * i);
	d->nhash = (uint32_t)w->nhash;
	return 0;
}

/*
 * Appends delta w of a lost commit of `epoch` to its leaf's chain: from
 * its record when that verifies (its keys go into the filter), else
 * pointing at the damaged bytes (the leaf then reads as -EIO, and its
 * filter is dropped: a key the delta added must not read as absent),
 * noted lost, its keys those the digest lists.  -EUCLEAN when the table
 * has no such leaf.
 */
static int digest_delta(lkv_store *s, struct replay *r, const struct digest_leaf *w,
			uint64_t epoch)
{
	struct loc_ent *known = loctable_get(&s->lt, w->id);
	struct loc_ent *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct loc_ent){ .kind = LOC_DELTA, .leaf_id = w->id, .tree_id = w->tree,
			       .loc = w->loc, .nkeys = known ? known->nkeys : 0 };
	struct rec_hdr h;
	uint8_t *raw = NULL;
	size_t nhash = 0;
	struct delta_rd it;
	int err = 0;
	bool ok = known && digest_record(s, w, REC_DELTA, epoch, &h, &raw);
	if (ok && (delta_open(raw, h.raw_len, &it) || it.tree_id != w->tree || it.leaf_id != w->id ||
		   it.prev != (known->nchain ? known->chain[known->nchain - 1].loc.csum
					     : known->loc.csum) ||
		   delta_hashes(raw, h.raw_len, &d->hash, &nhash)))
		ok = false;
	if (ok) {
		d->loc.csum = h.csum;
		d->nkeys = it.nkeys;
		d->nhash = (uint32_t)nhash;
	} else if (known) {
		err = seen_lost(r, w->loc.file, w->loc.off);
		bloom_free(&known->bloom);
		free(d->hash);
		d->hash = NULL;
		if (!err)
			err = digest_link_hashes(w, d);
	}
	free(raw);
	if (err) {
		loc_ent_free(d);
		return err;
	}
	return loctable_append(&s->lt, d);
}

/* Applies one digest of a lost commit to the table, as its commit would
 * have been applied (bar the allocators' next ids: the carrying commit's
 * come next). */
static int digest_apply(lkv_store *s, struct replay *r, const struct digest *d)
{
	struct loctable *lt = &s->lt;
	int err = 0;
	for (size_t i = 0; i < d->ntrees && !err; i++) {
		bool known = false;
		for (size_t j = 0; j < lt->ntrees; j++)
			known |= lt->trees[j].id == d->trees[i].id;
		if (!known)
			err = loctable_add_tree(lt, d->trees[i].id, d->trees[i].name,
						d->trees[i].name_len);
	}
	for (size_t i = 0; i < d->nleaves && !err; i++) {
		struct loc_ent *e;
		if (d->leaves[i].kind == LOC_DELTA) {
			err = digest_delta(s, r, &d->leaves[i], d->epoch);
			continue;
		}
		err = digest_entry(s, r, &d->leaves[i], d->epoch, &e);
		if (!err)
			err = loctable_put(lt, e);
		if (!err && d->leaves[i].id >= lt->next_leaf_id)
			lt->next_leaf_id = d->leaves[i].id + 1;
	}
	for (size_t i = 0; i < d->ndead && !err; i++)
		loctable_del(lt, d->dead[i]);
	for (size_t i = 0; i < d->nsegd && !err; i++) {
		struct lt_file *f = loctable_seg(lt, d->segd[i].seg);
		if (!f)
			err = -ENOMEM;
		else if (d->segd[i].bytes < 0 && f->live < (uint64_t)-d->segd[i].bytes)
			f->live = 0;           /* lkv_check recounts */
		else
			f->live += d->segd[i].bytes;
	}
	lt->epoch = d->epoch;         /* the chain: set by the caller */
	return err;
}

/*
 * A commit that does not follow the chain: the commits between the state
 * replayed so far and it were lost.  When its digests join the two (one
 * follows the chain the table has; from there to the end they are the
 * lost commits, the carrying commit following the last), they are rebuilt
 * from their digests and their leaf records, in order, and 0 is returned:
 * the commit then follows the chain.  -ESTALE when they cannot be (the
 * damage reached further back than the digests, or the store is of
 * format 1).
 */
static int bridge(lkv_store *s, struct replay *r, const uint8_t *body, size_t len,
		  uint16_t layout)
{
	struct digest *d;
	size_t n, k = 0;
	if (len < 8 || commit_digests(body, len, layout, &d, &n))
		return -ESTALE;
	while (k < n && d[k].prev != s->lt.chain)
		k++;
	int err = k < n ? 0 : -ESTALE;
	for (size_t i = k; i < n && !err; i++)      /* epochs in order: all or none */
		err = d[i].epoch > (i > k ? d[i - 1].epoch : s->lt.epoch) ? 0 : -ESTALE;
	for (size_t i = k; i < n && !err; i++) {
		err = digest_apply(s, r, &d[i]);
		s->lt.chain = i + 1 < n ? d[i + 1].prev : get_u64(body);
	}
	if (!err)
		r->bridged += n - k;
	digests_free(d, n);
	return err;
}

/*
 * Resyncs past damage at `from` in log file f (of `size` bytes, read whole
 * into memory): every later record that verifies is used as replay would,
 * commits that follow the chain are applied, and a commit that names a
 * leaf record the damage took is applied all the same (that leaf then
 * fails to read: lkv_check reports and empties it).  A commit that does
 * not follow the chain means commits were lost: nothing after it can be
 * applied (r->gap).  *end moves past each commit applied.
 */
static int resync(lkv_store *s, lkv_file *f, struct replay *r, uint64_t from, uint64_t size,
		  uint64_t *end)
{
	size_t len = size - from, at = 1;
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return -ENOMEM;
	ssize_t n = s->io->ops->pread(f, p, len, from);
	if (n != (ssize_t)len) {
		free(p);
		return n < 0 ? (int)n : -EIO;
	}
	struct found fr;
	int err = 0;
	uint64_t tail_epoch = 0;            /* of the leaf records since a commit */
	bool lost_commit = false;
	r->damage_at = from;
	while (!err && !r->gap && next_valid(p, len, &at, &fr)) {
		if (fr.h.epoch <= s->lt.epoch)
			continue;               /* an older image, or replayed already */
		if (fr.h.type == REC_LEAF || fr.h.type == REC_DELTA) {
			/* leaf records of two epochs with no commit between: the
			 * first epoch's commit was in the damage (the next commit
			 * may bring its digest) */
			lost_commit |= tail_epoch && fr.h.epoch != tail_epoch;
			tail_epoch = fr.h.epoch;
			err = seen_add(r, from + fr.off, fr.h.csum, REC_HDR + fr.h.stored_len);
			continue;
		}
		tail_epoch = 0;
		uint8_t *raw = NULL;
		if (fr.h.type != REC_COMMIT || record_open(fr.p, &fr.h, &raw))
			continue;
		uint16_t lay = fr.h.layout;
		/* durable for certain when a later epoch's records follow */
		bool followed = r->more_files || fr.h.epoch < later_epoch(p, len, at);
		if (!followed && ranges_torn(s, raw, fr.h.raw_len, lay, true))
			err = -ENODATA;         /* its blobs did not all reach the disk */
		else
			err = commit_apply(&s->lt, raw, fr.h.raw_len, lay, fr.h.epoch, fr.h.csum,
					   check_leaf, r);
		if (err == -ESTALE && fr.h.epoch > s->lt.epoch) {
			int berr = bridge(s, r, raw, fr.h.raw_len, lay);
			err = berr ? (berr == -ESTALE ? err : berr)
				   : commit_apply(&s->lt, raw, fr.h.raw_len, lay, fr.h.epoch,
						  fr.h.csum, check_leaf, r);
		}
		/* a leaf record it names was not seen: lost to the damage if the
		 * epoch was durable, which a later epoch's records prove; the
		 * last flush may simply be torn (a crash): it ends the log */
		if (err == -EUCLEAN && followed)
			err = commit_apply(&s->lt, raw, fr.h.raw_len, lay, fr.h.epoch, fr.h.csum,
					   check_leaf_lenient, r);
		else if (err == -EUCLEAN || err == -ENODATA)
			r->torn = true;
		free(raw);
		if (r->torn) {
			err = 0;
			break;
		}
		if (err == -ESTALE || err == -EUCLEAN) {
			r->gap = true;          /* commits before this one were lost */
			err = 0;
		} else if (!err) {
			*end = from + fr.off + REC_HDR + fr.h.stored_len;
			r->n = 0;
			r->resumed = true;
			lost_commit = false;
		}
	}
	/* records of an epoch whose commit was lost, and no commit after them
	 * to rebuild it: in a file the log has moved past, damage (the next
	 * file's first commit may still bring the digest); else a gap */
	r->lost_tail = lost_commit || (!r->resumed && !r->torn && r->more_files);
	r->gap |= lost_commit && !r->more_files;
	free(p);
	return err;
}

/*
 * After the records of a log file stopped making sense at *end: a torn
 * tail (nothing committed follows: 0), damage that later commits follow
 * and that salvage could read past (0, with what it did logged), or
 * damage that ends the log (-EUCLEAN, logged; with LKV_SALVAGE the rest of
 * the file is dropped instead, and counted).  Reading past damage loses
 * nothing when no commit and no live leaf image was in it, so a normal
 * open does it too; otherwise only LKV_SALVAGE (fsck -y, or a read-only
 * look) may.
 */
static int after_damage(lkv_store *s, lkv_file *f, const char *name, struct replay *r,
			uint64_t *end, uint64_t size)
{
	struct loctable saved;
	bool salvage = s->o.flags & LKV_SALVAGE;
	uint64_t from = *end, was = *end;
	int err = salvage ? 0 : loctable_copy(&saved, &s->lt);
	if (!err)
		err = resync(s, f, r, from, size, end);
	r->lost_images = err ? 0 : count_lost(&s->lt, r);
	bool lossy = r->gap || r->lost_images;
	if (!err && !salvage && r->resumed && lossy) {
		loctable_free(&s->lt);          /* not ours to decide: undo */
		s->lt = saved;
		saved = (struct loctable){ 0 };
		*end = was;
	}
	if (!salvage)
		loctable_free(&saved);
	if (err)
		return err;
	if (r->lost_tail && !r->resumed)
		store_log(s, LKV_LOG_WARN, "%s is damaged at offset %" PRIu64 ", where its "
			  "last commits were; the next log file's digests must rebuild them",
			  name, from);
	if (!r->resumed && !r->gap)
		return 0;                       /* a torn tail, or the above */
	if (!salvage && lossy) {
		store_log(s, LKV_LOG_ERR, "%s is damaged at offset %" PRIu64 ", and committed "
			  "changes follow%s; run fsck.larchfs", name, from,
			  r->gap ? " that cannot be read past it" : "");
		return -EUCLEAN;
	}
	s->log_damage += r->resumed;
	if (r->resumed)
		store_log(s, LKV_LOG_WARN, "%s is damaged at offset %" PRIu64 "; the commits "
			  "after it are kept%s%s", name, from, r->bridged ?
			  " (commits lost in it rebuilt from their digests)" : "",
			  r->lost_images ? ", but leaf images they name were in the damage" : "");
	s->lost_leaf_images += r->lost_images;
	s->rebuilt_commits += r->bridged;
	if (r->gap) {
		store_log(s, LKV_LOG_ERR, "%s: salvaging: the %" PRIu64 " bytes from "
			  "offset %" PRIu64 " on are dropped, committed changes among them",
			  name, size - *end, *end);
		s->salvaged += size - *end;
	}
	return 0;
}

/*
 * Replays one log file from `off`.  Returns the offset just past the last
 * commit applied (or `off`) in *end and whether the file ended exactly
 * there in *clean.
 */
static int replay_file(lkv_store *s, uint32_t no, uint64_t off, bool more_files,
		       uint64_t *end, bool *clean)
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	uint64_t size;
	struct replay r = { .file = no, .more_files = more_files };
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
		if ((h.type == REC_LEAF || h.type == REC_DELTA) && h.epoch > s->lt.epoch) {
			err = seen_add(&r, off, h.csum, (uint32_t)(next - off));
		} else if (h.type == REC_COMMIT && !(err = record_open(rec, &h, &raw))) {
			/* the last commit, with blobs that did not all reach the
			 * disk: torn (resync, after_damage, then says so) */
			if (!more_files && !record_follows(s, f, next, size) &&
			    ranges_torn(s, raw, h.raw_len, h.layout, false))
				err = -EUCLEAN;
			else
				err = commit_apply(&s->lt, raw, h.raw_len, h.layout, h.epoch, h.csum,
						   check_leaf, &r);
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
	/* bytes that are not a valid next commit end the log; an I/O error
	 * does not (it fails the open: truncating there would lose commits) */
	if ((err == -ENODATA || err == -EUCLEAN || err == -ESTALE) && *end != size)
		err = after_damage(s, f, name, &r, end, size);
	else if (err == -ENODATA || err == -EUCLEAN || err == -ESTALE)
		err = 0;
	else if (err != -ENOMEM)
		store_log(s, LKV_LOG_ERR, "%s: cannot read offset %" PRIu64 ": %s", name,
			  off, strerror(-err));
	free(r.v);
	free(r.lost);
	/* replay goes on into the next file only from one that ends at its last
	 * commit, or that was read past damage to its end, losing no commit */
	*clean = *end == size || (!r.gap && !r.torn && (r.resumed || r.lost_tail));
	s->io->ops->close(f);
	if (!err && *end != size && !r.resumed)
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
		int err = replay_file(s, no, off, no < max_log, &end, &clean);
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
		t->nkeys += e->nkeys;     /* the chains' counts (lkv_tree_count) */
		bloom_copy(&l->bloom, &e->bloom);   /* shared (bloom.c) */
		if (e->nchain && !(l->chain = malloc(e->nchain * sizeof(*l->chain))))
			return -ENOMEM;
		for (uint32_t k = 0; k < e->nchain; k++) {
			l->chain[k] = e->chain[k].loc;
			l->chain_bytes += e->chain[k].loc.len;
		}
		l->nchain = e->nchain;
		l->logged_epoch = lt->epoch;
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
		err = snapshot_write(s, true);
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
		s->lt.track = true;     /* what replay changes, the next delta holds */
		s->tail_ranges = true;  /* not known */
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
	/* after damage was read past, a snapshot spares the next open that */
	if (!err && !s->ro && (s->log_damage || s->salvaged))
		snapshot_write(s, true);        /* a failure is logged */
	else if (!err && !s->ro)
		snapshot_due(s, false); /* a failure is logged; the next flush retries */
	free(ls.segs);
	return err;
}
