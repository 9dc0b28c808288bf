/* SPDX-License-Identifier: MIT */
/*
 * The per-inode fact table of fsck.larchfs: what the later passes need to
 * know about each inode (struct fact, 48 bytes, plus its number).
 *
 * In RAM it is a list of fixed-size chunks of sorted inode numbers and
 * their facts (no realloc of one huge array, so no moment holds two
 * copies); a lookup is a binary search over the chunks' first numbers and
 * then inside one chunk, after trying the slot after the previous lookup
 * (passes that merge with a tree in inode order hit it every time).
 * A million inodes take 56 MB.
 *
 * When a new chunk would take the table past its budget, the table spills:
 * a scratch larchkv store is made in a mkdtemp directory (tree "facts",
 * key be64 ino, value the raw struct, never durable on purpose), every
 * record moves there, and from then on each operation is a kv operation
 * under that store's small cache.  Slower, but memory no longer grows with
 * the filesystem.  The scratch directory is removed by facts_free.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"

#define CHUNK 65536u
#define ADD_BATCH 4096u

struct chunk {
	uint64_t ino[CHUNK];
	struct fact v[CHUNK];
	uint32_t n;
};

struct facts {
	size_t budget, cache_bytes;
	const char *tmpdir;
	uint64_t count;

	/* RAM */
	struct chunk **ch;
	uint64_t *first;          /* first ino of each chunk */
	size_t nch, capch;
	size_t hint_c, hint_i;    /* the slot after the last lookup */

	/* spilled */
	char *dir;
	lkv_io *io;               /* borrowed by s: destroyed after it */
	lkv_store *s;
	lkv_tree *t;
	lkv_batch *adds;
	unsigned nadds;
};

struct facts_cursor {
	struct facts *f;
	size_t c, i;
	lkv_iter *it;
};

static void scratch_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= LKV_LOG_ERR)
		fprintf(stderr, "fsck.larchfs: scratch store: %s\n", msg);
}

int facts_new(size_t budget, const char *tmpdir, size_t cache_bytes, struct facts **out)
{
	struct facts *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->budget = budget;
	f->tmpdir = tmpdir;
	f->cache_bytes = cache_bytes;
	*out = f;
	return 0;
}

/* Removes the scratch store and its directory (the engine deletes its own
 * files; the lock file is the I/O layer's). */
static void remove_dir(const char *dir)
{
	char lock[4096];
	lkv_destroy(dir, NULL);
	snprintf(lock, sizeof(lock), "%s/%s", dir, LKV_LOCK_FILE);
	unlink(lock);
	rmdir(dir);
}

void facts_free(struct facts *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nch; i++)
		free(f->ch[i]);
	free(f->ch);
	free(f->first);
	if (f->adds)
		lkv_batch_free(f->adds);
	if (f->s)
		lkv_close(f->s);
	if (f->io)
		f->io->ops->destroy(f->io);
	if (f->dir) {
		remove_dir(f->dir);
		free(f->dir);
	}
	free(f);
}

uint64_t facts_count(const struct facts *f)
{
	return f->count;
}

bool facts_spilled(const struct facts *f)
{
	return f->s != NULL;
}

size_t facts_ram(const struct facts *f)
{
	return f->nch * sizeof(struct chunk);
}

void facts_scratch_memory(const struct facts *f, struct lkv_memory *m, uint64_t *cache_peak)
{
	memset(m, 0, sizeof(*m));
	*cache_peak = 0;
	if (!f->s)
		return;
	struct lkv_stats st;
	lkv_memory(f->s, m);
	lkv_stats(f->s, &st);
	*cache_peak = st.cache_peak;
}

/* ---- the scratch store ---- */

/*
 * Its I/O: POSIX files without syncs.  Nothing in the scratch store has to
 * survive a crash (it is never reopened), and a flush's two device
 * flushes made each spilled lookup cost about 140 us (150,000 files under
 * -m 24M: 43 s).  The wrapper hands calls on the directory to the POSIX
 * layer; files are the POSIX layer's own.
 */
struct nosync_io {
	lkv_io io;                 /* first: the engine holds &io */
	lkv_io *posix;
	struct lkv_io_ops ops;
};

static lkv_io *inner(lkv_io *io)
{
	return ((struct nosync_io *)io)->posix;
}

static int ns_open(lkv_io *io, const char *name, int flags, lkv_file **out)
{
	return inner(io)->ops->open(inner(io), name, flags, out);
}
static int ns_unlink(lkv_io *io, const char *name)
{
	return inner(io)->ops->unlink(inner(io), name);
}
static int ns_rename(lkv_io *io, const char *from, const char *to)
{
	return inner(io)->ops->rename(inner(io), from, to);
}
static int ns_list(lkv_io *io, int (*fn)(void *arg, const char *name), void *arg)
{
	return inner(io)->ops->list(inner(io), fn, arg);
}
static int ns_lock(lkv_io *io, bool exclusive)
{
	return inner(io)->ops->lock(inner(io), exclusive);
}
static void ns_destroy(lkv_io *io)
{
	inner(io)->ops->destroy(inner(io));
	free(io);
}
static int ns_sync(lkv_file *f)
{
	(void)f;
	return 0;
}
static int ns_sync_dir(lkv_io *io)
{
	(void)io;
	return 0;
}

static int nosync_io(const char *dir, lkv_io **out)
{
	struct nosync_io *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	int err = lkv_io_posix(dir, false, &w->posix);
	if (err) {
		free(w);
		return err;
	}
	w->ops = *w->posix->ops;      /* file calls go straight to POSIX */
	w->ops.open = ns_open;
	w->ops.unlink = ns_unlink;
	w->ops.rename = ns_rename;
	w->ops.list = ns_list;
	w->ops.lock = ns_lock;
	w->ops.destroy = ns_destroy;
	w->ops.sync = ns_sync;
	w->ops.sync_dir = ns_sync_dir;
	w->ops.writeback = NULL;
	w->ops.lock_closing = NULL;
	w->ops.lock_holder = NULL;
	w->io.ops = &w->ops;
	*out = &w->io;
	return 0;
}

static int spill_flush_adds(struct facts *f)
{
	if (!f->nadds)
		return 0;
	f->nadds = 0;
	return lkv_batch_commit(f->adds, NULL);
}

/* Moves every record into a new scratch store and frees the chunks. */
static int spill(struct facts *f)
{
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/" SCRATCH_NAME, f->tmpdir);
	if (!mkdtemp(tmpl))
		return -errno;
	f->dir = strdup(tmpl);
	if (!f->dir)
		return -ENOMEM;
	struct lkv_options o;
	lkv_options_default(&o);
	int err = nosync_io(f->dir, &f->io);
	if (err)
		return err;
	o.io = f->io;
	o.flags = LKV_CREATE;
	o.cache_bytes = f->cache_bytes;
	o.dirty_bytes = f->cache_bytes / 2;
	o.flush_interval_ms = 0;
	o.gc_interval_ms = 0;
	o.compression_level = 0;
	o.blob_threshold = 0;
	o.log = scratch_log;
	err = lkv_open(f->dir, &o, &f->s);
	if (!err)
		err = lkv_tree_open(f->s, "facts", &f->t);
	if (!err && !(f->adds = lkv_batch_new(f->s)))
		err = -ENOMEM;
	uint8_t k[8];
	for (size_t c = 0; c < f->nch && !err; c++) {
		struct chunk *ch = f->ch[c];
		for (uint32_t i = 0; i < ch->n && !err; i++) {
			be64_put(k, ch->ino[i]);
			err = lkv_batch_put(f->adds, f->t, k, 8, &ch->v[i], sizeof(struct fact));
			if (!err && ++f->nadds == ADD_BATCH)
				err = spill_flush_adds(f);
		}
		free(ch);
		f->ch[c] = NULL;
	}
	if (!err)
		err = spill_flush_adds(f);
	free(f->ch);
	free(f->first);
	f->ch = NULL;
	f->first = NULL;
	f->nch = f->capch = 0;
	return err;
}

/* ---- RAM lookups ---- */

/* Finds ino: true with (*c, *i) its slot. */
static bool ram_find(struct facts *f, uint64_t ino, size_t *c, size_t *i)
{
	if (!f->nch)
		return false;
	size_t hc = f->hint_c, hi = f->hint_i;
	if (hc < f->nch && hi < f->ch[hc]->n && f->ch[hc]->ino[hi] == ino) {
		*c = hc;
		*i = hi;
		return true;
	}
	size_t lo = 0, up = f->nch;           /* last chunk whose first <= ino */
	while (up - lo > 1) {
		size_t mid = (lo + up) / 2;
		if (f->first[mid] <= ino)
			lo = mid;
		else
			up = mid;
	}
	const struct chunk *ch = f->ch[lo];
	uint32_t a = 0, b = ch->n;
	while (a < b) {
		uint32_t mid = (a + b) / 2;
		if (ch->ino[mid] < ino)
			a = mid + 1;
		else
			b = mid;
	}
	if (a == ch->n || ch->ino[a] != ino)
		return false;
	*c = lo;
	*i = a;
	return true;
}

static void hint_after(struct facts *f, size_t c, size_t i)
{
	if (i + 1 < f->ch[c]->n) {
		f->hint_c = c;
		f->hint_i = i + 1;
	} else {
		f->hint_c = c + 1;
		f->hint_i = 0;
	}
}

/* ---- the API ---- */

static int ram_add(struct facts *f, uint64_t ino, const struct fact *x)
{
	struct chunk *ch = f->nch ? f->ch[f->nch - 1] : NULL;
	if (!ch || ch->n == CHUNK) {
		if ((f->nch + 1) * sizeof(struct chunk) > f->budget)
			return 1;       /* over budget: spill */
		if (f->nch == f->capch) {
			size_t cap = f->capch ? f->capch * 2 : 16;
			struct chunk **nc = realloc(f->ch, cap * sizeof(*nc));
			if (!nc)
				return -ENOMEM;
			f->ch = nc;
			uint64_t *nf = realloc(f->first, cap * sizeof(*nf));
			if (!nf)
				return -ENOMEM;
			f->first = nf;
			f->capch = cap;
		}
		if (!(ch = malloc(sizeof(*ch))))
			return -ENOMEM;
		ch->n = 0;
		f->first[f->nch] = ino;
		f->ch[f->nch++] = ch;
	}
	ch->ino[ch->n] = ino;
	ch->v[ch->n++] = *x;
	return 0;
}

int facts_add(struct facts *f, uint64_t ino, const struct fact *x)
{
	int err = 0;
	if (!f->s) {
		err = ram_add(f, ino, x);
		if (err <= 0) {
			f->count += !err;
			return err;
		}
		if ((err = spill(f)))
			return err;
	}
	uint8_t k[8];
	be64_put(k, ino);
	err = lkv_batch_put(f->adds, f->t, k, 8, x, sizeof(*x));
	if (!err && ++f->nadds == ADD_BATCH)
		err = spill_flush_adds(f);
	f->count += !err;
	return err;
}

int facts_get(struct facts *f, uint64_t ino, struct fact *x)
{
	if (!f->s) {
		size_t c, i;
		if (!ram_find(f, ino, &c, &i))
			return -ENOENT;
		*x = f->ch[c]->v[i];
		hint_after(f, c, i);
		return 0;
	}
	int err = spill_flush_adds(f);
	if (err)
		return err;
	uint8_t k[8];
	size_t len;
	be64_put(k, ino);
	err = lkv_get(f->t, k, 8, x, sizeof(*x), &len);
	return !err && len != sizeof(*x) ? -EIO : err;
}

int facts_set(struct facts *f, uint64_t ino, const struct fact *x)
{
	if (!f->s) {
		size_t c, i;
		/* the slot of the last get is just behind the hint */
		if (f->hint_i > 0 && f->hint_c < f->nch &&
		    f->ch[f->hint_c]->ino[f->hint_i - 1] == ino) {
			f->ch[f->hint_c]->v[f->hint_i - 1] = *x;
			return 0;
		}
		if (!ram_find(f, ino, &c, &i))
			return -ENOENT;
		f->ch[c]->v[i] = *x;
		return 0;
	}
	int err = spill_flush_adds(f);
	if (err)
		return err;
	uint8_t k[8];
	be64_put(k, ino);
	return lkv_put(f->t, k, 8, x, sizeof(*x), NULL);
}

int facts_cursor_open(struct facts *f, struct facts_cursor **out)
{
	struct facts_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->f = f;
	int err = 0;
	if (f->s) {
		err = spill_flush_adds(f);
		if (!err)
			err = lkv_iter_open(f->t, NULL, 0, NULL, 0, 0, &c->it);
	}
	if (err) {
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

int facts_cursor_next(struct facts_cursor *c, uint64_t *ino, struct fact *x)
{
	struct facts *f = c->f;
	if (!c->it) {
		while (c->c < f->nch && c->i >= f->ch[c->c]->n) {
			c->c++;
			c->i = 0;
		}
		if (c->c >= f->nch)
			return 0;
		*ino = f->ch[c->c]->ino[c->i];
		*x = f->ch[c->c]->v[c->i];
		f->hint_c = c->c;       /* so that facts_set finds it at once */
		f->hint_i = ++c->i;
		return 1;
	}
	const void *k, *v;
	size_t kl, vl;
	int r = lkv_iter_next(c->it, &k, &kl, &v, &vl);
	if (r <= 0)
		return r;
	if (kl != 8 || vl != sizeof(*x))
		return -EIO;
	*ino = be64_get(k);
	memcpy(x, v, sizeof(*x));
	return 1;
}

void facts_cursor_close(struct facts_cursor *c)
{
	if (!c)
		return;
	if (c->it)
		lkv_iter_close(c->it);
	free(c);
}
