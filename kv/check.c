/* SPDX-License-Identifier: MIT */
/*
 * lkv_check: reads back everything a store references and verifies it,
 * for fsck.  Nothing here trusts the cache: every leaf is read from its
 * log file and every blob from its segment.
 *
 * The walk: flush (so that disk holds every change), then with GC held
 * off, for each tree and each leaf of its index, read and decode the
 * leaf's newest image (checksum, record framing, decoding), check that
 * its keys ascend and lie within [its low key, the next leaf's low key),
 * and for each blob reference read the whole blob record (header and
 * every block checksum, inside the segment).  Live bytes are summed per
 * log file (leaf records) and per segment (blob records) and compared with
 * the location table's counts, which GC relies on to delete files.
 *
 * A leaf's newest image is its chain: the base image and the delta records
 * after it (image.c), each verified and each counted live in its log file.
 * When only deltas of a chain are damaged, and each of them lists the keys
 * it changed (loctable.c), the rest of the chain is read past them
 * (delta_apply_lenient): the keys such a delta changed are the ones lost,
 * each reported, and the rest of the leaf is kept.
 *
 * Repairs (LKV_CHECK_REPAIR) go through the ordinary write path: a key
 * whose blob is lost is deleted in a batch (which also fixes that blob's
 * accounting), a leaf that cannot be read is emptied and rewritten (its
 * keys are lost; the blobs they referenced become dead), and one read past
 * damaged deltas is rewritten whole without the keys they cost.  Live counts
 * that disagree are then set to what a second walk finds and made durable
 * with a snapshot.  While a leaf is unreadable the counts are not judged:
 * the blobs it references are unknown.  Every snapshot file is verified
 * too (the open loads only the newest good one, so a damaged older one
 * would silently be no fallback); a damaged one is replaced by a fresh
 * snapshot.
 *
 * Key counts (lkv_tree_count): each leaf's count in the location table
 * must be its chain's (the base image with its deltas applied: a commit
 * names the count after the delta it adds), and each tree's running count
 * the sum of what the walk found; a repair sets both to what was found
 * (the table's durably, with a snapshot).  Like the live counts, they are
 * judged only when every leaf of the tree could be read, and only with no
 * writer running (fsck's exclusive open).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct tally { uint32_t no; uint64_t live; };

struct check {
	lkv_store *s;
	lkv_check_fn fn;
	void *arg;
	struct lkv_check_stats *st;
	struct tally *logs, *segs;
	size_t nlogs, nsegs;
	lkv_batch *fix;           /* deletions of keys whose blob is lost */
	struct leaf **lost;       /* leaves that cannot be read, one ref each */
	struct entries **kept;    /* ... what could be read of each, or NULL */
	size_t nlost;
	bool quiet;               /* report only accounting problems */
	uint64_t found;           /* keys read in the tree being walked */
	bool recount;             /* key counts were fixed: snapshot them */
	int err;                  /* operational failure (-ENOMEM) */
};

static void tally_add(struct check *c, struct tally **v, size_t *n, uint32_t no,
		      uint64_t bytes)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].no == no) {
			(*v)[i].live += bytes;
			return;
		}
	struct tally *nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv) {
		c->err = -ENOMEM;
		return;
	}
	*v = nv;
	(*v)[(*n)++] = (struct tally){ no, bytes };
}

static void report(struct check *c, const struct lkv_damage *d)
{
	if (c->quiet && d->tree)
		return;         /* a second walk: only the accounting is news */
	c->st->problems++;
	c->st->repaired += d->repaired;
	if (c->fn)
		c->fn(c->arg, d);
}

/* Reports leaf l's key range (up to next's low key, or the end): the
 * leaf lost its keys, or (partial) some it cannot name. */
static void report_leaf(struct check *c, struct leaf *l, struct leaf *next, bool repaired,
			bool partial, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void report_leaf(struct check *c, struct leaf *l, struct leaf *next, bool repaired,
			bool partial, const char *fmt, ...)
{
	char what[256], name[32];
	file_name(name, FILE_LOG, l->loc.file);
	int n = snprintf(what, sizeof(what), "leaf %" PRIu64 " at %s offset %" PRIu64 ": ",
			 l->id, name, l->loc.off);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what + n, sizeof(what) - (size_t)n, fmt, ap);
	va_end(ap);
	struct lkv_damage d = { .tree = l->tree->name, .leaf_low = l->low,
				.leaf_low_len = l->low_len, .what = what, .repaired = repaired,
				.partial = partial };
	if (next) {
		d.leaf_high = next->low;
		d.leaf_high_len = next->low_len;
	}
	report(c, &d);
}

/* Reads one blob record whole; reports and (repairing) deletes its key. */
static void check_blob(struct check *c, struct lkv_tree *t, const struct entry *e)
{
	struct blob_ref r;
	uint8_t *rec = NULL;
	char what[160], name[32];
	int err = blob_ref_decode(e->v, e->vl, &r);
	if (err) {
		snprintf(what, sizeof(what), "a malformed blob reference");
	} else {
		tally_add(c, &c->segs, &c->nsegs, r.seg, r.len);
		err = blob_read_record(c->s, &r, &rec);
		free(rec);
		if (err == -ENOMEM) {
			c->err = err;
			return;
		}
		c->st->blobs++;
		c->st->blob_bytes += r.raw_len;
		if (!err)
			return;
		file_name(name, FILE_BLOB, r.seg);
		snprintf(what, sizeof(what), "blob at %s offset %" PRIu64 ": %s", name, r.off,
			 err == -ESTALE ? "outside its segment" : "fails its checksum");
	}
	struct lkv_damage d = { .tree = t->name, .key = e->k, .klen = e->kl, .what = what };
	if (c->fix && !lkv_batch_delete(c->fix, t, e->k, e->kl))
		d.repaired = true;
	report(c, &d);
}

/* Compares the location table's key count of leaf l with n, the count
 * of its image with its deltas applied. */
static void check_leaf_count(struct check *c, struct leaf *l, uint32_t n)
{
	c->found += n;
	pthread_mutex_lock(&c->s->flush_mu);
	struct loc_ent *e = loctable_get(&c->s->lt, l->id);
	uint32_t counted = e ? e->nkeys : n;
	if (e && c->fix && counted != n) {
		e->nkeys = n;
		c->recount = true;
	}
	pthread_mutex_unlock(&c->s->flush_mu);
	if (counted == n)
		return;
	/* store-wide: no key is lost, only a count is wrong */
	char what[160], name[32];
	file_name(name, FILE_LOG, l->loc.file);
	snprintf(what, sizeof(what), "tree %s, leaf %" PRIu64 " at %s offset %" PRIu64 ": %"
		 PRIu32 " keys counted, %" PRIu32 " in its chain", l->tree->name, l->id, name,
		 l->loc.off, counted, n);
	struct lkv_damage d = { .what = what, .repaired = c->fix != NULL };
	report(c, &d);
}

/* Compares tree t's running key count with the keys the walk found. */
static void check_tree_count(struct check *c, struct lkv_tree *t, size_t lost_before)
{
	uint64_t counted = lkv_tree_count(t);
	if (c->err || c->nlost > lost_before || counted == c->found)
		return;
	char what[160];
	snprintf(what, sizeof(what), "tree %s: %" PRIu64 " keys counted, %" PRIu64 " found",
		 t->name, counted, c->found);
	struct lkv_damage d = { .what = what, .repaired = c->fix != NULL };
	report(c, &d);
	if (c->fix)
		atomic_store(&t->nkeys, c->found);
}

/* Notes leaf l (a ref is taken) as unreadable, with what could be read of
 * it (kept, taken; NULL: nothing). */
static void note_lost(struct check *c, struct leaf *l, struct entries *kept)
{
	struct leaf **v = realloc(c->lost, (c->nlost + 1) * sizeof(*v));
	struct entries **k = v ? realloc(c->kept, (c->nlost + 1) * sizeof(*k)) : NULL;
	if (v)
		c->lost = v;
	if (!v || !k) {
		entries_free(kept);
		c->err = -ENOMEM;
		return;
	}
	c->kept = k;
	leaf_ref(l);
	c->lost[c->nlost] = l;
	c->kept[c->nlost++] = kept;
}

/* The key hashes the table lists for the delta at loc of leaf id (into
 * lost); false when it lists none (the delta changed too many keys). */
static bool listed_keys(struct check *c, uint64_t id, const struct leaf_loc *loc,
			struct lost_set *lost)
{
	bool listed = false;
	pthread_mutex_lock(&c->s->flush_mu);
	const struct loc_ent *e = loctable_get(&c->s->lt, id);
	for (uint32_t i = 0; e && i < e->nchain; i++) {
		const struct chain_link *k = &e->chain[i];
		if (k->loc.file != loc->file || k->loc.off != loc->off || !k->hash)
			continue;
		listed = true;
		for (uint32_t j = 0; j < k->nhash; j++)
			if (lost_add(lost, k->hash[j]))
				c->err = -ENOMEM;
	}
	pthread_mutex_unlock(&c->s->flush_mu);
	return listed;
}

/*
 * Drops from d (l's entries read past its damaged deltas) every key whose
 * value a damaged delta held (its hash in lost), reporting each; returns
 * how many of lost's keys d did not hold: keys those deltas made that no
 * later record names, lost without a name (or that they deleted: a
 * hash does not tell which, so the caller assumes the worse).
 */
static size_t drop_lost(struct check *c, struct leaf *l, struct entries *d,
			const struct lost_set *lost)
{
	size_t named = 0;
	for (uint32_t i = 0; i < d->n;) {
		const struct entry *e = &d->e[i];
		if (!lost_has(lost, lkv_checksum(e->k, e->kl))) {
			i++;
			continue;
		}
		char what[160];
		snprintf(what, sizeof(what), "leaf %" PRIu64 ": its value was in a damaged delta "
			 "record", l->id);
		struct lkv_damage dm = { .tree = l->tree->name, .key = e->k, .klen = e->kl,
					 .what = what, .repaired = c->fix != NULL };
		report(c, &dm);
		entries_del(d, e->k, e->kl);
		named++;
	}
	return lost->n - named;
}

/*
 * Reads l's chain past its damaged deltas (the base read): *out gets the
 * entries it holds less the keys those deltas changed, which are reported
 * one by one; keys they made that cannot be named are reported as l's key
 * range (partial), so that the layer above looks for what referred to
 * them as it does for a lost leaf.  False when that cannot be done: a
 * damaged delta lists no keys, or the rest does not apply.
 */
static bool salvage_chain(struct check *c, struct leaf *l, struct leaf *next,
			  const struct leaf_loc *base, const struct leaf_loc *chain, uint32_t n,
			  struct entries **out)
{
	struct entries *d = NULL;
	struct lost_set lost = { 0 };
	const char *why;
	bool bad, ok = !leaf_read_base(c->s, l, base, &d, &why, &bad);
	uint32_t damaged = 0;
	for (uint32_t i = 0; ok && i < n; i++) {
		if (!leaf_read_delta(c->s, l, &chain[i], 0, d, &lost, &why, &bad))
			continue;
		ok = listed_keys(c, l->id, &chain[i], &lost);
		damaged++;
		char name[32], what[256];
		file_name(name, FILE_LOG, chain[i].file);
		snprintf(what, sizeof(what), "tree %s, leaf %" PRIu64 ": delta %u of its chain, at "
			 "%s offset %" PRIu64 ", is damaged (%s); the rest of the leaf is kept, "
			 "the keys that delta changed are lost", l->tree->name, l->id, i + 1, name,
			 chain[i].off, why ? why : "unreadable");
		struct lkv_damage dm = { .what = what, .repaired = c->fix != NULL };
		if (ok)
			report(c, &dm);
	}
	if (!ok || c->err) {
		entries_free(d);
		free(lost.h);
		return false;
	}
	size_t unnamed = drop_lost(c, l, d, &lost);
	if (unnamed)
		report_leaf(c, l, next, c->fix != NULL, true, "%zu key%s that a damaged delta "
			    "record changed %s not in the rest of the leaf: made by it (lost) or "
			    "deleted, they cannot be named", unnamed, unnamed == 1 ? "" : "s",
			    unnamed == 1 ? "is" : "are");
	free(lost.h);
	*out = d;
	return damaged > 0;
}

/* Verifies one leaf's chain; `next` is the following leaf (or NULL). */
static void check_leaf(struct check *c, struct lkv_tree *t, struct leaf *l, struct leaf *next)
{
	struct entries *d = NULL;
	const char *why;
	bool bad;
	int at;
	c->st->leaves++;
	pthread_rwlock_rdlock(&t->lock);
	struct leaf_loc base = l->loc;
	uint32_t n = l->nchain;
	struct leaf_loc *chain = malloc((n ? n : 1) * sizeof(*chain));
	if (chain && n)
		memcpy(chain, l->chain, n * sizeof(*chain));
	pthread_rwlock_unlock(&t->lock);
	if (!chain) {
		c->err = -ENOMEM;
		return;
	}
	if (base.file == 0) {
		free(chain);
		return;              /* never written: nothing on disk to check */
	}
	tally_add(c, &c->logs, &c->nlogs, base.file, base.len);
	for (uint32_t i = 0; i < n; i++)
		tally_add(c, &c->logs, &c->nlogs, chain[i].file, chain[i].len);
	int err = leaf_read(c->s, l, &base, chain, n, &d, &why, &bad, &at);
	if (err == -ENOMEM) {
		c->err = err;
	} else if (err && at >= 0 && salvage_chain(c, l, next, &base, chain, n, &d)) {
		/* repaired by rewriting what was read; the counts wait for it */
		note_lost(c, l, d);
		d = NULL;
	} else if (err) {
		/* repaired by emptying it (lkv_check); its blobs' accounting is
		 * unknown until then, so the counts are not judged this walk */
		note_lost(c, l, NULL);
		if (at < 0)
			report_leaf(c, l, next, c->fix != NULL, false, "%s", why ? why : "unreadable");
		else
			report_leaf(c, l, next, c->fix != NULL, false, "delta %d of its chain: %s",
				    at + 1, why ? why : "unreadable");
	}
	free(chain);
	if (err && !d)
		return;
	if (!err)
		check_leaf_count(c, l, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		const struct entry *e = &d->e[i];
		c->st->entries++;
		if ((i > 0 && keycmp(d->e[i - 1].k, d->e[i - 1].kl, e->k, e->kl) >= 0) ||
		    keycmp(e->k, e->kl, l->low, l->low_len) < 0 ||
		    (next && keycmp(e->k, e->kl, next->low, next->low_len) >= 0)) {
			report_leaf(c, l, next, false, false, "key %u out of order or outside the "
				    "leaf", i);
			break;
		}
		if (e->flags & ENT_BLOB)
			check_blob(c, t, e);
	}
	entries_free(d);
}

static void check_tree(struct check *c, struct lkv_tree *t)
{
	pthread_rwlock_rdlock(&t->lock);
	size_t n = t->n;
	struct leaf **v = malloc((n ? n : 1) * sizeof(*v));
	for (size_t i = 0; v && i < n; i++) {
		v[i] = t->v[i];
		leaf_ref(v[i]);
	}
	pthread_rwlock_unlock(&t->lock);
	if (!v) {
		c->err = -ENOMEM;
		return;
	}
	size_t lost_before = c->nlost;
	c->found = 0;
	for (size_t i = 0; i < n && !c->err; i++)
		check_leaf(c, t, v[i], i + 1 < n ? v[i + 1] : NULL);
	check_tree_count(c, t, lost_before);
	for (size_t i = 0; i < n; i++)
		leaf_unref(v[i]);
	free(v);
}

static uint64_t tally_of(const struct tally *v, size_t n, uint32_t no)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].no == no)
			return v[i].live;
	return 0;
}

/* Compares one kind of live count; with fix, sets it to what was found.
 * Returns whether anything was wrong. */
static bool check_counts(struct check *c, const char *kind, struct lt_file *lt, size_t nlt,
			 struct lt_file *(*add)(struct loctable *, uint32_t),
			 const struct tally *found, size_t nfound, bool fix)
{
	bool wrong = false;
	char what[160];
	for (size_t i = 0; i < nlt; i++) {
		uint64_t want = tally_of(found, nfound, lt[i].no);
		if (lt[i].live == want)
			continue;
		snprintf(what, sizeof(what), "%s %08" PRIu32 ": %" PRIu64 " live bytes counted, %"
			 PRIu64 " referenced", kind, lt[i].no, lt[i].live, want);
		struct lkv_damage d = { .what = what, .repaired = fix };
		report(c, &d);
		if (fix)
			lt[i].live = want;
		wrong = true;
	}
	for (size_t i = 0; i < nfound; i++) {
		bool known = false;
		for (size_t j = 0; j < nlt; j++)
			known |= lt[j].no == found[i].no;
		if (known)
			continue;
		snprintf(what, sizeof(what), "%s %08" PRIu32 ": referenced but not counted",
			 kind, found[i].no);
		struct lkv_damage d = { .what = what, .repaired = fix };
		report(c, &d);
		struct lt_file *f = fix ? add(&c->s->lt, found[i].no) : NULL;
		if (f)
			f->live = found[i].live;
		wrong = true;
	}
	return wrong;
}

/* Checks (and with repair fixes) the live counts under flush_mu. */
static int check_accounting(struct check *c, bool fix)
{
	lkv_store *s = c->s;
	pthread_mutex_lock(&s->flush_mu);
	bool wrong = check_counts(c, "log file", s->lt.files, s->lt.nfiles, loctable_log,
				  c->logs, c->nlogs, fix);
	wrong |= check_counts(c, "segment", s->lt.segs, s->lt.nsegs, loctable_seg,
			      c->segs, c->nsegs, fix);
	int err = (wrong || c->recount) && fix ? snapshot_write(s, true) : 0;
	pthread_mutex_unlock(&s->flush_mu);
	return err;
}

static int check_all_trees(struct check *c)
{
	lkv_store *s = c->s;
	pthread_mutex_lock(&s->trees_mu);
	size_t n = s->ntrees;
	struct lkv_tree **v = malloc((n ? n : 1) * sizeof(*v));
	if (v)
		memcpy(v, s->trees, n * sizeof(*v));
	pthread_mutex_unlock(&s->trees_mu);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n && !c->err; i++)
		check_tree(c, v[i]);
	free(v);
	return c->err;
}

/* One walk of everything, then the accounting (unless keys are about to
 * be deleted, which changes it). */
static int walk(struct check *c, bool fix_counts)
{
	pthread_mutex_lock(&c->s->gc_mu);     /* nothing moves while we count */
	int err = check_all_trees(c);
	if (!err && !c->nlost && !(c->fix && batch_size(c->fix)))
		err = check_accounting(c, fix_counts);
	pthread_mutex_unlock(&c->s->gc_mu);
	free(c->logs);
	free(c->segs);
	c->logs = c->segs = NULL;
	c->nlogs = c->nsegs = 0;
	return err;
}

static void bad_snapshot(void *arg, const char *name, int err)
{
	struct check *c = arg;
	char what[160];
	snprintf(what, sizeof(what), "snapshot %s is damaged (%s): the fallback it was is "
		 "lost%s", name, strerror(-err), c->fix ? "; deleted, and a new one written" : "");
	struct lkv_damage d = { .what = what, .repaired = c->fix != NULL };
	report(c, &d);
}

/* Verifies the snapshot files (and with repair replaces damaged ones). */
static int check_snapshots(struct check *c)
{
	pthread_mutex_lock(&c->s->flush_mu);
	int n = snapshot_check(c->s, c->fix != NULL, bad_snapshot, c);
	pthread_mutex_unlock(&c->s->flush_mu);
	return n < 0 ? n : 0;
}

/* Gives a leaf whose chain cannot be read what could be read of it
 * (kept, taken; NULL: nothing); the tree's count follows: the chain's
 * count (the table's) out, kept's in. */
static int replace_lost(lkv_store *s, struct leaf *l, struct entries *kept)
{
	pthread_mutex_lock(&s->flush_mu);
	const struct loc_ent *e = loctable_get(&s->lt, l->id);
	uint32_t n = e ? e->nkeys : 0;
	pthread_mutex_unlock(&s->flush_mu);
	uint32_t now = kept ? kept->n : 0;
	int err = batch_mark_rewrite(s, l, true, kept);
	if (err == 1) {
		atomic_fetch_sub(&l->tree->nkeys, n);
		atomic_fetch_add(&l->tree->nkeys, now);
	}
	return err < 0 ? err : 0;
}

int lkv_check(lkv_store *s, unsigned flags, lkv_check_fn fn, void *arg,
	      struct lkv_check_stats *st)
{
	struct lkv_check_stats dummy;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	bool repair = flags & LKV_CHECK_REPAIR;
	if ((flags & ~LKV_CHECK_REPAIR) || (repair && s->ro))
		return -EINVAL;
	int err = s->ro ? 0 : lkv_flush(s, 0);
	if (err)
		return err;
	struct check c = { .s = s, .fn = fn, .arg = arg, .st = st };
	if (repair && !(c.fix = lkv_batch_new(s)))
		return -ENOMEM;
	err = walk(&c, repair);
	if (!err)
		err = check_snapshots(&c);
	if (!err && c.fix && (batch_size(c.fix) || c.nlost)) {
		/* unreadable leaves become empty and the keys of lost blobs
		 * go; then a second, quiet walk checks and fixes the
		 * accounting as it is without them */
		for (size_t i = 0; i < c.nlost && !err; i++) {
			err = replace_lost(s, c.lost[i], c.kept[i]);
			c.kept[i] = NULL;
		}
		if (!err && batch_size(c.fix))
			err = lkv_batch_commit(c.fix, NULL);
		if (!err)
			err = lkv_flush(s, 0);
		struct lkv_check_stats again = { 0 };
		struct check c2 = { .s = s, .fn = fn, .arg = arg, .st = &again,
				    .quiet = true, .recount = c.recount };
		if (!err)
			err = walk(&c2, true);
		st->problems += again.problems;
		st->repaired += again.repaired;
	}
	for (size_t i = 0; i < c.nlost; i++) {
		leaf_unref(c.lost[i]);
		entries_free(c.kept[i]);
	}
	free(c.lost);
	free(c.kept);
	lkv_batch_free(c.fix);
	return err;
}
