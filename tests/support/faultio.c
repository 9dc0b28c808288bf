/* SPDX-License-Identifier: MIT */
/*
 * faultio.c: the in-memory, fault-injecting lkv_io.  The model (durable vs
 * current contents, pending name operations, what a power cut keeps) is
 * documented in faultio.h; this file only implements it.
 *
 * Representation: an inode holds two byte buffers, `durable` and `current`,
 * and the list of unsynced operations (each with a copy of its data).  A
 * namespace is a name-sorted array of (name, inode).  Inodes are reference
 * counted: by each namespace entry, each pending create and each open
 * handle.  Reads are served from `current`; a power cut rebuilds each
 * surviving file from `durable` plus the chosen operations, so `current`
 * never has to be undone.
 */
#include "faultio.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testrng.h"

/* ---- types ------------------------------------------------------------ */

struct buf {
	uint8_t *p;
	size_t   len, cap;
};

enum wop_kind { WOP_WRITE, WOP_TRUNC };

/* One unsynced write or truncate. */
struct wop {
	uint8_t  kind;
	bool     lost;       /* covered by a failed sync: can never be durable */
	uint64_t off;        /* WRITE: offset; TRUNC: new size */
	size_t   len;
	uint8_t *data;
};

struct inode {
	unsigned      refs;
	bool          diverged;  /* some op was lost: current != durable + ops */
	struct buf    durable, current;
	struct wop   *ops;
	size_t        nops, capops;
	struct inode *copy;      /* scratch while copying a state */
};

struct nsent {
	char         *name;
	struct inode *ino;
};

struct ns {
	struct nsent *e;
	size_t        n, cap;
};

enum dirop_kind { DIROP_CREATE, DIROP_UNLINK, DIROP_RENAME };

/* One pending name operation. */
struct dirop {
	uint8_t       kind;
	char         *a, *b;     /* name; RENAME: from a to b */
	struct inode *ino;       /* CREATE: the new inode (holds a ref) */
};

/* A whole directory: what is durable and what is pending. */
struct fstate {
	struct ns     cur, dur;
	struct dirop *pend;
	size_t        npend, cappend;
};

struct lkv_file {
	faultio         *fio;
	struct inode    *ino;
	int              flags;
	struct lkv_file *prev, *next;
};

struct faultio {
	lkv_io           io;          /* first: ops recover the faultio */
	pthread_mutex_t  mu;
	struct fstate    live;
	struct fstate   *frozen;      /* the crash image, once frozen */
	struct lkv_file *handles;

	unsigned         fail_ops;    /* classes an armed error applies to */
	uint64_t         fail_countdown;
	int              fail_err;
	bool             fail_armed, fail_sticky, fail_fired;
	bool             freeze_armed;
	unsigned         freeze_ops;  /* classes the freeze countdown counts */
	uint64_t         freeze_countdown;
	uint64_t         mut_ops;
	int              lock_err;
	struct faultio_stats st;
};

/* ---- small helpers ----------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "faultio: out of memory\n");
		abort();
	}
	return q;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p) {
		fprintf(stderr, "faultio: out of memory\n");
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static void *xmemdup(const void *p, size_t n)
{
	void *q = xrealloc(NULL, n);

	if (n)
		memcpy(q, p, n);
	return q;
}

static faultio *io_fio(lkv_io *io)
{
	return (faultio *)io;
}

/* A valid name is a non-empty plain file name. */
static bool name_ok(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

/* ---- byte buffers ------------------------------------------------------ */

/* Sets the length to n, zero-filling any growth. */
static void buf_resize(struct buf *b, size_t n)
{
	if (n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n > b->len)
		memset(b->p + b->len, 0, n - b->len);
	b->len = n;
}

static void buf_write(struct buf *b, uint64_t off, const void *p, size_t n)
{
	if (!n)
		return;
	if (off + n > b->len)
		buf_resize(b, off + n);
	memcpy(b->p + off, p, n);
}

static void buf_copy(struct buf *dst, const struct buf *src)
{
	dst->len = 0;
	buf_resize(dst, src->len);
	if (src->len)
		memcpy(dst->p, src->p, src->len);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void wop_apply(struct buf *b, const struct wop *w)
{
	if (w->kind == WOP_WRITE)
		buf_write(b, w->off, w->data, w->len);
	else
		buf_resize(b, w->off);
}

/* Applies a torn version of w: a random byte prefix of the write, or a
 * random subset of its sectors.  A truncate is atomic: all or nothing. */
static void wop_apply_torn(struct buf *b, const struct wop *w, uint64_t *rng)
{
	if (w->kind != WOP_WRITE) {
		if (rng_chance(rng, 1, 2))
			wop_apply(b, w);
		return;
	}
	if (rng_chance(rng, 1, 2)) {
		buf_write(b, w->off, w->data, rng_below(rng, w->len));
		return;
	}
	uint64_t end = w->off + w->len;

	for (uint64_t s = w->off / FAULTIO_SECTOR * FAULTIO_SECTOR; s < end;
	     s += FAULTIO_SECTOR) {
		uint64_t lo = s < w->off ? w->off : s;
		uint64_t hi = s + FAULTIO_SECTOR < end ? s + FAULTIO_SECTOR : end;

		if (rng_chance(rng, 1, 2))
			buf_write(b, lo, w->data + (lo - w->off), hi - lo);
	}
}

/* ---- inodes ------------------------------------------------------------ */

static struct inode *inode_new(void)
{
	struct inode *ino = xcalloc(1, sizeof(*ino));

	ino->refs = 1;
	return ino;
}

static void inode_clear_ops(struct inode *ino)
{
	for (size_t i = 0; i < ino->nops; i++)
		free(ino->ops[i].data);
	ino->nops = 0;
}

static void inode_unref(struct inode *ino)
{
	if (!ino || --ino->refs)
		return;
	inode_clear_ops(ino);
	free(ino->ops);
	buf_free(&ino->durable);
	buf_free(&ino->current);
	free(ino);
}

static struct inode *inode_ref(struct inode *ino)
{
	ino->refs++;
	return ino;
}

/* Records an unsynced operation and applies it to the current view. */
static void inode_push(struct inode *ino, uint8_t kind, uint64_t off,
		       const void *data, size_t len)
{
	if (ino->nops == ino->capops) {
		ino->capops = ino->capops ? ino->capops * 2 : 8;
		ino->ops = xrealloc(ino->ops, ino->capops * sizeof(*ino->ops));
	}
	struct wop *w = &ino->ops[ino->nops++];

	w->kind = kind;
	w->lost = false;
	w->off = off;
	w->len = len;
	w->data = kind == WOP_WRITE ? xmemdup(data, len) : NULL;
	wop_apply(&ino->current, w);
}

/* Makes every unsynced, not lost operation durable. */
static void inode_sync(struct inode *ino)
{
	if (!ino->diverged) {
		buf_copy(&ino->durable, &ino->current);
	} else {
		for (size_t i = 0; i < ino->nops; i++)
			if (!ino->ops[i].lost)
				wop_apply(&ino->durable, &ino->ops[i]);
	}
	inode_clear_ops(ino);
}

/* A failed sync: the kernel dropped the dirty pages it could not write. */
static void inode_lose_unsynced(struct inode *ino)
{
	for (size_t i = 0; i < ino->nops; i++)
		ino->ops[i].lost = true;
	if (ino->nops)
		ino->diverged = true;
}

/* Deep copy, memoized through ino->copy (the caller clears it). */
static struct inode *inode_copy(struct inode *ino)
{
	if (ino->copy)
		return inode_ref(ino->copy);

	struct inode *c = inode_new();

	c->diverged = ino->diverged;
	buf_copy(&c->durable, &ino->durable);
	buf_copy(&c->current, &ino->current);
	c->capops = c->nops = ino->nops;
	c->ops = xcalloc(c->capops, sizeof(*c->ops));
	for (size_t i = 0; i < ino->nops; i++) {
		c->ops[i] = ino->ops[i];
		if (ino->ops[i].data)
			c->ops[i].data = xmemdup(ino->ops[i].data, ino->ops[i].len);
	}
	ino->copy = c;   /* the memo holds no reference */
	return c;
}

/* ---- namespaces -------------------------------------------------------- */

/* Index of name, or of where it would be inserted (*found says which). */
static size_t ns_find(const struct ns *ns, const char *name, bool *found)
{
	size_t lo = 0, hi = ns->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(ns->e[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct inode *ns_get(const struct ns *ns, const char *name)
{
	bool found;
	size_t i = ns_find(ns, name, &found);

	return found ? ns->e[i].ino : NULL;
}

/* Points name at ino (taking a reference), replacing any old entry. */
static void ns_set(struct ns *ns, const char *name, struct inode *ino)
{
	bool found;
	size_t i = ns_find(ns, name, &found);

	inode_ref(ino);
	if (found) {
		inode_unref(ns->e[i].ino);
		ns->e[i].ino = ino;
		return;
	}
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->e = xrealloc(ns->e, ns->cap * sizeof(*ns->e));
	}
	memmove(&ns->e[i + 1], &ns->e[i], (ns->n - i) * sizeof(*ns->e));
	ns->e[i].name = xstrdup(name);
	ns->e[i].ino = ino;
	ns->n++;
}

static void ns_remove(struct ns *ns, const char *name)
{
	bool found;
	size_t i = ns_find(ns, name, &found);

	if (!found)
		return;
	free(ns->e[i].name);
	inode_unref(ns->e[i].ino);
	memmove(&ns->e[i], &ns->e[i + 1], (ns->n - i - 1) * sizeof(*ns->e));
	ns->n--;
}

static void ns_free(struct ns *ns)
{
	for (size_t i = 0; i < ns->n; i++) {
		free(ns->e[i].name);
		inode_unref(ns->e[i].ino);
	}
	free(ns->e);
	memset(ns, 0, sizeof(*ns));
}

/* Copies names; inodes go through inode_copy when `deep`, else are shared. */
static void ns_copy(struct ns *dst, const struct ns *src, bool deep)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		struct inode *ino = deep ? inode_copy(src->e[i].ino)
					 : inode_ref(src->e[i].ino);

		ns_set(dst, src->e[i].name, ino);
		inode_unref(ino);
	}
}

static void dirop_apply(struct ns *ns, const struct dirop *d)
{
	struct inode *ino;

	switch (d->kind) {
	case DIROP_CREATE:
		ns_set(ns, d->a, d->ino);
		break;
	case DIROP_UNLINK:
		ns_remove(ns, d->a);
		break;
	case DIROP_RENAME:
		ino = ns_get(ns, d->a);
		if (ino) {
			ns_set(ns, d->b, ino);
			ns_remove(ns, d->a);
		}
		break;
	}
}

static void dirop_free(struct dirop *d)
{
	free(d->a);
	free(d->b);
	inode_unref(d->ino);
}

/* ---- whole states ------------------------------------------------------ */

static void state_push_dirop(struct fstate *s, uint8_t kind, const char *a,
			     const char *b, struct inode *ino)
{
	if (s->npend == s->cappend) {
		s->cappend = s->cappend ? s->cappend * 2 : 16;
		s->pend = xrealloc(s->pend, s->cappend * sizeof(*s->pend));
	}
	struct dirop *d = &s->pend[s->npend++];

	d->kind = kind;
	d->a = xstrdup(a);
	d->b = b ? xstrdup(b) : NULL;
	d->ino = ino ? inode_ref(ino) : NULL;
}

static void state_free(struct fstate *s)
{
	ns_free(&s->cur);
	ns_free(&s->dur);
	for (size_t i = 0; i < s->npend; i++)
		dirop_free(&s->pend[i]);
	free(s->pend);
	memset(s, 0, sizeof(*s));
}

static void ns_clear_copies(struct ns *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		ns->e[i].ino->copy = NULL;
}

/* A deep copy of s (inodes reachable from it copied once each). */
static struct fstate *state_copy(struct fstate *s)
{
	struct fstate *c = xcalloc(1, sizeof(*c));

	ns_copy(&c->cur, &s->cur, true);
	ns_copy(&c->dur, &s->dur, true);
	c->cappend = c->npend = s->npend;
	c->pend = xcalloc(c->cappend, sizeof(*c->pend));
	for (size_t i = 0; i < s->npend; i++) {
		c->pend[i] = s->pend[i];
		c->pend[i].a = xstrdup(s->pend[i].a);
		c->pend[i].b = s->pend[i].b ? xstrdup(s->pend[i].b) : NULL;
		c->pend[i].ino = s->pend[i].ino ? inode_copy(s->pend[i].ino)
						: NULL;
	}
	ns_clear_copies(&s->cur);
	ns_clear_copies(&s->dur);
	for (size_t i = 0; i < s->npend; i++)
		if (s->pend[i].ino)
			s->pend[i].ino->copy = NULL;
	return c;
}

/* ---- faults ------------------------------------------------------------ */

/* Counts a call of class `cls` and returns the armed error if this call is
 * the one to fail, else 0.  Called with the mutex held, before the call
 * takes effect. */
static int fault_check(faultio *f, unsigned cls)
{
	if (cls & FAULTIO_OP_MUTATING)
		f->mut_ops++;
	if (!f->fail_armed || !(f->fail_ops & cls))
		return 0;
	if (f->fail_fired) {
		if (!f->fail_sticky)
			return 0;
	} else if (f->fail_countdown) {
		f->fail_countdown--;
		return 0;
	}
	f->fail_fired = true;
	f->st.failed++;
	return f->fail_err;
}

static void freeze_now(faultio *f)
{
	f->freeze_armed = false;
	if (!f->frozen)
		f->frozen = state_copy(&f->live);
}

/* Called with the mutex held after a mutating call of class `cls`
 * (whether it succeeded or not): freezes the image when this was the n-th
 * of the classes the freeze counts. */
static void freeze_check(faultio *f, unsigned cls)
{
	if (!f->freeze_armed || !(f->freeze_ops & cls))
		return;
	if (f->freeze_countdown)
		f->freeze_countdown--;
	if (!f->freeze_countdown)
		freeze_now(f);
}

/* ---- lkv_io_ops -------------------------------------------------------- */

static int fio_open(lkv_io *io, const char *name, int flags, lkv_file **out)
{
	faultio *f = io_fio(io);
	int err = 0;

	if (!name_ok(name))
		return -EINVAL;
	pthread_mutex_lock(&f->mu);
	struct inode *ino = ns_get(&f->live.cur, name);

	if (ino && (flags & LKV_IO_CREATE) && (flags & LKV_IO_EXCL)) {
		err = -EEXIST;
	} else if (!ino && !(flags & LKV_IO_CREATE)) {
		err = -ENOENT;
	} else if (!ino) {
		err = fault_check(f, FAULTIO_OP_NAME);
		if (!err) {
			ino = inode_new();
			ns_set(&f->live.cur, name, ino);
			state_push_dirop(&f->live, DIROP_CREATE, name, NULL, ino);
			inode_unref(ino);
			f->st.creates++;
		}
		freeze_check(f, FAULTIO_OP_NAME);
	}
	if (!err) {
		lkv_file *h = xcalloc(1, sizeof(*h));

		h->fio = f;
		h->ino = inode_ref(ino);
		h->flags = flags;
		h->next = f->handles;
		if (h->next)
			h->next->prev = h;
		f->handles = h;
		f->st.opens++;
		f->st.open_handles++;
		*out = h;
	}
	pthread_mutex_unlock(&f->mu);
	return err;
}

static void handle_free(faultio *f, lkv_file *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		f->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	inode_unref(h->ino);
	f->st.open_handles--;
	free(h);
}

static void fio_close(lkv_file *h)
{
	if (!h)
		return;
	faultio *f = h->fio;

	pthread_mutex_lock(&f->mu);
	f->st.closes++;
	handle_free(f, h);
	pthread_mutex_unlock(&f->mu);
}

static ssize_t fio_pread(lkv_file *h, void *buf, size_t len, uint64_t off)
{
	faultio *f = h->fio;
	ssize_t n = 0;

	pthread_mutex_lock(&f->mu);
	int err = fault_check(f, FAULTIO_OP_READ);

	if (err) {
		n = err;
	} else {
		const struct buf *b = &h->ino->current;

		if (off < b->len) {
			n = (ssize_t)(b->len - off < len ? b->len - off : len);
			memcpy(buf, b->p + off, (size_t)n);
		}
		f->st.preads++;
		f->st.bytes_read += (uint64_t)n;
	}
	pthread_mutex_unlock(&f->mu);
	return n;
}

static ssize_t fio_pwrite(lkv_file *h, const void *buf, size_t len,
			  uint64_t off)
{
	faultio *f = h->fio;

	if (h->flags & LKV_IO_RDONLY)
		return -EBADF;
	if (len > SSIZE_MAX || off > (UINT64_C(1) << 46))
		return -EFBIG;
	pthread_mutex_lock(&f->mu);
	int err = fault_check(f, FAULTIO_OP_WRITE);

	if (!err && len) {
		inode_push(h->ino, WOP_WRITE, off, buf, len);
		f->st.pwrites++;
		f->st.bytes_written += len;
	}
	freeze_check(f, FAULTIO_OP_WRITE);
	pthread_mutex_unlock(&f->mu);
	return err ? err : (ssize_t)len;
}

static int fio_sync(lkv_file *h)
{
	faultio *f = h->fio;

	pthread_mutex_lock(&f->mu);
	int err = fault_check(f, FAULTIO_OP_SYNC);

	if (err) {
		inode_lose_unsynced(h->ino);
	} else {
		inode_sync(h->ino);
		f->st.syncs++;
	}
	freeze_check(f, FAULTIO_OP_SYNC);
	pthread_mutex_unlock(&f->mu);
	return err;
}

static int fio_truncate(lkv_file *h, uint64_t size)
{
	faultio *f = h->fio;

	if (h->flags & LKV_IO_RDONLY)
		return -EBADF;
	if (size > (UINT64_C(1) << 46))
		return -EFBIG;
	pthread_mutex_lock(&f->mu);
	int err = fault_check(f, FAULTIO_OP_WRITE);

	if (!err) {
		inode_push(h->ino, WOP_TRUNC, size, NULL, 0);
		f->st.truncates++;
	}
	freeze_check(f, FAULTIO_OP_WRITE);
	pthread_mutex_unlock(&f->mu);
	return err;
}

static int fio_size(lkv_file *h, uint64_t *size)
{
	faultio *f = h->fio;

	pthread_mutex_lock(&f->mu);
	*size = h->ino->current.len;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int fio_unlink(lkv_io *io, const char *name)
{
	faultio *f = io_fio(io);
	int err;

	if (!name_ok(name))
		return -EINVAL;
	pthread_mutex_lock(&f->mu);
	if (!ns_get(&f->live.cur, name)) {
		err = -ENOENT;
	} else {
		err = fault_check(f, FAULTIO_OP_NAME);
		if (!err) {
			ns_remove(&f->live.cur, name);
			state_push_dirop(&f->live, DIROP_UNLINK, name, NULL, NULL);
			f->st.unlinks++;
		}
		freeze_check(f, FAULTIO_OP_NAME);
	}
	pthread_mutex_unlock(&f->mu);
	return err;
}

static int fio_rename(lkv_io *io, const char *from, const char *to)
{
	faultio *f = io_fio(io);
	int err;

	if (!name_ok(from) || !name_ok(to))
		return -EINVAL;
	pthread_mutex_lock(&f->mu);
	struct inode *ino = ns_get(&f->live.cur, from);

	if (!ino) {
		err = -ENOENT;
	} else {
		err = fault_check(f, FAULTIO_OP_NAME);
		if (!err && strcmp(from, to)) {
			ns_set(&f->live.cur, to, ino);
			ns_remove(&f->live.cur, from);
			state_push_dirop(&f->live, DIROP_RENAME, from, to, NULL);
		}
		if (!err)
			f->st.renames++;
		freeze_check(f, FAULTIO_OP_NAME);
	}
	pthread_mutex_unlock(&f->mu);
	return err;
}

static int fio_sync_dir(lkv_io *io)
{
	faultio *f = io_fio(io);

	pthread_mutex_lock(&f->mu);
	int err = fault_check(f, FAULTIO_OP_SYNC);

	if (!err) {
		for (size_t i = 0; i < f->live.npend; i++) {
			dirop_apply(&f->live.dur, &f->live.pend[i]);
			dirop_free(&f->live.pend[i]);
		}
		f->live.npend = 0;
		f->st.sync_dirs++;
	}
	freeze_check(f, FAULTIO_OP_SYNC);
	pthread_mutex_unlock(&f->mu);
	return err;
}

static int fio_list(lkv_io *io, int (*fn)(void *arg, const char *name),
		    void *arg)
{
	return faultio_list(io_fio(io), fn, arg);
}

static int fio_lock(lkv_io *io, bool exclusive)
{
	faultio *f = io_fio(io);

	(void)exclusive;
	pthread_mutex_lock(&f->mu);
	int err = f->lock_err;

	f->st.locks++;
	pthread_mutex_unlock(&f->mu);
	return err;
}

/* The test owns the faultio; see "Locking and ownership" in faultio.h. */
static void fio_destroy(lkv_io *io)
{
	(void)io;
}

static const struct lkv_io_ops fio_ops = {
	.open = fio_open,
	.close = fio_close,
	.pread = fio_pread,
	.pwrite = fio_pwrite,
	.sync = fio_sync,
	.truncate = fio_truncate,
	.size = fio_size,
	.unlink = fio_unlink,
	.rename = fio_rename,
	.sync_dir = fio_sync_dir,
	.list = fio_list,
	.lock = fio_lock,
	.destroy = fio_destroy,
};

/* ---- API implementation ------------------------------------------------ */

faultio *faultio_new(void)
{
	faultio *f = xcalloc(1, sizeof(*f));

	f->io.ops = &fio_ops;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

unsigned faultio_free(faultio *f)
{
	unsigned leaked = 0;

	if (!f)
		return 0;
	while (f->handles) {
		handle_free(f, f->handles);
		leaked++;
	}
	state_free(&f->live);
	if (f->frozen) {
		state_free(f->frozen);
		free(f->frozen);
	}
	pthread_mutex_destroy(&f->mu);
	free(f);
	return leaked;
}

lkv_io *faultio_io(faultio *f)
{
	return &f->io;
}

/* The surviving contents of one file: durable plus the operations `mode`
 * lets through (lost ones never do). */
static void crash_contents(struct buf *out, const struct inode *ino,
			   unsigned mode, uint64_t *rng)
{
	size_t n = 0;
	size_t *idx = xcalloc(ino->nops, sizeof(*idx));

	buf_copy(out, &ino->durable);
	for (size_t i = 0; i < ino->nops; i++)
		if (!ino->ops[i].lost)
			idx[n++] = i;
	if (mode & FAULTIO_DROP_ALL)
		n = 0;

	size_t keep;

	if (mode & FAULTIO_REORDER) {
		/* Keep each with a per-file probability of 0, 1/4 .. 1. */
		uint64_t p = rng_below(rng, 5);

		keep = 0;
		for (size_t i = 0; i < n; i++)
			if (rng_below(rng, 4) < p)
				idx[keep++] = idx[i];
		for (size_t i = keep; i > 1; i--) {
			size_t j = rng_below(rng, i);
			size_t t = idx[i - 1];

			idx[i - 1] = idx[j];
			idx[j] = t;
		}
	} else {
		keep = rng_below(rng, n + 1);
		/* The next one in order is the one a cut would tear. */
		if ((mode & FAULTIO_TORN) && keep < n)
			keep++;
		else if (mode & FAULTIO_TORN)
			mode &= ~FAULTIO_TORN;
	}
	for (size_t i = 0; i < keep; i++) {
		const struct wop *w = &ino->ops[idx[i]];

		if (i + 1 == keep && (mode & FAULTIO_TORN) &&
		    rng_chance(rng, 3, 4))
			wop_apply_torn(out, w, rng);
		else
			wop_apply(out, w);
	}
	free(idx);
}

faultio *faultio_crash(faultio *f, uint64_t seed, unsigned mode)
{
	faultio *g = faultio_new();
	uint64_t rng = rng_mix(seed ^ 0x6661756c74696fULL);
	struct ns ns;

	pthread_mutex_lock(&f->mu);
	struct fstate *s = f->frozen ? f->frozen : &f->live;

	ns_copy(&ns, &s->dur, false);
	size_t ndir = (mode & FAULTIO_DROP_ALL) ? 0
						: rng_below(&rng, s->npend + 1);

	for (size_t i = 0; i < ndir; i++)
		dirop_apply(&ns, &s->pend[i]);
	for (size_t i = 0; i < ns.n; i++) {
		struct inode *ino = ns.e[i].ino;

		if (!ino->copy) {
			ino->copy = inode_new();
			crash_contents(&ino->copy->durable, ino, mode, &rng);
			buf_copy(&ino->copy->current, &ino->copy->durable);
			ns_set(&g->live.cur, ns.e[i].name, ino->copy);
			ns_set(&g->live.dur, ns.e[i].name, ino->copy);
			inode_unref(ino->copy);   /* the namespaces hold it */
		} else {
			ns_set(&g->live.cur, ns.e[i].name, ino->copy);
			ns_set(&g->live.dur, ns.e[i].name, ino->copy);
		}
	}
	ns_clear_copies(&ns);
	ns_free(&ns);
	pthread_mutex_unlock(&f->mu);
	return g;
}

void faultio_fail_after(faultio *f, unsigned ops, uint64_t n, int err,
			bool sticky)
{
	pthread_mutex_lock(&f->mu);
	f->fail_ops = ops;
	f->fail_countdown = n;
	f->fail_err = err;
	f->fail_sticky = sticky;
	f->fail_fired = false;
	f->fail_armed = err != 0 && ops != 0;
	pthread_mutex_unlock(&f->mu);
}

void faultio_freeze_after(faultio *f, uint64_t n)
{
	faultio_freeze_after_ops(f, FAULTIO_OP_MUTATING, n);
}

void faultio_freeze_after_ops(faultio *f, unsigned ops, uint64_t n)
{
	pthread_mutex_lock(&f->mu);
	if (!f->frozen) {
		f->freeze_armed = true;
		f->freeze_ops = ops;
		f->freeze_countdown = n;
		if (!n)
			freeze_now(f);
	}
	pthread_mutex_unlock(&f->mu);
}

bool faultio_frozen(faultio *f)
{
	pthread_mutex_lock(&f->mu);
	bool frozen = f->frozen != NULL;

	pthread_mutex_unlock(&f->mu);
	return frozen;
}

void faultio_clear_faults(faultio *f)
{
	pthread_mutex_lock(&f->mu);
	f->fail_armed = false;
	f->freeze_armed = false;
	pthread_mutex_unlock(&f->mu);
}

uint64_t faultio_op_count(faultio *f)
{
	pthread_mutex_lock(&f->mu);
	uint64_t n = f->mut_ops;

	pthread_mutex_unlock(&f->mu);
	return n;
}

void faultio_set_lock_error(faultio *f, int err)
{
	pthread_mutex_lock(&f->mu);
	f->lock_err = err;
	pthread_mutex_unlock(&f->mu);
}

int faultio_corrupt(faultio *f, const char *name, uint64_t off, uint8_t x)
{
	int err = 0;

	pthread_mutex_lock(&f->mu);
	struct inode *ino = ns_get(&f->live.cur, name);

	if (!ino) {
		err = -ENOENT;
	} else if (off >= ino->current.len) {
		err = -EINVAL;
	} else {
		ino->current.p[off] ^= x;
		if (off < ino->durable.len)
			ino->durable.p[off] ^= x;
	}
	pthread_mutex_unlock(&f->mu);
	return err;
}

int faultio_truncate_file(faultio *f, const char *name, uint64_t size)
{
	int err = 0;

	pthread_mutex_lock(&f->mu);
	struct inode *ino = ns_get(&f->live.cur, name);

	if (!ino) {
		err = -ENOENT;
	} else {
		buf_resize(&ino->current, size);
		buf_resize(&ino->durable, size);
	}
	pthread_mutex_unlock(&f->mu);
	return err;
}

int faultio_file_size(faultio *f, const char *name, uint64_t *size)
{
	int err = 0;

	pthread_mutex_lock(&f->mu);
	struct inode *ino = ns_get(&f->live.cur, name);

	if (ino)
		*size = ino->current.len;
	else
		err = -ENOENT;
	pthread_mutex_unlock(&f->mu);
	return err;
}

ssize_t faultio_read(faultio *f, const char *name, void *buf, size_t len,
		     uint64_t off)
{
	ssize_t n = 0;

	pthread_mutex_lock(&f->mu);
	struct inode *ino = ns_get(&f->live.cur, name);

	if (!ino) {
		n = -ENOENT;
	} else if (off < ino->current.len) {
		n = (ssize_t)(ino->current.len - off < len ? ino->current.len - off
							    : len);
		memcpy(buf, ino->current.p + off, (size_t)n);
	}
	pthread_mutex_unlock(&f->mu);
	return n;
}

int faultio_list(faultio *f, int (*fn)(void *arg, const char *name),
		 void *arg)
{
	pthread_mutex_lock(&f->mu);
	size_t n = f->live.cur.n;
	char **names = xcalloc(n, sizeof(*names));

	for (size_t i = 0; i < n; i++)
		names[i] = xstrdup(f->live.cur.e[i].name);
	pthread_mutex_unlock(&f->mu);

	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		if (!ret)
			ret = fn(arg, names[i]);
		free(names[i]);
	}
	free(names);
	return ret;
}

void faultio_stats(faultio *f, struct faultio_stats *st)
{
	pthread_mutex_lock(&f->mu);
	*st = f->st;
	st->files = (unsigned)f->live.cur.n;
	pthread_mutex_unlock(&f->mu);
}
