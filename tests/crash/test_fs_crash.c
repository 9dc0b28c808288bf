/* SPDX-License-Identifier: MIT */
/*
 * test_fs_crash.c: power cuts against the filesystem's crash contract.
 *
 * Contract under test (fs/lfs.h, ARCHITECTURE.md): every filesystem
 * operation is one atomic kv batch, operations are never seen out of
 * order, fsync flushes through the epoch of the inode's last change and
 * sync through everything, and a mount after a crash reclaims the inodes
 * that were unlinked while open.  After a power cut at any moment of a
 * multi-threaded workload the store remounts and
 *   1. everything fsynced before the cut is there, byte for byte;
 *   2. the state is the workload's state at some operation boundary no
 *      earlier than the last completed fsync or sync: no operation half
 *      applied, none applied without one that ended before it began;
 *   3. the filesystem is consistent: every entry resolves, readdir lists
 *      exactly what lookup finds, link counts and directory sizes are
 *      right, and no inode, extent, xattr or orphan record survives for
 *      an inode no entry names.
 *
 * One ITERATION (everything derived from one printed seed):
 *   1. lfs_format on a fresh faultio (block size 4-64 KiB, blob threshold
 *      512 B-32 KiB, compression on or off), lfs_mount (background flush
 *      every 1-20 ms or practically never, a small cache or the default),
 *      mkdir /t0 /t1 /t2 and lfs_sync;
 *   2. up to MAX_GENS GENERATIONS of: NTHREADS workers, worker t alone in
 *      /t<t>, run random operations: create (O_EXCL), writes of 1 byte to
 *      300 KiB at random offsets (past EOF too, leaving holes; appends),
 *      truncate up and down (and O_TRUNC), fallocate (allocate, PUNCH_HOLE,
 *      ZERO_RANGE, with and without KEEP_SIZE), copy_file_range, rename
 *      (over files, NOREPLACE, EXCHANGE, between directories, directories
 *      too), link, unlink, mkdir, rmdir, setxattr, removexattr, lfs_ref on
 *      a file and lfs_forget (a file unlinked while referenced is an
 *      orphan), fsync, fsyncdir and sync, and reads checked against the
 *      model (getattr and the bytes).  The cut is frozen at a random
 *      moment while they run, or at the end; faultio_crash() gives the
 *      disk image; the old filesystem is
 *      unmounted on its (still working) faultio; the image is written to
 *      a scratch directory for `fsck.larchfs -n`, which must find nothing
 *      to repair (when FSCK_LARCHFS names it, as meson does), opened read
 *      only with the kv API (to count the orphans the cut left; it must
 *      not write), then mounted, walked and checked; the recovered
 *      filesystem is the start of the next generation.
 *
 * THE MODEL.  Each worker keeps an exact model of its subtree (names,
 * inode numbers, link counts, file bytes, xattrs) and a log of its
 * operations with their expected results, which the calls must return
 * (a mismatch fails the test at once, unless errors are injected).  Every
 * operation takes a START and an END ticket from one atomic counter, right
 * before its call and right after it returns.  After recovery, worker t's
 * subtree must equal its model after some prefix k_t of its operations
 * (the checker replays the log on the generation's starting state), and:
 *   - k_t >= the bound from fsync and sync: a worker's fsync(f) that
 *     returned 0 before the freeze makes its operations up to its last
 *     one changing f durable; a sync that did makes every operation, in
 *     any thread, that ended before the sync started durable;
 *   - prefix order across threads: if an operation B of thread u is
 *     applied (B is among u's first k_u) then every operation of any
 *     thread that ended before B started is applied too.
 * The smallest k's meeting both are found by a fixpoint (raising a k only
 * raises what the others need), so the check is exact: it fails iff no
 * choice of prefixes fits.  For the fsync bound an operation changes an
 * inode only when it commits a batch that names it (an O_TRUNC of an
 * empty file or a copy of nothing commits nothing): claiming more would
 * demand durability fsync never promised.
 *
 * With injected I/O errors (fs_crash_errors) an operation may fail with
 * EIO or ENOSPC; its worker stops there and that operation may be applied
 * or not (a create that was applied names an inode number the model does
 * not know: any fresh inode of the right kind matches it).  The store must
 * still remount consistent with fsynced data intact.
 *
 * Chains of delta records (fs_crash_chains): the background flush runs
 * every 1-3 ms, so its flushes, which consolidate the chains the workers'
 * fsyncs grow past their soft limit, are among the operations, and the
 * cut is frozen a few syncs in most of the time.  Blob ranges
 * (fs_crash_blob_sync): a blob threshold of 512 B or 4 KiB, so fsyncs
 * sync segments with the log, and the cut is frozen a few syncs in (with
 * one, after the log's sync and before the segment's: faultio has no
 * sync_many, so the engine syncs the log first) or a number of writes in
 * (between a blob's segment write and the log write of its commit).
 *
 * Engine settings lfs_mount_options does not expose (leaf size, dirty
 * limit, snapshot and log file sizes, GC period) stay at their defaults,
 * so snapshots, log rollovers and blob GC seldom or never happen here;
 * test_crash.c cuts through those under the engine's own contract.
 *
 * Knobs: LARCH_CRASH_ITERS=N (iterations per case; default in cases),
 * LARCH_CRASH_SEED=S (run only the iteration with seed S; thread timing
 * still varies, so a replay repeats the workload and the cut parameters,
 * not the interleaving), LARCH_CRASH_VERBOSE=1 (every generation's plan
 * and every operation), `--only NAME` (one case), `--iters N`.
 * LARCH_SANITIZED=1 (set by tests/run-all for the ASan build) or a
 * sanitizer build runs a third of the default iterations.  The runner that
 * reads them, and prints the replay line of a failure, is
 * tests/support/crashrun.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include <cmocka.h>

#include "crashrun.h"
#include "faultio.h"
#include "larchkv.h"
#include "lfs.h"
#include "testrng.h"

/* ---- workload shape ----------------------------------------------------- */

#define NTHREADS   3
#define NNAMES     10                      /* names a directory may hold */
#define NXATTR     4
#define MAX_GENS   3
#define MAX_DEPTH  2                       /* mkdir below /t<t>/x/y: no */
#define WRITE_MAX  (300u << 10)
#define FILE_SOFT_MAX (2u << 20)           /* files stay about this small */
#define XATTR_BIG  6000u
#define NONE       (-1)
#define STORE_DIR  "faultio-store"

enum fcase {
	FC_DROP,          /* every unsynced write lost */
	FC_ORDERED,       /* a prefix of each file's unsynced writes */
	FC_TORN,          /* ... and the last one torn (in order or not) */
	FC_REORDER,       /* a random subset in a random order */
	FC_ERRORS,        /* injected EIO/ENOSPC, then the cut (any mode) */
	FC_CHAINS,        /* background flushes consolidating chains */
	FC_BLOBSYNC,      /* blob ranges synced with the log */
	NCASES
};

/* Their names, iterations and cuts.  About two cuts per iteration: 600
 * per case, 3,000 in all; under a sanitizer a third of that (about 20 s of
 * CPU per case). */
static const struct crashrun_case cases[NCASES] = {
	[FC_DROP]    = { "fs_crash_drop_all", 300, CRASHRUN_CUT_DROP },
	[FC_ORDERED] = { "fs_crash_ordered",  300, CRASHRUN_CUT_ORDERED },
	[FC_TORN]    = { "fs_crash_torn",     300, CRASHRUN_CUT_TORN },
	[FC_REORDER] = { "fs_crash_reorder",  300, CRASHRUN_CUT_REORDER },
	[FC_ERRORS]  = { "fs_crash_errors",   300, CRASHRUN_CUT_ANY },
	[FC_CHAINS]  = { "fs_crash_chains",   200, CRASHRUN_CUT_ANY },
	[FC_BLOBSYNC] = { "fs_crash_blob_sync", 200, CRASHRUN_CUT_ANY },
};

enum cut_when {
	WHEN_CALLS,       /* after a random number of mutating calls */
	WHEN_SYNC_OPS,    /* after a few syncs / name operations */
	WHEN_MOMENT,      /* a few calls after one worker's chosen op */
	WHEN_END,         /* after the workers finish */
	WHEN_END_SYNCED,  /* after the workers finish and an lfs_sync */
	WHEN_WRITES,      /* after a number of writes (fs_crash_blob_sync) */
	NWHEN
};

static const char *const when_names[NWHEN] = {
	"calls", "sync-ops", "moment", "end", "end-synced", "writes",
};

/* Names in the workers' directories: short, long (255 bytes), dotted,
 * spaced, non-ASCII. */
static const char *g_names[NNAMES];
static char g_long_name[LFS_NAME_MAX + 1];

static const char *const xa_names[NXATTR] = {
	"user.a", "user.crash-test.attribute", "trusted.t", "security.s",
};

/* ---- the model ---------------------------------------------------------- */

struct mxattr {
	bool     set;
	uint32_t len;
	uint64_t key;                 /* value bytes: data_fill(key, 0, len) */
};

/* An inode of a worker's subtree.  Node 0 is the worker's /t<t>. */
struct mnode {
	bool     used;                /* false: never, or reclaimed */
	bool     dir;
	uint64_t ino;                 /* 0: unknown (an applied MAYBE create) */
	uint32_t nlink;               /* files: names; directories: 1 */
	uint64_t ver;                 /* bumped on every change of the bytes */
	uint64_t size;                /* files: bytes (data holds them) */
	uint8_t *data;
	size_t   cap;
	struct mxattr xa[NXATTR];
	int32_t  ent[NNAMES];         /* directories: child node or NONE */
	int32_t  parent;              /* directories: parent node; NONE: /t<t> */
	uint32_t refs;                /* lfs_ref references the worker holds */
	int32_t  last_op;             /* this generation's last op changing it */
};

struct model {
	struct mnode *n;
	int32_t nn, cap;
};

/* ---- operations --------------------------------------------------------- */

enum opkind {
	OP_CREATE, OP_MKDIR, OP_WRITE, OP_TRUNCATE, OP_PUNCH, OP_ZERO,
	OP_RENAME, OP_LINK, OP_UNLINK, OP_RMDIR, OP_SETXATTR, OP_RMXATTR,
	OP_FSYNC, OP_FSYNCDIR, OP_SYNC, OP_HOLD, OP_FORGET, OP_READ,
	OP_ALLOC, OP_COPY,
	NOPKINDS
};

static const char *const op_names[NOPKINDS] = {
	"create", "mkdir", "write", "truncate", "punch", "zero", "rename",
	"link", "unlink", "rmdir", "setxattr", "removexattr", "fsync",
	"fsyncdir", "sync", "hold", "forget", "read", "fallocate",
	"copy_file_range",
};

/* How often each kind is picked (of the sum). */
static const unsigned op_weight[NOPKINDS] = {
	[OP_CREATE] = 12, [OP_MKDIR] = 4, [OP_WRITE] = 22, [OP_TRUNCATE] = 6,
	[OP_PUNCH] = 4, [OP_ZERO] = 4, [OP_RENAME] = 11, [OP_LINK] = 4,
	[OP_UNLINK] = 6, [OP_RMDIR] = 3, [OP_SETXATTR] = 6, [OP_RMXATTR] = 3,
	[OP_FSYNC] = 5, [OP_FSYNCDIR] = 1, [OP_SYNC] = 2, [OP_HOLD] = 3,
	[OP_FORGET] = 3, [OP_READ] = 5, [OP_ALLOC] = 3, [OP_COPY] = 3,
};

enum { ST_DONE, ST_MAYBE };

#define OPF_HOLD   0x1u               /* create: keep the reference */
#define OPF_APPEND 0x2u               /* write: LFS_WRITE_APPEND */
#define OPF_OTRUNC 0x4u               /* truncate to 0: lfs_open(O_TRUNC) */

struct fop {
	uint8_t  kind, status, tid;
	uint8_t  name, name2, xa, nwant;
	int16_t  want[3];             /* acceptable results: 0 or -errno */
	int32_t  dir, dir2, node;     /* model nodes */
	int32_t  node2;               /* copy_file_range: the source */
	uint32_t flags;               /* rename, fallocate, xattr, OPF_ */
	uint64_t off, len, off2;      /* off2: copy_file_range's source */
	uint64_t key;                 /* data or xattr value stream */
	uint64_t ino;                 /* create, mkdir: the new inode */
	int64_t  rc;
	uint64_t start, end;          /* tickets */
	int32_t  lastchg;             /* fsync: last op that changed node */
	bool     durable;             /* fsync/sync: 0 before the freeze */
	char     desc[320];
};

/* ---- the iteration ------------------------------------------------------ */

struct iter;

struct worker {
	struct iter  *it;
	unsigned      tid;
	uint64_t      rng;
	uint64_t      ser;            /* op serial, across generations */
	unsigned      nplan;          /* ops planned this generation */
	struct model  live;           /* after every op so far */
	struct model  base;           /* the state the generation began in */
	struct fop   *ops;
	size_t        nops, capops;
	uint8_t      *buf;            /* write data, read-back */
	char          err[1536];      /* set on a contract violation */
	bool          io_error;       /* stopped by an injected error */
};

struct iter {
	uint64_t      seed;
	enum fcase    cc;
	uint64_t      rng;
	struct lfs_format_options fo;
	struct lfs_mount_options  mo;
	faultio      *f;
	lfs          *fs;
	struct lfs_info info;
	struct lfs_cred cred;
	uint64_t      tino[NTHREADS]; /* /t0 /t1 /t2 */
	atomic_uint_fast64_t ticket;

	/* this generation's cut */
	enum cut_when when;
	unsigned      freeze_tid, freeze_op, freeze_n;
	bool          end_synced;     /* WHEN_END_SYNCED's sync succeeded */
	bool          errors, had_errors;
	struct worker w[NTHREADS];
	pthread_barrier_t go;         /* workers start together */
};

/* What the cuts of one test case did, printed at its end so that a green
 * run shows it exercised something. */
struct case_stats {
	uint64_t cuts, ops, failed_as_predicted, lost_ops, cuts_lost;
	uint64_t at_bound, bounded, orphans_in_image, orphans_gone, fscked;
	uint64_t maybe_ops, maybe_applied;
	uint64_t files, bytes_checked, flushes, blob_bytes, csum_failures;
	uint64_t deltas, consolidations;
	uint64_t when[NWHEN];
};

static struct case_stats g_st;
static uint64_t g_span[NCASES];      /* mutating calls per generation, avg */

/* ---- data --------------------------------------------------------------- */

static uint64_t data_key(unsigned tid, uint64_t ser, unsigned what)
{
	return rng_mix(0xf11edaf0ULL ^ ((uint64_t)tid << 56) ^
		       ((uint64_t)what << 48) ^ ser);
}

/* Bytes [off, off + len) of the stream `key`: byte o is byte o % 8 of a
 * hash of (key, o / 8), so any byte of a file names the write it came
 * from and its offset. */
static void data_fill(uint8_t *out, uint64_t key, uint64_t off, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t o = off + i;
		uint64_t w = rng_mix(key ^ ((o >> 3) * 0x9e3779b97f4a7c15ull));

		for (unsigned b = (unsigned)(o & 7); b < 8 && i < len; b++, i++)
			out[i] = (uint8_t)(w >> (8 * b));
	}
}

/* ---- model helpers ------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

static int32_t m_new(struct model *m, bool dir, uint64_t ino)
{
	if (m->nn == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->n = xrealloc(m->n, (size_t)m->cap * sizeof(*m->n));
	}
	struct mnode *n = &m->n[m->nn];

	memset(n, 0, sizeof(*n));
	n->used = true;
	n->dir = dir;
	n->ino = ino;
	n->nlink = 1;
	n->parent = NONE;
	n->last_op = NONE;
	for (unsigned i = 0; i < NNAMES; i++)
		n->ent[i] = NONE;
	return m->nn++;
}

static void m_release(struct mnode *n)
{
	free(n->data);
	n->data = NULL;
	n->cap = 0;
	n->size = 0;
	n->used = false;
}

static void m_free(struct model *m)
{
	for (int32_t i = 0; i < m->nn; i++)
		free(m->n[i].data);
	free(m->n);
	memset(m, 0, sizeof(*m));
}

static void m_copy(struct model *dst, const struct model *src)
{
	m_free(dst);
	dst->nn = dst->cap = src->nn;
	dst->n = xrealloc(NULL, (size_t)(src->nn ? src->nn : 1) * sizeof(*dst->n));
	memcpy(dst->n, src->n, (size_t)src->nn * sizeof(*dst->n));
	for (int32_t i = 0; i < src->nn; i++) {
		struct mnode *n = &dst->n[i];

		n->data = NULL;
		n->cap = 0;
		if (n->size && src->n[i].data) {
			n->data = xrealloc(NULL, n->size);
			memcpy(n->data, src->n[i].data, n->size);
			n->cap = n->size;
		}
	}
}

static unsigned m_entries(const struct mnode *d)
{
	unsigned c = 0;

	for (unsigned i = 0; i < NNAMES; i++)
		c += d->ent[i] != NONE;
	return c;
}

/* Whether directory d is node a or lies beneath it. */
static bool m_within(const struct model *m, int32_t d, int32_t a)
{
	for (int32_t x = d; x != NONE; x = m->n[x].parent)
		if (x == a)
			return true;
	return false;
}

static unsigned m_depth(const struct model *m, int32_t d)
{
	unsigned depth = 0;

	for (int32_t x = m->n[d].parent; x != NONE; x = m->n[x].parent)
		depth++;
	return depth;
}

static void mf_resize(struct mnode *f, uint64_t size)
{
	if (size > f->cap) {
		size_t cap = f->cap * 2 > size ? f->cap * 2 : (size_t)size;

		f->data = xrealloc(f->data, cap);
		f->cap = cap;
	}
	if (size > f->size)
		memset(f->data + f->size, 0, size - f->size);
	f->size = size;
	f->ver++;
}

static void mf_write(struct mnode *f, uint64_t key, uint64_t off, uint64_t len)
{
	if (off + len > f->size)
		mf_resize(f, off + len);
	data_fill(f->data + off, key, off, len);
	f->ver++;
}

/* Bytes copy_file_range moves from src at off2, as the model has them. */
static uint64_t copy_len(const struct mnode *src, uint64_t off2, uint64_t len)
{
	if (off2 >= src->size)
		return 0;
	return src->size - off2 < len ? src->size - off2 : len;
}

static void mf_copy(struct mnode *dst, const struct mnode *src, uint64_t off2,
		    uint64_t off, uint64_t n)
{
	uint8_t *tmp = xrealloc(NULL, n);

	memcpy(tmp, src->data + off2, n);     /* src may be dst */
	if (off + n > dst->size)
		mf_resize(dst, off + n);
	memcpy(dst->data + off, tmp, n);
	dst->ver++;
	free(tmp);
}

static void mf_zero(struct mnode *f, uint64_t off, uint64_t end)
{
	if (end > f->size)
		end = f->size;
	if (off < end)
		memset(f->data + off, 0, end - off);
	f->ver++;
}

/* Drops one name of file node x; an unreferenced file with no name left
 * is reclaimed, a referenced one lives on as an orphan. */
static void m_drop_link(struct model *m, int32_t x)
{
	struct mnode *n = &m->n[x];

	if (n->nlink)
		n->nlink--;
	if (!n->nlink && !n->refs)
		m_release(n);
}

/* Display form of a name (the 255-byte one is abbreviated). */
static const char *name_show(unsigned i)
{
	return g_names[i] == g_long_name ? "L...(255)" : g_names[i];
}

/* Path of directory d: "/t1/a/D". */
static void m_path(const struct model *m, unsigned tid, int32_t d, char *out,
		   size_t cap)
{
	int32_t chain[64];
	unsigned n = 0;

	for (int32_t x = d; x != NONE && n < 64; x = m->n[x].parent)
		chain[n++] = x;
	size_t len = (size_t)snprintf(out, cap, "/t%u", tid);

	for (unsigned i = n - 1; i-- > 0 && len < cap;) {
		int32_t p = chain[i + 1], c = chain[i];
		const char *nm = "?";

		for (unsigned k = 0; k < NNAMES; k++)
			if (m->n[p].ent[k] == c)
				nm = name_show(k);
		len += (size_t)snprintf(out + len, cap - len, "/%s", nm);
	}
}

/* A name of node x ("dir/name"), or "(orphan)". */
static void m_some_path(const struct model *m, unsigned tid, int32_t x,
			char *out, size_t cap)
{
	if (x == 0) {
		snprintf(out, cap, "/t%u", tid);
		return;
	}
	for (int32_t d = 0; d < m->nn; d++) {
		if (!m->n[d].used || !m->n[d].dir)
			continue;
		for (unsigned k = 0; k < NNAMES; k++)
			if (m->n[d].ent[k] == x) {
				char p[96];

				m_path(m, tid, d, p, sizeof(p));
				snprintf(out, cap, "%s/%s", p, name_show(k));
				return;
			}
	}
	snprintf(out, cap, "(orphan)");
}

/* ---- predicting and applying operations --------------------------------- */

static void want_add(struct fop *op, int e)
{
	for (unsigned i = 0; i < op->nwant; i++)
		if (op->want[i] == e)
			return;
	if (op->nwant < 3)
		op->want[op->nwant++] = (int16_t)e;
}

static bool op_succeeds(const struct fop *op)
{
	return op->nwant == 1 && op->want[0] == 0;
}

/* rename's results (see predict): Linux checks the loop (EINVAL) and
 * "target is an ancestor of the source" (ENOTEMPTY) before the types,
 * the core checks the types first; both are right. */
static void predict_rename(const struct model *m, struct fop *op)
{
	const struct mnode *d = &m->n[op->dir], *d2 = &m->n[op->dir2];
	int32_t s = d->ent[op->name], t = d2->ent[op->name2];
	bool ex = op->flags & LFS_RENAME_EXCHANGE;
	bool nr = op->flags & LFS_RENAME_NOREPLACE;

	if (s == NONE || (ex && t == NONE)) {
		want_add(op, -ENOENT);
		return;
	}
	if (s == t) {   /* one inode: nothing to do, but NOREPLACE is EEXIST */
		if (nr)
			want_add(op, -EEXIST);
		return;
	}
	bool sdir = m->n[s].dir, tdir = t != NONE && m->n[t].dir;

	if (ex) {
		if (sdir && m_within(m, op->dir2, s))
			want_add(op, -EINVAL);
		if (tdir && m_within(m, op->dir, t))
			want_add(op, -EINVAL);
		return;
	}
	if (t != NONE && nr) {
		want_add(op, -EEXIST);
		return;
	}
	if (sdir && m_within(m, op->dir2, s))
		want_add(op, -EINVAL);
	if (t != NONE) {
		if (tdir && m_within(m, op->dir, t))
			want_add(op, -ENOTEMPTY);
		if (sdir && !tdir)
			want_add(op, -ENOTDIR);
		if (!sdir && tdir)
			want_add(op, -EISDIR);
		if (tdir && m_entries(&m->n[t]))
			want_add(op, -ENOTEMPTY);
	}
}

/*
 * The results the operation may have on the model's state: success, or
 * the errors Linux could give (when several checks fail, any of their
 * errors is right: POSIX does not order them, and the core's order differs
 * from Linux's in places).
 */
static void predict(const struct model *m, struct fop *op)
{
	const struct mnode *d = op->dir != NONE ? &m->n[op->dir] : NULL;
	const struct mnode *d2 = op->dir2 != NONE ? &m->n[op->dir2] : NULL;
	const struct mnode *x = op->node != NONE ? &m->n[op->node] : NULL;

	op->nwant = 0;
	switch (op->kind) {
	case OP_CREATE:
	case OP_MKDIR:
		if (d->ent[op->name] != NONE)
			want_add(op, -EEXIST);
		break;
	case OP_RENAME:
		predict_rename(m, op);
		break;
	case OP_LINK:
		if (x->dir)
			want_add(op, -EPERM);
		else if (!x->nlink)
			want_add(op, -ENOENT);
		if (d2->ent[op->name2] != NONE)
			want_add(op, -EEXIST);
		break;
	case OP_UNLINK:
		if (d->ent[op->name] == NONE)
			want_add(op, -ENOENT);
		else if (m->n[d->ent[op->name]].dir)
			want_add(op, -EISDIR);
		break;
	case OP_RMDIR: {
		int32_t s = d->ent[op->name];

		if (s == NONE)
			want_add(op, -ENOENT);
		else if (!m->n[s].dir)
			want_add(op, -ENOTDIR);
		else if (m_entries(&m->n[s]))
			want_add(op, -ENOTEMPTY);
		break;
	}
	case OP_SETXATTR:
		if ((op->flags & XATTR_CREATE) && x->xa[op->xa].set)
			want_add(op, -EEXIST);
		if ((op->flags & XATTR_REPLACE) && !x->xa[op->xa].set)
			want_add(op, -ENODATA);
		break;
	case OP_RMXATTR:
		if (!x->xa[op->xa].set)
			want_add(op, -ENODATA);
		break;
	default:
		break;
	}
	if (!op->nwant)
		want_add(op, 0);
}

static void touch(struct model *m, int32_t x, int32_t idx)
{
	if (x != NONE)
		m->n[x].last_op = idx;
}

/* Applies a successful operation on names (op index idx). */
static void apply_names(struct model *m, const struct fop *op, int32_t idx)
{
	switch (op->kind) {
	case OP_CREATE:
	case OP_MKDIR: {
		int32_t x = m_new(m, op->kind == OP_MKDIR, op->ino);

		m->n[op->dir].ent[op->name] = x;
		if (op->kind == OP_MKDIR)
			m->n[x].parent = op->dir;
		else
			m->n[x].refs = (op->flags & OPF_HOLD) ? 1 : 0;
		touch(m, op->dir, idx);
		touch(m, x, idx);
		break;
	}
	case OP_RENAME: {
		int32_t s = m->n[op->dir].ent[op->name];
		int32_t t = m->n[op->dir2].ent[op->name2];

		if (s == t)
			break;
		if (op->flags & LFS_RENAME_EXCHANGE) {
			m->n[op->dir].ent[op->name] = t;
			m->n[op->dir2].ent[op->name2] = s;
			if (m->n[t].dir)
				m->n[t].parent = op->dir;
		} else {
			m->n[op->dir].ent[op->name] = NONE;
			m->n[op->dir2].ent[op->name2] = s;
			if (t != NONE) {
				touch(m, t, idx);
				if (m->n[t].dir)
					m_release(&m->n[t]);
				else
					m_drop_link(m, t);
			}
		}
		if (m->n[s].dir)
			m->n[s].parent = op->dir2;
		touch(m, op->dir, idx);
		touch(m, op->dir2, idx);
		touch(m, s, idx);
		if (op->flags & LFS_RENAME_EXCHANGE)
			touch(m, t, idx);
		break;
	}
	case OP_LINK:
		m->n[op->dir2].ent[op->name2] = op->node;
		m->n[op->node].nlink++;
		touch(m, op->node, idx);
		touch(m, op->dir2, idx);
		break;
	case OP_UNLINK: {
		int32_t x = m->n[op->dir].ent[op->name];

		m->n[op->dir].ent[op->name] = NONE;
		touch(m, op->dir, idx);
		touch(m, x, idx);
		m_drop_link(m, x);
		break;
	}
	case OP_RMDIR: {
		int32_t x = m->n[op->dir].ent[op->name];

		m->n[op->dir].ent[op->name] = NONE;
		touch(m, op->dir, idx);
		m_release(&m->n[x]);
		break;
	}
	default:
		break;
	}
}

/* Applies a successful operation (op index idx of its generation). */
static void apply(struct model *m, const struct fop *op, int32_t idx)
{
	switch (op->kind) {
	case OP_WRITE:
		mf_write(&m->n[op->node], op->key, op->off, op->len);
		touch(m, op->node, idx);
		break;
	case OP_TRUNCATE: {
		struct mnode *f = &m->n[op->node];

		if ((op->flags & OPF_OTRUNC) && !f->size)
			break;          /* O_TRUNC of an empty file: no change */
		if (op->off < f->size) {
			f->size = op->off;
			f->ver++;
		} else {
			mf_resize(f, op->off);
		}
		touch(m, op->node, idx);
		break;
	}
	case OP_PUNCH:
		mf_zero(&m->n[op->node], op->off, op->off + op->len);
		touch(m, op->node, idx);
		break;
	case OP_ZERO: {
		struct mnode *f = &m->n[op->node];
		uint64_t end = op->off + op->len;

		if (!(op->flags & FALLOC_FL_KEEP_SIZE) && end > f->size)
			mf_resize(f, end);
		mf_zero(f, op->off, end);
		touch(m, op->node, idx);
		break;
	}
	case OP_SETXATTR:
		m->n[op->node].xa[op->xa] = (struct mxattr){ true, (uint32_t)op->len,
							     op->key };
		touch(m, op->node, idx);
		break;
	case OP_RMXATTR:
		m->n[op->node].xa[op->xa].set = false;
		touch(m, op->node, idx);
		break;
	case OP_ALLOC: {
		struct mnode *f = &m->n[op->node];

		if (!(op->flags & FALLOC_FL_KEEP_SIZE) && op->off + op->len > f->size)
			mf_resize(f, op->off + op->len);
		touch(m, op->node, idx);
		break;
	}
	case OP_COPY: {
		uint64_t n = copy_len(&m->n[op->node2], op->off2, op->len);

		if (n) {                /* nothing read: nothing written */
			mf_copy(&m->n[op->node], &m->n[op->node2], op->off2,
				op->off, n);
			touch(m, op->node, idx);
		}
		break;
	}
	case OP_HOLD:
		m->n[op->node].refs++;
		break;
	case OP_FORGET: {
		struct mnode *f = &m->n[op->node];

		if (f->refs)
			f->refs--;
		if (!f->refs && !f->nlink)
			m_release(f);
		break;
	}
	case OP_FSYNC: case OP_FSYNCDIR: case OP_SYNC: case OP_READ:
		break;
	default:
		apply_names(m, op, idx);
		break;
	}
}

/* After a recovery: orphans are gone, no reference is held, and nothing
 * changed in the new generation yet. */
static void m_recovered(struct model *m)
{
	for (int32_t i = 0; i < m->nn; i++) {
		struct mnode *n = &m->n[i];

		if (n->used && !n->dir && !n->nlink)
			m_release(n);
		n->refs = 0;
		n->last_op = NONE;
	}
}

/* ---- choosing operations ------------------------------------------------ */

static int32_t pick_node(struct worker *w, bool (*ok)(const struct model *,
						      int32_t))
{
	const struct model *m = &w->live;
	int32_t c[256];
	unsigned n = 0;

	for (int32_t i = 0; i < m->nn && n < 256; i++)
		if (m->n[i].used && ok(m, i))
			c[n++] = i;
	return n ? c[rng_below(&w->rng, n)] : NONE;
}

static bool is_dir(const struct model *m, int32_t i)
{
	return m->n[i].dir;
}

static bool is_shallow_dir(const struct model *m, int32_t i)
{
	return m->n[i].dir && m_depth(m, i) < MAX_DEPTH;
}

static bool is_file(const struct model *m, int32_t i)
{
	return !m->n[i].dir;
}

static bool is_named_file(const struct model *m, int32_t i)
{
	return !m->n[i].dir && m->n[i].nlink;
}

static bool is_held(const struct model *m, int32_t i)
{
	return !m->n[i].dir && m->n[i].refs;
}

static bool is_orphan(const struct model *m, int32_t i)
{
	return !m->n[i].dir && !m->n[i].nlink;
}

static bool is_any(const struct model *m, int32_t i)
{
	(void)m;
	(void)i;
	return true;
}

enum { PREFER_USED, PREFER_FREE };

/* A name in directory d: mostly a used one (or a free one). */
static uint8_t pick_name(struct worker *w, int32_t d, int prefer)
{
	const struct mnode *n = &w->live.n[d];
	uint8_t c[NNAMES];
	unsigned k = 0;

	for (unsigned i = 0; i < NNAMES; i++)
		if ((n->ent[i] != NONE) == (prefer == PREFER_USED))
			c[k++] = (uint8_t)i;
	if (k && rng_chance(&w->rng, 7, 8))
		return c[rng_below(&w->rng, k)];
	return (uint8_t)rng_below(&w->rng, NNAMES);
}

static uint64_t pick_len(uint64_t *r)
{
	switch (rng_below(r, 4)) {
	case 0:
		return rng_range(r, 1, 64);
	case 1:
		return rng_range(r, 65, 8192);
	case 2:
		return rng_range(r, 8193, 70000);
	default:
		return rng_range(r, 70001, WRITE_MAX);
	}
}

static void set_desc(struct worker *w, struct fop *op)
{
	const struct model *m = &w->live;
	char a[128] = "", b[128] = "", p[112];
	unsigned t = w->tid;

	if (op->dir != NONE) {
		m_path(m, t, op->dir, p, sizeof(p));
		snprintf(a, sizeof(a), "%s/%s", p, name_show(op->name));
	}
	if (op->dir2 != NONE) {
		m_path(m, t, op->dir2, p, sizeof(p));
		snprintf(b, sizeof(b), "%s/%s", p, name_show(op->name2));
	}
	if (op->node != NONE) {
		m_some_path(m, t, op->node, p, sizeof(p));
		snprintf(a, sizeof(a), "%s (ino %" PRIu64 ")", p,
			 m->n[op->node].ino);
	}
	switch (op->kind) {
	case OP_CREATE:
	case OP_MKDIR:
	case OP_UNLINK:
	case OP_RMDIR:
		snprintf(op->desc, sizeof(op->desc), "%s %s%s", op_names[op->kind],
			 a, (op->flags & OPF_HOLD) ? " (hold)" : "");
		break;
	case OP_RENAME:
		snprintf(op->desc, sizeof(op->desc), "rename %s -> %s%s", a, b,
			 (op->flags & LFS_RENAME_EXCHANGE) ? " EXCHANGE" :
			 (op->flags & LFS_RENAME_NOREPLACE) ? " NOREPLACE" : "");
		break;
	case OP_LINK:
		snprintf(op->desc, sizeof(op->desc), "link %s -> %s", a, b);
		break;
	case OP_WRITE:
	case OP_PUNCH:
	case OP_ZERO:
	case OP_READ:
	case OP_ALLOC:
		snprintf(op->desc, sizeof(op->desc), "%s %s [%" PRIu64 ", +%"
			 PRIu64 ")%s%s", op_names[op->kind], a, op->off, op->len,
			 (op->kind == OP_ZERO || op->kind == OP_ALLOC) &&
			 (op->flags & FALLOC_FL_KEEP_SIZE) ? " KEEP_SIZE" : "",
			 op->kind == OP_WRITE && (op->flags & OPF_APPEND)
			 ? " APPEND" : "");
		break;
	case OP_COPY:
		m_some_path(m, t, op->node2, p, sizeof(p));
		snprintf(op->desc, sizeof(op->desc), "copy %.100s (ino %" PRIu64 ") [%"
			 PRIu64 ", +%" PRIu64 ") -> %.100s @%" PRIu64, p,
			 m->n[op->node2].ino, op->off2, op->len, a, op->off);
		break;
	case OP_TRUNCATE:
		snprintf(op->desc, sizeof(op->desc), "truncate %s to %" PRIu64 "%s",
			 a, op->off, (op->flags & OPF_OTRUNC) ? " (O_TRUNC)" : "");
		break;
	case OP_SETXATTR:
	case OP_RMXATTR:
		snprintf(op->desc, sizeof(op->desc), "%s %s %s%s%s (%" PRIu64
			 " bytes)", op_names[op->kind], a, xa_names[op->xa],
			 (op->flags & XATTR_CREATE) ? " CREATE" : "",
			 (op->flags & XATTR_REPLACE) ? " REPLACE" : "", op->len);
		break;
	default:
		snprintf(op->desc, sizeof(op->desc), "%s %s", op_names[op->kind], a);
		break;
	}
}

/* Picks the kind of the next operation and the inode it works on; what
 * needs a file when there is none makes one instead. */
static void plan_target(struct worker *w, struct fop *op)
{
	uint64_t *r = &w->rng;
	unsigned sum = 0, pick;

	for (unsigned k = 0; k < NOPKINDS; k++)
		sum += op_weight[k];
	pick = (unsigned)rng_below(r, sum);
	op->kind = 0;
	while (pick >= op_weight[op->kind])
		pick -= op_weight[op->kind++];
	op->dir = op->dir2 = op->node = op->node2 = NONE;
	op->lastchg = NONE;
	op->key = data_key(w->tid, w->ser, op->kind);

	switch (op->kind) {
	case OP_WRITE: case OP_TRUNCATE: case OP_PUNCH: case OP_ZERO:
	case OP_FSYNC: case OP_READ: case OP_ALLOC: case OP_COPY:
		op->node = pick_node(w, rng_chance(r, 1, 4) ? is_file
							     : is_named_file);
		if (op->kind == OP_COPY)
			op->node2 = pick_node(w, is_file);
		break;
	case OP_LINK:           /* now and then a directory or an orphan */
		op->node = pick_node(w, rng_chance(r, 1, 10) ? is_any
			   : rng_chance(r, 1, 10) ? is_orphan : is_named_file);
		break;
	case OP_HOLD:
		op->node = pick_node(w, is_named_file);
		break;
	case OP_FORGET:
		op->node = pick_node(w, is_held);
		break;
	case OP_SETXATTR: case OP_RMXATTR:
		op->node = pick_node(w, is_any);
		break;
	case OP_FSYNCDIR:
		op->node = pick_node(w, is_dir);
		break;
	default:
		return;
	}
	if (op->node == NONE)
		op->kind = OP_CREATE;
}

/* An offset for writing into a file of `size` bytes, and a length: inside
 * it, at its end (maybe as an append), past it (a hole), block-aligned. */
static void plan_write(struct worker *w, struct fop *op, uint64_t size)
{
	uint64_t *r = &w->rng, len = pick_len(r), off;

	switch (rng_below(r, 4)) {
	case 0:
		off = rng_below(r, size + 1);
		break;
	case 1:
		off = size;
		if (rng_chance(r, 1, 2))
			op->flags |= OPF_APPEND;
		break;
	case 2:
		off = size + rng_range(r, 1, 600u << 10);
		break;
	default:
		off = rng_below(r, size / 4096 + 1) * 4096;
		break;
	}
	if (off + len > FILE_SOFT_MAX) {
		op->flags &= ~OPF_APPEND;
		off = rng_below(r, (size < FILE_SOFT_MAX ? size : FILE_SOFT_MAX) + 1);
		if (len > FILE_SOFT_MAX - off)
			len = FILE_SOFT_MAX - off;
		if (!len)
			len = 1;
	}
	op->off = off;
	op->len = len;
}

/* A range for truncate, fallocate and copy_file_range on a file of
 * `size` bytes, kept below FILE_SOFT_MAX. */
static void plan_range(struct worker *w, struct fop *op, uint64_t size,
		       uint64_t past)
{
	uint64_t *r = &w->rng;

	op->off = rng_below(r, size + past);
	op->len = pick_len(r);
	if (op->off + op->len > FILE_SOFT_MAX)
		op->off = rng_below(r, FILE_SOFT_MAX - op->len);
}

static void plan_truncate(struct worker *w, struct fop *op, uint64_t size)
{
	uint64_t *r = &w->rng;

	switch (rng_below(r, 4)) {
	case 0:  op->off = rng_below(r, size + 1); break;
	case 1:  op->off = size + rng_range(r, 1, 500u << 10); break;
	case 2:  op->off = 0; break;
	default: op->off = rng_below(r, size / 4096 + 2) * 4096; break;
	}
	if (op->off > FILE_SOFT_MAX)
		op->off = rng_below(r, FILE_SOFT_MAX);
	if (!op->off && rng_chance(r, 1, 2))
		op->flags |= OPF_OTRUNC;
}

static void plan_xattr(struct worker *w, struct fop *op)
{
	uint64_t *r = &w->rng;
	unsigned c = (unsigned)rng_below(r, 20);

	op->xa = (uint8_t)rng_below(r, NXATTR);
	if (op->kind == OP_RMXATTR)
		return;
	switch (rng_below(r, 6)) {
	case 0:  op->flags = XATTR_CREATE; break;
	case 1:  op->flags = XATTR_REPLACE; break;
	default: break;
	}
	op->len = c < 16 ? rng_below(r, 129) : c < 19 ? rng_range(r, 129, 2000)
						    : rng_range(r, 2001, XATTR_BIG);
}

/* Names for the calls that take them: mostly free ones to make, used
 * ones to remove or rename. */
static void plan_names(struct worker *w, struct fop *op)
{
	uint64_t *r = &w->rng;

	switch (op->kind) {
	case OP_CREATE:
	case OP_MKDIR:
		op->dir = pick_node(w, op->kind == OP_MKDIR ? is_shallow_dir
							    : is_dir);
		op->name = pick_name(w, op->dir, PREFER_FREE);
		if (op->kind == OP_CREATE && rng_chance(r, 1, 5))
			op->flags |= OPF_HOLD;
		break;
	case OP_RENAME:
		op->dir = pick_node(w, is_dir);
		op->name = pick_name(w, op->dir, PREFER_USED);
		op->dir2 = rng_chance(r, 1, 2) ? op->dir : pick_node(w, is_dir);
		op->name2 = pick_name(w, op->dir2, rng_chance(r, 1, 2)
				      ? PREFER_USED : PREFER_FREE);
		switch (rng_below(r, 5)) {
		case 0:  op->flags = LFS_RENAME_NOREPLACE; break;
		case 1:  op->flags = LFS_RENAME_EXCHANGE; break;
		default: break;
		}
		break;
	case OP_LINK:
		op->dir2 = pick_node(w, is_dir);
		op->name2 = pick_name(w, op->dir2, PREFER_FREE);
		break;
	case OP_UNLINK:
	case OP_RMDIR:
		op->dir = pick_node(w, is_dir);
		op->name = pick_name(w, op->dir, PREFER_USED);
		break;
	default:
		break;
	}
}

/* Picks the next operation and its arguments from the live model. */
static void plan_op(struct worker *w, struct fop *op)
{
	uint64_t *r = &w->rng;
	const struct model *m = &w->live;

	plan_target(w, op);
	plan_names(w, op);

	const struct mnode *f = op->node != NONE ? &m->n[op->node] : NULL;

	switch (op->kind) {
	case OP_WRITE:
		plan_write(w, op, f->size);
		break;
	case OP_TRUNCATE:
		plan_truncate(w, op, f->size);
		break;
	case OP_PUNCH:
	case OP_ZERO:
	case OP_ALLOC:
		plan_range(w, op, f->size, 70000);
		if (op->kind == OP_PUNCH || rng_chance(r, 1, 2))
			op->flags = FALLOC_FL_KEEP_SIZE;
		break;
	case OP_COPY:
		op->off2 = rng_below(r, m->n[op->node2].size + 1000);
		plan_range(w, op, f->size, 20000);
		break;
	case OP_SETXATTR:
	case OP_RMXATTR:
		plan_xattr(w, op);
		break;
	case OP_FSYNC:
		op->flags = rng_chance(r, 1, 2);          /* datasync */
		op->lastchg = f->last_op;
		break;
	case OP_FSYNCDIR:
		op->lastchg = f->last_op;
		break;
	case OP_READ:
		op->off = rng_below(r, f->size + 4096);
		op->len = pick_len(r);
		break;
	default:
		break;
	}
	set_desc(w, op);
}

/* ---- workers ------------------------------------------------------------ */

static void werr(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void werr(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->err[0])
		return;
	size_t n = (size_t)snprintf(w->err, sizeof(w->err), "thread %u op #%zu: ",
				    w->tid, w->nops ? w->nops - 1 : 0);

	va_start(ap, fmt);
	vsnprintf(w->err + n, sizeof(w->err) - n, fmt, ap);
	va_end(ap);
}

static uint64_t ticket(struct iter *it)
{
	return atomic_fetch_add(&it->ticket, 1);
}

/* Compares a read from the filesystem with the model; false (and werr)
 * on a difference. */
static bool check_read(struct worker *w, const struct mnode *f, uint64_t off,
		       const uint8_t *got, size_t n, const char *what)
{
	size_t want = off >= f->size ? 0 : (size_t)(f->size - off);

	if (want > n)
		want = n;
	for (size_t i = 0; i < want; i++)
		if (got[i] != f->data[off + i]) {
			werr(w, "%s: byte %" PRIu64 " is %#x, the model says %#x",
			     what, off + i, got[i], f->data[off + i]);
			return false;
		}
	return true;
}

/* The calls of the operations on names; fills *st where they return
 * attributes.  Returns 0 or -errno. */
static int64_t call_name_op(struct worker *w, struct fop *op, struct stat *st)
{
	struct iter *it = w->it;
	lfs *fs = it->fs;
	const struct model *m = &w->live;
	const struct mnode *d = op->dir != NONE ? &m->n[op->dir] : NULL;
	const struct mnode *d2 = op->dir2 != NONE ? &m->n[op->dir2] : NULL;
	const struct mnode *x = op->node != NONE ? &m->n[op->node] : NULL;
	int64_t rc = -EINVAL;

	switch (op->kind) {
	case OP_CREATE:
		rc = lfs_create(fs, &it->cred, d->ino, g_names[op->name], 0644,
				O_CREAT | O_EXCL | O_RDWR, st);
		if (!rc) {
			op->ino = st->st_ino;
			if (!(op->flags & OPF_HOLD))
				lfs_forget(fs, st->st_ino, 1);
		}
		break;
	case OP_MKDIR:
		rc = lfs_mkdir(fs, &it->cred, d->ino, g_names[op->name], 0755, st);
		if (!rc) {
			op->ino = st->st_ino;
			lfs_forget(fs, st->st_ino, 1);
		}
		break;
	case OP_RENAME:
		rc = lfs_rename(fs, d->ino, g_names[op->name], d2->ino,
				g_names[op->name2], op->flags);
		break;
	case OP_LINK:
		rc = lfs_link(fs, x->ino, d2->ino, g_names[op->name2], st);
		if (!rc)
			lfs_forget(fs, x->ino, 1);
		break;
	case OP_UNLINK:
		rc = lfs_unlink(fs, d->ino, g_names[op->name]);
		break;
	case OP_RMDIR:
		rc = lfs_rmdir(fs, d->ino, g_names[op->name]);
		break;
	default:
		break;
	}
	return rc;
}

/* The call (or calls) that make up op, between its two tickets; fills
 * *st where the call returns attributes.  Returns the result as 0 or
 * -errno (a byte count that is the expected one becomes 0). */
static int64_t call_op(struct worker *w, struct fop *op, struct stat *st)
{
	struct iter *it = w->it;
	lfs *fs = it->fs;
	const struct model *m = &w->live;
	const struct mnode *x = op->node != NONE ? &m->n[op->node] : NULL;
	int64_t rc = 0;

	switch (op->kind) {
	case OP_WRITE:
		rc = lfs_write(fs, x->ino, w->buf, op->len, (off_t)op->off,
			       (op->flags & OPF_APPEND) ? LFS_WRITE_APPEND : 0);
		if (rc == (int64_t)op->len)
			rc = 0;
		else if (rc >= 0)
			rc = 1000000 + rc;        /* a short write: never expected */
		break;
	case OP_TRUNCATE:
		st->st_size = (off_t)op->off;
		if (op->flags & OPF_OTRUNC)
			rc = lfs_open(fs, &it->cred, x->ino, O_RDWR | O_TRUNC);
		else
			rc = lfs_setattr(fs, &it->cred, x->ino, st, LFS_SET_SIZE,
					 NULL);
		break;
	case OP_ALLOC:
		rc = lfs_fallocate(fs, x->ino, (int)op->flags, (off_t)op->off,
				   (off_t)op->len);
		break;
	case OP_COPY: {
		uint64_t want = copy_len(&m->n[op->node2], op->off2, op->len);

		rc = lfs_copy_file_range(fs, m->n[op->node2].ino, (off_t)op->off2,
					 x->ino, (off_t)op->off, op->len);
		if (rc == (int64_t)want)
			rc = 0;
		else if (rc >= 0)
			rc = 1000000 + rc;        /* a short copy: never expected */
		break;
	}
	case OP_PUNCH:
		rc = lfs_fallocate(fs, x->ino, FALLOC_FL_PUNCH_HOLE |
				   FALLOC_FL_KEEP_SIZE, (off_t)op->off,
				   (off_t)op->len);
		break;
	case OP_ZERO:
		rc = lfs_fallocate(fs, x->ino, FALLOC_FL_ZERO_RANGE |
				   (int)(op->flags & FALLOC_FL_KEEP_SIZE),
				   (off_t)op->off, (off_t)op->len);
		break;
	case OP_SETXATTR:
		rc = lfs_setxattr(fs, x->ino, xa_names[op->xa], w->buf, op->len,
				  (int)op->flags);
		break;
	case OP_RMXATTR:
		rc = lfs_removexattr(fs, x->ino, xa_names[op->xa]);
		break;
	case OP_FSYNC:
		rc = lfs_fsync(fs, x->ino, op->flags);
		break;
	case OP_FSYNCDIR:
		rc = lfs_fsyncdir(fs, x->ino);
		break;
	case OP_SYNC:
		rc = lfs_sync(fs);
		break;
	case OP_HOLD:
		lfs_ref(fs, x->ino, 1);
		break;
	case OP_FORGET:
		lfs_forget(fs, x->ino, 1);
		break;
	case OP_READ:
		rc = lfs_getattr(fs, x->ino, st);
		if (!rc)
			rc = lfs_read(fs, x->ino, w->buf, op->len, (off_t)op->off);
		break;
	default:
		return call_name_op(w, op, st);
	}
	return rc;
}

/* Checks what the calls returned besides their result; returns the
 * result a read has (0 once checked). */
static int64_t check_returned(struct worker *w, const struct fop *op,
			      const struct stat *st, int64_t rc)
{
	const struct model *m = &w->live;
	const struct mnode *x = op->node != NONE ? &m->n[op->node] : NULL;

	if (op->kind == OP_CREATE && !rc && (st->st_nlink != 1 ||
	    st->st_size != 0 || st->st_mode != (S_IFREG | 0644)))
		werr(w, "%s: created with nlink %ju size %jd mode %o", op->desc,
		     (uintmax_t)st->st_nlink, (intmax_t)st->st_size, st->st_mode);
	if ((op->kind == OP_CREATE || op->kind == OP_MKDIR) && !rc) {
		for (int32_t i = 0; i < m->nn; i++)
			if (m->n[i].ino == op->ino)
				werr(w, "%s: new inode %" PRIu64 " was in use "
				     "already (inode numbers are never reused)",
				     op->desc, op->ino);
	}
	if (op->kind == OP_LINK && !rc && st->st_nlink != x->nlink + 1)
		werr(w, "%s: nlink %ju after link, the model says %u", op->desc,
		     (uintmax_t)st->st_nlink, x->nlink + 1);
	if (op->kind == OP_READ && rc >= 0) {
		uint64_t want = op->off >= x->size ? 0
			: (x->size - op->off < op->len ? x->size - op->off : op->len);

		if ((uint64_t)st->st_size != x->size || st->st_nlink != x->nlink)
			werr(w, "%s: getattr says size %jd nlink %ju, the model "
			     "%" PRIu64 " and %u", op->desc, (intmax_t)st->st_size,
			     (uintmax_t)st->st_nlink, x->size, x->nlink);
		else if ((uint64_t)rc != want)
			werr(w, "%s: read returned %" PRId64 ", want %" PRIu64,
			     op->desc, rc, want);
		else
			check_read(w, x, op->off, w->buf, (size_t)rc, op->desc);
		rc = 0;
	}
	return rc;
}

/* Runs op against the filesystem between its two tickets; returns its
 * result (0 or -errno). */
static int64_t execute(struct worker *w, struct fop *op)
{
	struct stat st;
	int64_t rc;

	memset(&st, 0, sizeof(st));
	if (op->kind == OP_WRITE)
		data_fill(w->buf, op->key, op->off, op->len);
	if (op->kind == OP_SETXATTR)
		data_fill(w->buf, op->key, 0, op->len);
	op->start = ticket(w->it);
	rc = call_op(w, op, &st);
	op->end = ticket(w->it);
	return check_returned(w, op, &st, rc);
}

static bool rc_wanted(const struct fop *op, int64_t rc)
{
	for (unsigned i = 0; i < op->nwant; i++)
		if (rc == op->want[i])
			return true;
	return false;
}

static void want_str(const struct fop *op, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = 0;
	for (unsigned i = 0; i < op->nwant && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " or " : "",
				      op->want[i] ? strerror(-op->want[i]) : "0");
}

static struct fop *op_push(struct worker *w)
{
	if (w->nops == w->capops) {
		w->capops = w->capops ? 2 * w->capops : 128;
		w->ops = xrealloc(w->ops, w->capops * sizeof(*w->ops));
	}
	struct fop *op = &w->ops[w->nops++];

	memset(op, 0, sizeof(*op));
	return op;
}

/* One operation; returns false to stop the worker. */
static bool worker_op(struct worker *w)
{
	struct iter *it = w->it;
	struct fop *op = op_push(w);
	int32_t idx = (int32_t)(w->nops - 1);

	w->ser++;
	op->tid = (uint8_t)w->tid;
	plan_op(w, op);
	predict(&w->live, op);
	op->rc = execute(w, op);
	if (crashrun_verbose())
		fprintf(stderr, "  t%u #%d [%" PRIu64 ",%" PRIu64 "] %s = %" PRId64
			"\n", w->tid, idx, op->start, op->end, op->desc, op->rc);
	if (w->err[0])
		return false;
	if (!rc_wanted(op, op->rc)) {
		char want[96];

		if (it->errors && op->rc < 0 && op->rc > -4096) {
			op->status = ST_MAYBE;
			w->io_error = true;
			return false;
		}
		want_str(op, want, sizeof(want));
		werr(w, "%s returned %" PRId64 " (%s), the model expects %s",
		     op->desc, op->rc, op->rc < 0 ? strerror((int)-op->rc) : "ok",
		     want);
		return false;
	}
	if (op->rc == 0)
		apply(&w->live, op, idx);
	if (op->rc == 0 && (op->kind == OP_FSYNC || op->kind == OP_FSYNCDIR ||
			    op->kind == OP_SYNC))
		op->durable = !faultio_frozen(it->f);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct iter *it = w->it;
	int after_freeze = -1;

	pthread_barrier_wait(&it->go);
	for (unsigned i = 0; i < w->nplan; i++) {
		if (!worker_op(w))
			break;
		if (it->when == WHEN_MOMENT && w->tid == it->freeze_tid &&
		    i == it->freeze_op)
			faultio_freeze_after(it->f, it->freeze_n);
		if (crashrun_stop_after_freeze(it->f, &w->rng, &after_freeze))
			break;
	}
	return NULL;
}

/* ---- the recovered filesystem ------------------------------------------- */

struct rxattr {
	bool     set;
	uint32_t len;
	uint8_t *v;
};

struct rnode {
	uint64_t ino;
	struct stat st;
	uint64_t parent;              /* directories: what ".." names */
	uint32_t names;               /* entries naming it */
	uint64_t ent[NNAMES];         /* workers' directories: child or 0 */
	uint32_t nent;                /* entries */
	uint8_t *data;                /* regular files */
	struct rxattr xa[NXATTR];
	uint64_t extent_bytes;        /* from the extents tree */
};

struct rstate {
	struct rnode *n;
	size_t nn, cap;
};

static struct rnode *rs_find(struct rstate *rs, uint64_t ino)
{
	for (size_t i = 0; i < rs->nn; i++)
		if (rs->n[i].ino == ino)
			return &rs->n[i];
	return NULL;
}

static struct rnode *rs_add(struct rstate *rs, uint64_t ino)
{
	if (rs->nn == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 64;
		rs->n = xrealloc(rs->n, rs->cap * sizeof(*rs->n));
	}
	struct rnode *n = &rs->n[rs->nn++];

	memset(n, 0, sizeof(*n));
	n->ino = ino;
	return n;
}

static void rs_free(struct rstate *rs)
{
	for (size_t i = 0; i < rs->nn; i++) {
		free(rs->n[i].data);
		for (unsigned k = 0; k < NXATTR; k++)
			free(rs->n[i].xa[k].v);
	}
	free(rs->n);
	memset(rs, 0, sizeof(*rs));
}

struct dent {
	char     name[LFS_NAME_MAX + 1];
	uint64_t ino;
	unsigned type;
	off_t    next;
};

/* readdir collector: takes `room` entries per call, honouring groups. */
struct rdcol {
	struct dent *v;
	size_t n, cap, room, took, mark, first;
	bool full, bad_start;
};

static int rd_fn(void *arg, const char *name, size_t namelen, uint64_t ino,
		 unsigned type, off_t next, bool group_start)
{
	struct rdcol *c = arg;

	if (c->n == c->first && !group_start)
		c->bad_start = true;
	if (group_start)
		c->mark = c->n;
	if (c->took == c->room) {
		c->n = c->mark;
		c->full = true;
		return 1;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 32;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	struct dent *e = &c->v[c->n++];

	if (namelen > LFS_NAME_MAX)
		namelen = LFS_NAME_MAX;
	memcpy(e->name, name, namelen);
	e->name[namelen] = 0;
	e->ino = ino;
	e->type = type;
	e->next = next;
	c->took++;
	return 0;
}

/* Lists directory ino a few entries per call, resuming at the offsets it
 * hands out; checks "." and ".." come first.  *n gets the entries after
 * them. */
static struct dent *read_dir(struct iter *it, uint64_t ino, uint64_t parent,
			     const char *path, size_t *n)
{
	struct rdcol c = { 0 };
	off_t off = 0;
	size_t room = 1 + (size_t)rng_below(&it->rng, 6);

	for (unsigned calls = 0;; calls++) {
		if (calls > 100000)
			iter_fail("%s: readdir does not come to an end", path);
		c.room = room;
		c.took = 0;
		c.full = false;
		c.first = c.mark = c.n;
		size_t before = c.n;
		int rc = lfs_readdir(it->fs, ino, off, rd_fn, &c);

		if (rc)
			iter_fail("%s: lfs_readdir at offset %jd: %d (%s)",
				  path, (intmax_t)off, rc, strerror(-rc));
		if (c.bad_start)
			iter_fail("%s: readdir resumed at offset %jd inside a "
				  "group of entries", path, (intmax_t)off);
		if (!c.full)
			break;
		if (c.n == before) {
			room *= 2;          /* a group bigger than the room */
			continue;
		}
		off = c.v[c.n - 1].next;
	}
	if (c.n < 2 || strcmp(c.v[0].name, ".") || c.v[0].ino != ino ||
	    strcmp(c.v[1].name, "..") || c.v[1].ino != parent)
		iter_fail("%s: readdir does not start with \".\" (inode %"
			  PRIu64 ") and \"..\" (inode %" PRIu64 ")", path, ino,
			  parent);
	for (size_t i = 2; i < c.n; i++)
		for (size_t j = 2; j < i; j++)
			if (!strcmp(c.v[i].name, c.v[j].name))
				iter_fail("%s: readdir lists '%s' twice", path,
					  c.v[i].name);
	*n = c.n - 2;
	memmove(c.v, c.v + 2, *n * sizeof(*c.v));
	return c.v;
}

/* lfs_lookup, dropping the reference it takes. */
static int lookup(struct iter *it, uint64_t dir, const char *name,
		  struct stat *st)
{
	int rc = lfs_lookup(it->fs, dir, name, st);

	if (!rc)
		lfs_forget(it->fs, st->st_ino, 1);
	return rc;
}

static void read_xattrs(struct iter *it, struct rnode *rn, const char *path)
{
	char list[1024];
	ssize_t n = lfs_listxattr(it->fs, rn->ino, NULL, 0);

	if (n < 0 || n > (ssize_t)sizeof(list))
		iter_fail("%s: listxattr size: %zd", path, n);
	ssize_t m = lfs_listxattr(it->fs, rn->ino, list, sizeof(list));

	if (m != n)
		iter_fail("%s: listxattr returned %zd, then %zd", path, n, m);
	for (ssize_t at = 0; at < m;) {
		size_t len = strnlen(list + at, (size_t)(m - at));
		int k = -1;

		if (at + (ssize_t)len >= m)
			iter_fail("%s: listxattr: unterminated name", path);
		for (unsigned i = 0; i < NXATTR; i++)
			if (!strcmp(list + at, xa_names[i]))
				k = (int)i;
		if (k < 0)
			iter_fail("%s: listxattr names '%s', never set", path,
				  list + at);
		if (rn->xa[k].set)
			iter_fail("%s: listxattr names '%s' twice", path,
				  list + at);
		ssize_t vl = lfs_getxattr(it->fs, rn->ino, xa_names[k], NULL, 0);

		if (vl < 0 || vl > (ssize_t)XATTR_BIG)
			iter_fail("%s: getxattr(%s) size: %zd", path,
				  xa_names[k], vl);
		rn->xa[k].set = true;
		rn->xa[k].len = (uint32_t)vl;
		rn->xa[k].v = xrealloc(NULL, (size_t)vl);
		ssize_t g = lfs_getxattr(it->fs, rn->ino, xa_names[k], rn->xa[k].v,
					 (size_t)vl ? (size_t)vl : 1);

		if (g != vl)
			iter_fail("%s: getxattr(%s) returned %zd, then %zd",
				  path, xa_names[k], vl, g);
		at += (ssize_t)len + 1;
	}
	for (unsigned i = 0; i < NXATTR; i++) {
		uint8_t b;

		if (!rn->xa[i].set &&
		    lfs_getxattr(it->fs, rn->ino, xa_names[i], &b, 1) != -ENODATA)
			iter_fail("%s: getxattr(%s) finds an attribute "
				  "listxattr does not list", path, xa_names[i]);
	}
}

static void read_file(struct iter *it, struct rnode *rn, const char *path)
{
	uint64_t size = (uint64_t)rn->st.st_size;

	if (size > 64u << 20)
		iter_fail("%s: file of %" PRIu64 " bytes (the workload "
			  "keeps them below %u)", path, size, FILE_SOFT_MAX * 2);
	rn->data = xrealloc(NULL, (size_t)size);
	for (uint64_t off = 0; off < size;) {
		size_t want = size - off < (1u << 20) ? (size_t)(size - off)
						      : (1u << 20);
		ssize_t n = lfs_read(it->fs, rn->ino, rn->data + off, want,
				     (off_t)off);

		if (n != (ssize_t)want)
			iter_fail("%s: lfs_read(%zu at %" PRIu64 ") of a "
				  "%" PRIu64 "-byte file returned %zd", path,
				  want, off, size, n);
		off += want;
	}
	uint8_t b;
	ssize_t n = lfs_read(it->fs, rn->ino, &b, 1, (off_t)size);

	if (n != 0)
		iter_fail("%s: lfs_read at EOF returned %zd", path, n);
	g_st.files++;
	g_st.bytes_checked += size;
}

static int name_index(const char *name)
{
	for (unsigned i = 0; i < NNAMES; i++)
		if (!strcmp(name, g_names[i]))
			return (int)i;
	return -1;
}

/* Index of an entry's name in `names` (NULL: the workers' pool); fails
 * on a name no operation made. */
static int entry_name(const struct dent *e, const char *path,
		      const char *const *names, unsigned nnames)
{
	int k = -1;

	if (names) {
		for (unsigned j = 0; j < nnames; j++)
			if (!strcmp(e->name, names[j]))
				k = (int)j;
	} else {
		k = name_index(e->name);
	}
	if (k < 0)
		iter_fail("%s: readdir lists '%.40s', a name no operation "
			  "made", path, e->name);
	return k;
}

static void walk_dir(struct iter *it, struct rstate *rs, uint64_t ino,
		     uint64_t parent, const char *path,
		     const char *const *names, unsigned nnames);

/* One entry e of directory ino: lookup agrees with readdir; a directory
 * is walked, a file read (once, however many names it has).  k: its
 * index in the workers' pool, or -1.  Returns 1 for a subdirectory. */
static unsigned walk_entry(struct iter *it, struct rstate *rs, uint64_t ino,
			   const char *path, const struct dent *e, int k)
{
	char cpath[512];
	struct stat st;
	int rc;

	snprintf(cpath, sizeof(cpath), "%s/%s", ino == LFS_ROOT_INO ? "" : path,
		 e->name);
	rc = lookup(it, ino, e->name, &st);
	if (rc)
		iter_fail("%s: readdir lists it, lookup says %d (%s)", cpath,
			  rc, strerror(-rc));
	if (st.st_ino != e->ino)
		iter_fail("%s: readdir says inode %" PRIu64 ", lookup %ju",
			  cpath, e->ino, (uintmax_t)st.st_ino);
	if (e->type != ((st.st_mode & S_IFMT) >> 12))
		iter_fail("%s: readdir says type %u, the inode has mode %o",
			  cpath, e->type, st.st_mode);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		iter_fail("%s: mode %o: no operation makes one", cpath,
			  st.st_mode);
	if (k >= 0)
		rs_find(rs, ino)->ent[k] = e->ino;
	if (S_ISDIR(st.st_mode)) {
		walk_dir(it, rs, e->ino, ino, cpath, NULL, 0);
		return 1;
	}
	struct rnode *fn = rs_find(rs, e->ino);

	if (fn) {
		if (S_ISDIR(fn->st.st_mode))
			iter_fail("%s: names directory %" PRIu64 " that has "
				  "another name", cpath, e->ino);
		fn->names++;
		return 0;
	}
	fn = rs_add(rs, e->ino);
	fn->st = st;
	fn->names = 1;
	read_file(it, fn, cpath);
	read_xattrs(it, fn, cpath);
	return 0;
}

/*
 * Reads directory ino (whose parent is `parent`) and everything beneath
 * it into rs, checking it on the way: readdir agrees with lookup, every
 * entry resolves to an inode of the type the entry says, ".." is the
 * parent, nlink is 2 + subdirectories and the size is the entry count.
 * `names` (NULL: the workers' pool) are the names it may hold.
 */
static void walk_dir(struct iter *it, struct rstate *rs, uint64_t ino,
		     uint64_t parent, const char *path,
		     const char *const *names, unsigned nnames)
{
	struct rnode *rn = rs_find(rs, ino);
	struct stat st;
	size_t n;

	if (rn)
		iter_fail("%s: directory inode %" PRIu64 " is reachable by "
			  "two paths", path, ino);
	rn = rs_add(rs, ino);
	int rc = lfs_getattr(it->fs, ino, &rn->st);

	if (rc)
		iter_fail("%s: getattr: %d", path, rc);
	if (!S_ISDIR(rn->st.st_mode))
		iter_fail("%s: not a directory (mode %o)", path,
			  rn->st.st_mode);
	rn->parent = parent;
	rn->names = 1;
	if ((rc = lookup(it, ino, ".", &st)) || st.st_ino != ino)
		iter_fail("%s: lookup(\".\") = %d, inode %ju", path, rc,
			  (uintmax_t)st.st_ino);
	if ((rc = lookup(it, ino, "..", &st)) || st.st_ino != parent)
		iter_fail("%s: lookup(\"..\") = %d, inode %ju, not the "
			  "parent %" PRIu64, path, rc, (uintmax_t)st.st_ino,
			  parent);

	struct dent *e = read_dir(it, ino, parent, path, &n);
	unsigned subdirs = 0;
	bool seen[NNAMES] = { false };

	rn = rs_find(rs, ino);
	rn->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		int k = entry_name(&e[i], path, names, nnames);

		seen[k] = true;
		subdirs += walk_entry(it, rs, ino, path, &e[i], names ? -1 : k);
	}
	/* names that readdir did not list must not resolve */
	for (unsigned j = 0; j < (names ? nnames : NNAMES); j++) {
		const char *nm = names ? names[j] : g_names[j];

		if (!seen[j] && (rc = lookup(it, ino, nm, &st)) != -ENOENT)
			iter_fail("%s: lookup('%.40s') = %d (inode %ju), but "
				  "readdir does not list it", path, nm, rc,
				  rc ? 0 : (uintmax_t)st.st_ino);
	}
	free(e);
	rn = rs_find(rs, ino);
	if (rn->st.st_nlink != 2 + subdirs)
		iter_fail("%s: nlink %ju, but it has %u subdirectories (want "
			  "%u)", path, (uintmax_t)rn->st.st_nlink, subdirs,
			  2 + subdirs);
	if ((uint64_t)rn->st.st_size != n)
		iter_fail("%s: size %jd, but it has %zu entries (a "
			  "directory's size is its entry count)", path,
			  (intmax_t)rn->st.st_size, n);
	read_xattrs(it, rn, path);
}

/* Reads the whole filesystem and checks link counts. */
static void read_fs(struct iter *it, struct rstate *rs)
{
	static const char *const root_names[] = { "lost+found", "t0", "t1", "t2" };

	memset(rs, 0, sizeof(*rs));
	walk_dir(it, rs, LFS_ROOT_INO, LFS_ROOT_INO, "/", root_names, 4);
	struct rnode *root = rs_find(rs, LFS_ROOT_INO);

	if (root->nent != 4)
		iter_fail("/: %u entries, want lost+found t0 t1 t2",
			  root->nent);
	/* walk_dir went into every subdirectory with the workers' names;
	 * lost+found must have stayed empty */
	struct stat st;

	if (lookup(it, LFS_ROOT_INO, "lost+found", &st) ||
	    st.st_ino != it->info.lost_found_ino)
		iter_fail("/lost+found is not inode %" PRIu64,
			  it->info.lost_found_ino);
	if (rs_find(rs, st.st_ino)->nent)
		iter_fail("/lost+found is not empty");
	for (unsigned t = 0; t < NTHREADS; t++) {
		char nm[4] = { 't', (char)('0' + t), 0, 0 };

		if (lookup(it, LFS_ROOT_INO, nm, &st) || st.st_ino != it->tino[t])
			iter_fail("/%s is not inode %" PRIu64, nm, it->tino[t]);
	}
	for (size_t i = 0; i < rs->nn; i++) {
		const struct rnode *n = &rs->n[i];

		if (!S_ISDIR(n->st.st_mode) && n->st.st_nlink != n->names)
			iter_fail("inode %" PRIu64 ": nlink %ju, but %u "
				  "entries name it", n->ino,
				  (uintmax_t)n->st.st_nlink, n->names);
	}
}

/* ---- checks through the kv API ------------------------------------------ */

static lkv_tree *kv_tree(lkv_store *s, const char *name)
{
	lkv_tree *t;
	int rc = lkv_tree_open(s, name, &t);

	if (rc)
		iter_fail("lkv_tree_open(%s): %d", name, rc);
	return t;
}

static uint64_t be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Counts the keys of tree `name` (one iterator). */
static uint64_t kv_count(lkv_tree *t)
{
	lkv_iter *i;
	const void *k;
	size_t kl, vl;
	uint64_t n = 0;
	int rc = lkv_iter_open(t, NULL, 0, NULL, 0, 0, &i);

	if (rc)
		iter_fail("lkv_iter_open(%s): %d", lkv_tree_name(t), rc);
	while ((rc = lkv_iter_next_len(i, &k, &kl, &vl)) == 1)
		n++;
	lkv_iter_close(i);
	if (rc < 0)
		iter_fail("lkv_iter_next(%s): %d", lkv_tree_name(t), rc);
	return n;
}

/* Before mounting: the image opened read only with the kv API.  Returns
 * how many orphan records the cut left; the open must write nothing. */
static uint64_t image_orphans(faultio *img)
{
	struct lkv_options o;
	lkv_store *s;
	uint64_t before = faultio_op_count(img);

	lkv_options_default(&o);
	o.flags = LKV_READONLY;
	o.io = faultio_io(img);
	o.log = crashrun_log;
	int rc = lkv_open(STORE_DIR, &o, &s);

	if (rc)
		iter_fail("read-only lkv_open of the crash image: %d (%s)",
			  rc, strerror(-rc));
	uint64_t n = kv_count(kv_tree(s, "orphans"));

	rc = lkv_close(s);
	if (rc)
		iter_fail("lkv_close of the read-only store: %d", rc);
	if (faultio_op_count(img) != before)
		iter_fail("a read-only open of the image made %" PRIu64
			  " mutating calls", faultio_op_count(img) - before);
	return n;
}

/* Opens an iterator over the whole of tree `name` of the mounted store. */
static lkv_iter *kv_scan(struct iter *it, const char *name)
{
	lkv_iter *i;
	int rc = lkv_iter_open(kv_tree(lfs_store(it->fs), name), NULL, 0,
			       NULL, 0, 0, &i);

	if (rc)
		iter_fail("lkv_iter_open(%s): %d", name, rc);
	return i;
}

/* Every inode record is of an inode the walk reached, and the walk
 * reached no inode without one; the allocator is above them all. */
static void check_inodes_tree(struct iter *it, struct rstate *rs)
{
	lkv_iter *i = kv_scan(it, "inodes");
	const void *k;
	size_t kl, vl;
	uint64_t n = 0, max_ino = 0;
	struct lfs_info info;
	int rc;

	while ((rc = lkv_iter_next_len(i, &k, &kl, &vl)) == 1) {
		uint64_t ino = kl == 8 ? be64(k) : 0;

		if (kl != 8 || !rs_find(rs, ino)) {
			lkv_iter_close(i);
			iter_fail("inode %" PRIu64 " (key of %zu bytes) has a "
				  "record but no entry names it", ino, kl);
		}
		max_ino = ino > max_ino ? ino : max_ino;
		n++;
	}
	lkv_iter_close(i);
	if (rc < 0 || n != rs->nn)
		iter_fail("the inodes tree holds %" PRIu64 " records, the "
			  "walk found %zu inodes (rc %d)", n, rs->nn, rc);
	lfs_get_info(it->fs, &info);
	if (info.next_ino <= max_ino)
		iter_fail("the allocator's next inode %" PRIu64 " is not "
			  "above inode %" PRIu64, info.next_ino, max_ino);
}

/* Every entry is in a directory the walk listed, as many as it listed. */
static void check_dirents_tree(struct iter *it, struct rstate *rs)
{
	lkv_iter *i = kv_scan(it, "dirents");
	const void *k;
	size_t kl, vl;
	uint64_t n = 0, listed = 0;
	int rc;

	while ((rc = lkv_iter_next_len(i, &k, &kl, &vl)) == 1) {
		struct rnode *p = kl > 16 ? rs_find(rs, be64(k)) : NULL;

		if (!p || !S_ISDIR(p->st.st_mode)) {
			lkv_iter_close(i);
			iter_fail("an entry of %zu key bytes in directory %"
				  PRIu64 ", which no walk reached", kl,
				  kl >= 8 ? be64(k) : 0);
		}
		n++;
	}
	lkv_iter_close(i);
	for (size_t j = 0; j < rs->nn; j++)
		listed += rs->n[j].nent;
	if (rc < 0 || n != listed)
		iter_fail("the dirents tree holds %" PRIu64 " entries, "
			  "readdir listed %" PRIu64 " (rc %d)", n, listed, rc);
}

/* A block's sub-block writes (fs/patch.c: its key and 'p') sit right
 * after that block, which is a blob; they add nothing to st_blocks. */
static void check_patch_key(struct iter *it, lkv_iter *i, const uint8_t *k,
			    const uint8_t *last, size_t last_len)
{
	if (last && !memcmp(k, last, 16) && last_len >= it->info.blob_threshold)
		return;
	lkv_iter_close(i);
	iter_fail("sub-block writes of inode %" PRIu64 " block %" PRIu64
		  " beside no blob block", be64(k), be64(k + 8));
}

/* Every block is of a file the walk reached, holds 1..block_size bytes,
 * none at or past the file's size, and st_blocks counts what they hold. */
static void check_extents_tree(struct iter *it, struct rstate *rs)
{
	lkv_iter *i = kv_scan(it, "extents");
	const void *k;
	size_t kl, vl, last_len = 0;
	uint64_t bs = it->info.block_size;
	uint8_t last[16];
	bool have_last = false;
	int rc;

	while ((rc = lkv_iter_next_len(i, &k, &kl, &vl)) == 1) {
		if (kl == 17 && ((const uint8_t *)k)[16] == 'p') {
			check_patch_key(it, i, k, have_last ? last : NULL, last_len);
			continue;
		}
		struct rnode *f = kl == 16 ? rs_find(rs, be64(k)) : NULL;
		uint64_t block = kl == 16 ? be64((const uint8_t *)k + 8) : 0;

		if (!f || !S_ISREG(f->st.st_mode) || !vl || vl > bs ||
		    block * bs + vl > (uint64_t)f->st.st_size) {
			lkv_iter_close(i);
			iter_fail("extent key of %zu bytes: inode %" PRIu64
				  " block %" PRIu64 " holds %zu bytes: %s", kl,
				  kl >= 8 ? be64(k) : 0, block, vl,
				  !f ? "no entry names the inode"
				  : !S_ISREG(f->st.st_mode) ? "not a file"
				  : "past the file's size (or empty, or over a "
				    "block)");
		}
		f->extent_bytes += vl;
		memcpy(last, k, 16);
		last_len = vl;
		have_last = true;
	}
	lkv_iter_close(i);
	if (rc < 0)
		iter_fail("lkv_iter_next(extents): %d", rc);
	for (size_t j = 0; j < rs->nn; j++) {
		const struct rnode *f = &rs->n[j];

		if (S_ISREG(f->st.st_mode) &&
		    (uint64_t)f->st.st_blocks != (f->extent_bytes + 511) / 512)
			iter_fail("inode %" PRIu64 ": st_blocks %jd, but its "
				  "blocks store %" PRIu64 " bytes", f->ino,
				  (intmax_t)f->st.st_blocks, f->extent_bytes);
	}
}

/* Every xattr is of an inode the walk reached. */
static void check_xattrs_tree(struct iter *it, struct rstate *rs)
{
	lkv_iter *i = kv_scan(it, "xattrs");
	const void *k;
	size_t kl, vl;
	int rc;

	while ((rc = lkv_iter_next_len(i, &k, &kl, &vl)) == 1) {
		if (kl <= 8 || !rs_find(rs, be64(k))) {
			lkv_iter_close(i);
			iter_fail("an xattr of inode %" PRIu64 " that no "
				  "entry names", kl >= 8 ? be64(k) : 0);
		}
	}
	lkv_iter_close(i);
	if (rc < 0)
		iter_fail("lkv_iter_next(xattrs): %d", rc);
}

/* After the walk: what the trees hold must be what the walk found, and
 * no orphan record is left (the mount reclaims them). */
static void check_trees(struct iter *it, struct rstate *rs)
{
	uint64_t orphans = kv_count(kv_tree(lfs_store(it->fs), "orphans"));

	if (orphans)
		iter_fail("%" PRIu64 " orphan records survive a mount",
			  orphans);
	check_inodes_tree(it, rs);
	check_dirents_tree(it, rs);
	check_extents_tree(it, rs);
	check_xattrs_tree(it, rs);
}

/* ---- matching the model ------------------------------------------------- */

/* Per-thread cache of content comparisons, by node and version. */
struct ccache {
	uint64_t *ver;
	int8_t   *ok;
	int32_t   cap;
};

static void cc_reset(struct ccache *c, int32_t cap)
{
	c->ver = xrealloc(c->ver, (size_t)cap * sizeof(*c->ver));
	c->ok = xrealloc(c->ok, (size_t)cap);
	memset(c->ok, -1, (size_t)cap);
	c->cap = cap;
}

static void cc_free(struct ccache *c)
{
	free(c->ver);
	free(c->ok);
}

struct cmp {
	struct iter *it;
	struct rstate *rs;
	struct model *m;
	unsigned tid;
	struct ccache *cc;
	bool bind;                    /* give unknown inodes their number */
	char *msg;                    /* first difference, when not NULL */
	size_t cap;
};

static bool differ(struct cmp *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool differ(struct cmp *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->cap, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool cmp_xattrs(struct cmp *c, const struct mnode *x,
		       const struct rnode *r, const char *path)
{
	uint8_t want[XATTR_BIG];

	for (unsigned i = 0; i < NXATTR; i++) {
		const struct mxattr *mx = &x->xa[i];
		const struct rxattr *rx = &r->xa[i];

		if (mx->set != rx->set)
			return differ(c, "%s: xattr %s %s, expected %s", path,
				      xa_names[i], rx->set ? "present" : "absent",
				      mx->set ? "present" : "absent");
		if (!mx->set)
			continue;
		if (mx->len != rx->len)
			return differ(c, "%s: xattr %s of %u bytes, expected %u",
				      path, xa_names[i], rx->len, mx->len);
		data_fill(want, mx->key, 0, mx->len);
		if (memcmp(want, rx->v, mx->len))
			return differ(c, "%s: xattr %s: wrong value", path,
				      xa_names[i]);
	}
	return true;
}

static bool cmp_data(struct cmp *c, int32_t xi, const struct rnode *r,
		     const char *path)
{
	const struct mnode *x = &c->m->n[xi];

	if (xi < c->cc->cap && c->cc->ok[xi] >= 0 && c->cc->ver[xi] == x->ver &&
	    (c->cc->ok[xi] || !c->msg))
		return c->cc->ok[xi];
	bool ok = true;

	if ((uint64_t)r->st.st_size != x->size) {
		ok = differ(c, "%s: %jd bytes, expected %" PRIu64, path,
			    (intmax_t)r->st.st_size, x->size);
	} else if (x->size && memcmp(x->data, r->data, x->size)) {
		uint64_t o = 0;

		while (x->data[o] == r->data[o])
			o++;
		ok = differ(c, "%s (%" PRIu64 " bytes): byte %" PRIu64 " is %#x, "
			    "expected %#x", path, x->size, o, r->data[o],
			    x->data[o]);
	}
	if (xi < c->cc->cap) {
		c->cc->ver[xi] = x->ver;
		c->cc->ok[xi] = ok;
	}
	return ok;
}

/* Whether recovered inode ino is one model node other than xi names. */
static bool ino_known(const struct model *m, int32_t xi, uint64_t ino)
{
	for (int32_t i = 0; i < m->nn; i++)
		if (i != xi && m->n[i].used && m->n[i].ino == ino)
			return true;
	return false;
}

/* Compares model directory di with recovered directory r, recursively. */
static bool cmp_dir(struct cmp *c, int32_t di, const struct rnode *r,
		    const char *path)
{
	const struct mnode *d = &c->m->n[di];

	if (!cmp_xattrs(c, d, r, path))
		return false;
	for (unsigned k = 0; k < NNAMES; k++) {
		int32_t xi = d->ent[k];
		char cpath[512];

		snprintf(cpath, sizeof(cpath), "%s/%s", path, name_show(k));
		if (xi == NONE && !r->ent[k])
			continue;
		if (xi == NONE)
			return differ(c, "%s: inode %" PRIu64 " is there, expected "
				      "no entry", cpath, r->ent[k]);
		struct mnode *x = &c->m->n[xi];

		if (!r->ent[k])
			return differ(c, "%s: missing, expected %s inode %" PRIu64,
				      cpath, x->dir ? "directory" : "file", x->ino);
		const struct rnode *rx = rs_find(c->rs, r->ent[k]);

		if (!x->ino) {              /* an applied MAYBE create */
			if (ino_known(c->m, xi, r->ent[k]))
				return differ(c, "%s: inode %" PRIu64 ", expected "
					      "a new one", cpath, r->ent[k]);
			if (c->bind)
				x->ino = r->ent[k];
		} else if (x->ino != r->ent[k]) {
			return differ(c, "%s: inode %" PRIu64 ", expected %" PRIu64,
				      cpath, r->ent[k], x->ino);
		}
		if (x->dir != S_ISDIR(rx->st.st_mode))
			return differ(c, "%s: a %s, expected a %s", cpath,
				      x->dir ? "file" : "directory",
				      x->dir ? "directory" : "file");
		if (x->dir) {
			if (!cmp_dir(c, xi, rx, cpath))
				return false;
			continue;
		}
		if (rx->st.st_nlink != x->nlink)
			return differ(c, "%s: nlink %ju, expected %u", cpath,
				      (uintmax_t)rx->st.st_nlink, x->nlink);
		if (!cmp_xattrs(c, x, rx, cpath) || !cmp_data(c, xi, rx, cpath))
			return false;
	}
	return true;
}

static bool cmp_thread(struct cmp *c)
{
	char path[8];
	const struct rnode *r = rs_find(c->rs, c->it->tino[c->tid]);

	snprintf(path, sizeof(path), "/t%u", c->tid);
	return cmp_dir(c, 0, r, path);
}

/* Whether op i of worker w counts as applied in a prefix that includes
 * it: a failed-as-predicted op changes nothing, a MAYBE op is applied
 * as its success would be. */
static void replay_op(struct worker *w, struct model *m, size_t i)
{
	const struct fop *op = &w->ops[i];

	if (op_succeeds(op))
		apply(m, op, (int32_t)i);
}

/* Worker w's ops ending before ticket `t` that must be applied once an
 * op starting at t is: its DONE ops (a MAYBE op may have failed). */
static size_t done_before(const struct worker *w, uint64_t t)
{
	size_t lo = 0, hi = w->nops;

	while (lo < hi) {                 /* ends are increasing */
		size_t mid = (lo + hi) / 2;

		if (w->ops[mid].end < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo && w->ops[lo - 1].status == ST_MAYBE)
		lo--;
	return lo;
}

/* The durability bounds: k_t >= L[t]. */
static void durable_bounds(struct iter *it, size_t L[NTHREADS],
			   const struct fop *why[NTHREADS])
{
	for (unsigned t = 0; t < NTHREADS; t++) {
		L[t] = 0;
		why[t] = NULL;
	}
	for (unsigned t = 0; t < NTHREADS; t++) {
		const struct worker *w = &it->w[t];

		for (size_t i = 0; i < w->nops; i++) {
			const struct fop *op = &w->ops[i];

			if (!op->durable)
				continue;
			if (op->kind == OP_SYNC) {
				for (unsigned u = 0; u < NTHREADS; u++) {
					size_t b = u == t ? i
						: done_before(&it->w[u], op->start);

					if (b > L[u]) {
						L[u] = b;
						why[u] = op;
					}
				}
			} else if ((size_t)(op->lastchg + 1) > L[t]) {
				L[t] = (size_t)(op->lastchg + 1);
				why[t] = op;
			}
		}
	}
	if (it->end_synced)
		for (unsigned t = 0; t < NTHREADS; t++)
			if (done_before(&it->w[t], UINT64_MAX) > L[t]) {
				L[t] = done_before(&it->w[t], UINT64_MAX);
				why[t] = NULL;
			}
}

/* Replays worker t's ops from the generation's start and notes after
 * which prefixes its recovered subtree matches. */
static void match_prefixes(struct iter *it, struct rstate *rs, unsigned t,
			   bool *match)
{
	struct worker *w = &it->w[t];
	struct model m = { 0 };
	struct ccache cc = { 0 };

	m_copy(&m, &w->base);
	cc_reset(&cc, w->base.nn + (int32_t)w->nops + 1);
	for (size_t k = 0; k <= w->nops; k++) {
		if (k)
			replay_op(w, &m, k - 1);
		struct cmp c = { it, rs, &m, t, &cc, false, NULL, 0 };

		match[k] = cmp_thread(&c);
	}
	cc_free(&cc);
	m_free(&m);
}

/* The model of worker t after its first k ops; with msg, the first
 * difference from the recovered subtree goes there (bind: unknown
 * inodes get the recovered numbers). */
static void model_at(struct iter *it, struct rstate *rs, unsigned t, size_t k,
		     struct model *m, char *msg, size_t cap, bool bind)
{
	struct worker *w = &it->w[t];
	struct ccache cc = { 0 };

	m_copy(m, &w->base);
	for (size_t i = 0; i < k; i++)
		replay_op(w, m, i);
	cc_reset(&cc, m->nn + 1);
	struct cmp c = { it, rs, m, t, &cc, bind, msg, cap };

	if (msg)
		msg[0] = 0;
	cmp_thread(&c);
	cc_free(&cc);
}

static void print_ops(struct worker *w, size_t from, size_t to)
{
	for (size_t i = from; i < to && i < w->nops; i++) {
		const struct fop *op = &w->ops[i];

		fprintf(stderr, "    t%u #%zu [%" PRIu64 ",%" PRIu64 "] %s = %" PRId64
			"%s%s\n", w->tid, i, op->start, op->end, op->desc, op->rc,
			op->status == ST_MAYBE ? " (MAYBE)" : "",
			op->durable ? " (durable)" : "");
	}
}

static size_t first_match(const bool *match, size_t n, size_t from)
{
	for (size_t k = from; k <= n; k++)
		if (match[k])
			return k;
	return SIZE_MAX;
}

/* Explains why thread t has no matching prefix at or above `need`. */
static void fail_thread(struct iter *it, struct rstate *rs, unsigned t,
			const bool *match, size_t need, const char *reason)
{
	struct worker *w = &it->w[t];
	char list[512] = "", diff[768];
	size_t n = 0;
	struct model m = { 0 };

	for (size_t k = 0; k <= w->nops && n < sizeof(list) - 16; k++)
		if (match[k])
			n += (size_t)snprintf(list + n, sizeof(list) - n, " %zu", k);
	fprintf(stderr, "\n  thread %u: %zu ops; its subtree matches the model "
		"after ops:%s%s\n", t, w->nops, n ? list : " none",
		w->io_error ? " (stopped by an injected error)" : "");
	fprintf(stderr, "  needed: after %zu or more (%s)\n", need, reason);
	model_at(it, rs, t, need, &m, diff, sizeof(diff), false);
	fprintf(stderr, "  after %zu ops: %s\n", need, diff[0] ? diff : "matches");
	model_at(it, rs, t, w->nops, &m, diff, sizeof(diff), false);
	fprintf(stderr, "  after all %zu ops: %s\n", w->nops,
		diff[0] ? diff : "matches");
	fprintf(stderr, "  ops around op %zu:\n", need);
	print_ops(w, need > 4 ? need - 4 : 0, need + 3);
	model_at(it, rs, t, need, &m, diff, sizeof(diff), false);
	m_free(&m);
	iter_fail("thread %u: the recovered /t%u is not the state after "
		  "any prefix of %zu or more of its ops (%s); after op %zu: %s",
		  t, t, need, reason, need, diff[0] ? diff : "?");
}

/* Inodes the model at the chosen prefix has removed, or holds only as
 * orphans (unlinked while referenced, at the cut), must be gone after the
 * mount: not reachable and not there at all. */
static void check_gone(struct iter *it, struct rstate *rs, unsigned t,
		       const struct model *m)
{
	for (int32_t i = 0; i < m->nn; i++) {
		const struct mnode *n = &m->n[i];
		bool orphan = n->used && !n->dir && !n->nlink;
		struct stat st;
		int rc;

		if ((n->used && !orphan) || !n->ino)
			continue;
		if (rs_find(rs, n->ino))
			iter_fail("thread %u: inode %" PRIu64 " (%s) is "
				  "reachable after the remount", t, n->ino,
				  orphan ? "an orphan at the cut" : "removed");
		if ((rc = lfs_getattr(it->fs, n->ino, &st)) != -ENOENT)
			iter_fail("thread %u: inode %" PRIu64 " (%s) is still "
				  "there after the remount: getattr %d, nlink %ju",
				  t, n->ino, orphan ? "an orphan at the cut"
				  : "removed", rc, rc ? 0 : (uintmax_t)st.st_nlink);
		g_st.orphans_gone += orphan;
	}
}

/* Raises the k's until every applied op has every op that ended before
 * it started applied too (the least such k's, see the head of the file);
 * fails when a thread has no matching prefix that high. */
static void order_prefixes(struct iter *it, struct rstate *rs,
			   bool *match[NTHREADS], size_t k[NTHREADS])
{
	for (bool changed = true; changed;) {
		changed = false;
		for (unsigned t = 0; t < NTHREADS; t++)
			for (unsigned u = 0; u < NTHREADS; u++) {
				if (u == t || !k[u])
					continue;
				const struct fop *b = &it->w[u].ops[k[u] - 1];
				size_t need = done_before(&it->w[t], b->start);

				if (need <= k[t])
					continue;
				k[t] = first_match(match[t], it->w[t].nops, need);
				if (k[t] == SIZE_MAX) {
					char reason[640];

					snprintf(reason, sizeof(reason), "thread %u's "
						 "op #%zu (%s) is applied, and "
						 "op #%zu of thread %u ended "
						 "before it started", u, k[u] - 1,
						 b->desc, need - 1, t);
					fprintf(stderr, "\n  thread %u's state "
						"needs its ops up to #%zu:\n",
						u, k[u] - 1);
					print_ops(&it->w[u], k[u] > 3 ? k[u] - 3 : 0,
						  k[u]);
					fail_thread(it, rs, t, match[t], need,
						    reason);
				}
				changed = true;
			}
	}
}

/*
 * Finds prefixes k_t meeting the durability bounds and the order across
 * threads, the smallest there are (see the head of the file), and makes
 * the models after them the next generation's base.
 */
static void check_model(struct iter *it, struct rstate *rs)
{
	size_t L[NTHREADS], k[NTHREADS];
	const struct fop *why[NTHREADS];
	bool *match[NTHREADS];

	durable_bounds(it, L, why);
	for (unsigned t = 0; t < NTHREADS; t++) {
		match[t] = xrealloc(NULL, it->w[t].nops + 1);
		match_prefixes(it, rs, t, match[t]);
	}
	for (unsigned t = 0; t < NTHREADS; t++) {
		char reason[384];

		k[t] = first_match(match[t], it->w[t].nops, L[t]);
		if (k[t] != SIZE_MAX)
			continue;
		if (why[t])
			snprintf(reason, sizeof(reason), "%s of thread %u "
				 "returned 0 before the cut", why[t]->desc,
				 why[t]->tid);
		else
			snprintf(reason, sizeof(reason), "%s",
				 L[t] ? "lfs_sync at the end returned 0 before "
				 "the cut" : "any prefix");
		fail_thread(it, rs, t, match[t], L[t], reason);
	}
	order_prefixes(it, rs, match, k);
	for (unsigned t = 0; t < NTHREADS; t++) {
		struct worker *w = &it->w[t];
		struct model m = { 0 };
		char diff[512];
		size_t ndone = done_before(w, UINT64_MAX);

		model_at(it, rs, t, k[t], &m, diff, sizeof(diff), true);
		if (diff[0])
			iter_fail("thread %u: the chosen prefix %zu does not "
				  "match after all: %s", t, k[t], diff);
		check_gone(it, rs, t, &m);
		m_recovered(&m);
		m_copy(&w->base, &m);
		m_copy(&w->live, &m);
		m_free(&m);
		g_st.lost_ops += ndone > k[t] ? ndone - k[t] : 0;
		g_st.at_bound += k[t] == L[t];
		g_st.bounded += L[t] > 0;
		if (w->nops && w->ops[w->nops - 1].status == ST_MAYBE) {
			g_st.maybe_ops++;
			g_st.maybe_applied += k[t] == w->nops;
		}
		if (crashrun_verbose())
			fprintf(stderr, "  thread %u: recovered after %zu of %zu "
				"ops (bound %zu)\n", t, k[t], w->nops, L[t]);
		free(match[t]);
	}
	bool lost = false;

	for (unsigned t = 0; t < NTHREADS; t++)
		lost |= k[t] < done_before(&it->w[t], UINT64_MAX);
	g_st.cuts_lost += lost;
}

/* ---- mounting ----------------------------------------------------------- */

static void mount_options(struct iter *it)
{
	uint64_t *r = &it->rng;
	struct lfs_mount_options *mo = &it->mo;

	lfs_mount_options_default(mo);
	/* the workload takes milliseconds: a short interval puts background
	 * flushes among the operations, a long one leaves fsync, sync and
	 * back-pressure alone */
	mo->flush_interval_ms = rng_chance(r, 1, 2)
				? (unsigned)(rng_chance(r, 2, 3) ? rng_range(r, 1, 3)
					     : rng_range(r, 4, 20))
				: 3600000u;
	if (it->cc == FC_CHAINS)
		mo->flush_interval_ms = (unsigned)rng_range(r, 1, 3);
	mo->cache_bytes = rng_chance(r, 1, 3)
			  ? (size_t)(64u << 10) << rng_below(r, 4) : 0;
	mo->atime = (enum lfs_atime)rng_below(r, 3);
	mo->log = crashrun_log;
}

static void fs_mount(struct iter *it, faultio *f)
{
	struct lfs_mount_options mo;
	int rc;

	mount_options(it);
	mo = it->mo;
	mo.io = faultio_io(f);
	rc = lfs_mount(STORE_DIR, &mo, &it->fs);
	if (rc)
		iter_fail("lfs_mount: %d (%s)", rc, strerror(-rc));
	it->f = f;
	lfs_get_info(it->fs, &it->info);
}

static void iter_format(struct iter *it)
{
	static const uint32_t bsz[] = { 4096, 16384, 65536 };
	static const uint32_t thr[] = { 512, 4096, 32768 };
	uint64_t *r = &it->rng;
	char why[256];
	faultio *f = faultio_new();

	lfs_format_options_default(&it->fo);
	it->fo.block_size = bsz[rng_below(r, 3)];
	it->fo.blob_threshold = thr[rng_below(r, it->cc == FC_BLOBSYNC ? 2 : 3)];
	it->fo.compression = rng_chance(r, 1, 3) ? 1 : 0;
	it->fo.io = faultio_io(f);
	int rc = lfs_format(STORE_DIR, &it->fo, NULL, why);

	if (rc)
		iter_fail("lfs_format: %d (%s) %s", rc, strerror(-rc), why);
	fs_mount(it, f);

	/* the workers' directories, durable before any cut */
	for (unsigned t = 0; t < NTHREADS; t++) {
		char nm[4] = { 't', (char)('0' + t), 0, 0 };
		struct stat st;

		rc = lfs_mkdir(it->fs, &it->cred, LFS_ROOT_INO, nm, 0755, &st);
		if (rc)
			iter_fail("mkdir /%s: %d", nm, rc);
		lfs_forget(it->fs, st.st_ino, 1);
		it->tino[t] = st.st_ino;
		m_new(&it->w[t].base, true, st.st_ino);
		m_copy(&it->w[t].live, &it->w[t].base);
	}
	if ((rc = lfs_sync(it->fs)))
		iter_fail("lfs_sync: %d", rc);
	if (crashrun_verbose())
		fprintf(stderr, "seed 0x%016" PRIx64 ": block %u, blob threshold "
			"%u, compression %d\n", it->seed, it->fo.block_size,
			it->fo.blob_threshold, it->fo.compression);
}

/* ---- one generation and one iteration ----------------------------------- */

static void gen_plan(struct iter *it, unsigned gen)
{
	uint64_t *r = &it->rng;
	uint64_t span = g_span[it->cc] ? g_span[it->cc] : 400;

	for (unsigned t = 0; t < NTHREADS; t++) {
		struct worker *w = &it->w[t];

		w->nops = 0;
		w->err[0] = 0;
		w->io_error = false;
		w->it = it;
		w->tid = t;
		w->rng = rng_next(r);
		w->nplan = (unsigned)rng_range(r, 10, 120);
		if (!w->buf)
			w->buf = xrealloc(NULL, FILE_SOFT_MAX + WRITE_MAX + 8192);
	}
	it->when = (enum cut_when)rng_below(r, NWHEN - 1);
	if (it->cc == FC_CHAINS && rng_chance(r, 2, 3))
		it->when = WHEN_SYNC_OPS;
	if (it->cc == FC_BLOBSYNC && rng_chance(r, 2, 3))
		it->when = rng_chance(r, 1, 2) ? WHEN_SYNC_OPS : WHEN_WRITES;
	it->freeze_tid = (unsigned)rng_below(r, NTHREADS);
	it->freeze_op = (unsigned)rng_below(r, it->w[it->freeze_tid].nplan);
	it->freeze_n = (unsigned)rng_below(r, 12);
	it->end_synced = false;
	it->errors = it->cc == FC_ERRORS;
	it->had_errors |= it->errors;
	g_st.when[it->when]++;
	switch (it->when) {
	case WHEN_CALLS:
		faultio_freeze_after(it->f, rng_below(r, span + 1));
		break;
	case WHEN_SYNC_OPS:
		if (it->cc == FC_BLOBSYNC)       /* into one of the first fsyncs */
			faultio_freeze_after_ops(it->f, FAULTIO_OP_SYNC, rng_below(r, 8));
		else
			faultio_freeze_after_ops(it->f, FAULTIO_OP_SYNC | FAULTIO_OP_NAME,
						 rng_below(r, 24));
		break;
	case WHEN_WRITES:
		faultio_freeze_after_ops(it->f, FAULTIO_OP_WRITE, rng_below(r, span / 2 + 1));
		break;
	default:
		break;
	}
	if (it->errors) {
		static const unsigned cls[] = {
			FAULTIO_OP_WRITE, FAULTIO_OP_SYNC, FAULTIO_OP_NAME,
			FAULTIO_OP_MUTATING, FAULTIO_OP_READ,
		};
		unsigned c = (unsigned)rng_below(r, 5);

		faultio_fail_after(it->f, cls[c], rng_below(r, c == 4 ? 2000
							   : span + 1),
				   rng_chance(r, 1, 2) ? -EIO : -ENOSPC,
				   rng_chance(r, 1, 2));
	}
	if (crashrun_verbose())
		fprintf(stderr, "gen %u: cut %s (thread %u op %u +%u calls), "
			"ops %u %u %u, flush every %u ms, cache %zu\n", gen,
			when_names[it->when], it->freeze_tid, it->freeze_op,
			it->freeze_n, it->w[0].nplan, it->w[1].nplan,
			it->w[2].nplan, it->mo.flush_interval_ms,
			it->mo.cache_bytes);
}

static unsigned crash_mode(struct iter *it)
{
	return crashrun_mode(cases[it->cc].cut, &it->rng);
}

/* Mounts the image, reads it back and checks it; the recovered state
 * becomes every worker's base. */
/* ---- fsck of every image ---- */

struct dump { faultio *img; const char *dir; int err; };

static int dump_one(void *arg, const char *name)
{
	struct dump *d = arg;
	uint64_t size;
	char path[512];

	if (faultio_file_size(d->img, name, &size))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	uint8_t *buf = malloc(size ? size : 1);
	FILE *fp = fopen(path, "wb");
	if (!buf || !fp ||
	    faultio_read(d->img, name, buf, size, 0) != (ssize_t)size ||
	    fwrite(buf, 1, size, fp) != size)
		d->err = -EIO;
	if (fp && fclose(fp))
		d->err = -EIO;
	free(buf);
	return d->err;
}

/*
 * Writes the cut image to a scratch directory and runs `fsck.larchfs -n`
 * on it (FSCK_LARCHFS, set by meson): after every cut it must find nothing
 * to repair (exit 0; leftovers of files unlinked while open are only
 * noted).  Without FSCK_LARCHFS (a run by hand) this is skipped.
 */
static void fsck_image(faultio *img)
{
	const char *fsck = getenv("FSCK_LARCHFS");
	char dir[] = "/tmp/larchfs-crash-fsck-XXXXXX", cmd[1024];

	if (!fsck || !*fsck)
		return;
	if (!mkdtemp(dir))
		iter_fail("mkdtemp: %s", strerror(errno));
	struct dump d = { img, dir, 0 };
	faultio_list(img, dump_one, &d);
	snprintf(cmd, sizeof(cmd), "'%s' -n '%s' >'%s.out' 2>&1", fsck, dir, dir);
	int rc = d.err ? -1 : system(cmd);
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "cat '%s.out' >&2", dir);
		if (!d.err && system(cmd)) {}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.out'", dir, dir);
	if (system(cmd)) {}
	if (d.err)
		iter_fail("could not write the image out for fsck");
	if (rc != 0)
		iter_fail("fsck.larchfs -n on the cut image: exit status %d",
			  WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
	g_st.fscked++;
}

static void recover(struct iter *it, faultio *img)
{
	struct rstate rs;
	struct lkv_stats ks;

	fsck_image(img);
	g_st.orphans_in_image += image_orphans(img);
	fs_mount(it, img);
	read_fs(it, &rs);
	check_trees(it, &rs);
	check_model(it, &rs);
	rs_free(&rs);
	/* torn records met by recovery count here too: only a count */
	lkv_stats(lfs_store(it->fs), &ks);
	g_st.csum_failures += ks.checksum_failures;
}

static void run_generation(struct iter *it, unsigned gen)
{
	pthread_t th[NTHREADS];
	uint64_t calls0 = faultio_op_count(it->f);

	crashrun_generation(gen);
	gen_plan(it, gen);
	for (unsigned t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, worker_main, &it->w[t]))
			abort();
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (unsigned t = 0; t < NTHREADS; t++)
		if (it->w[t].err[0]) {
			print_ops(&it->w[t], it->w[t].nops > 6
				  ? it->w[t].nops - 6 : 0, it->w[t].nops);
			iter_fail("%s", it->w[t].err);
		}
	if (it->when == WHEN_END_SYNCED && !faultio_frozen(it->f)) {
		int rc = lfs_sync(it->fs);

		if (rc == 0)
			it->end_synced = !faultio_frozen(it->f);
		else if (!it->errors)
			iter_fail("final lfs_sync: %d", rc);
	}
	faultio_freeze_after(it->f, 0);   /* no-op when already frozen */
	faultio_clear_faults(it->f);

	uint64_t calls = faultio_op_count(it->f) - calls0;

	g_span[it->cc] = g_span[it->cc] ? (3 * g_span[it->cc] + calls) / 4 : calls;
	g_st.cuts++;
	for (unsigned t = 0; t < NTHREADS; t++) {
		g_st.ops += it->w[t].nops;
		for (size_t i = 0; i < it->w[t].nops; i++)
			g_st.failed_as_predicted += it->w[t].ops[i].want[0] != 0 &&
						    it->w[t].ops[i].status == ST_DONE;
	}

	struct lkv_stats ks;

	lkv_stats(lfs_store(it->fs), &ks);
	g_st.flushes += ks.flushes;
	g_st.blob_bytes += ks.blob_bytes_written;
	g_st.deltas += ks.deltas_written;
	g_st.consolidations += ks.consolidations;

	/* The power cut.  Then the old filesystem shuts down cleanly on the
	 * old (still working) faultio, which must not affect the image. */
	unsigned mode = crash_mode(it);
	faultio *img = faultio_crash(it->f, rng_next(&it->rng), mode);

	if (crashrun_verbose())
		fprintf(stderr, "gen %u: %" PRIu64 " mutating calls, crash mode "
			"%#x\n", gen, calls, mode);
	int rc = lfs_unmount(it->fs);

	it->fs = NULL;
	if (rc && !it->errors)
		iter_fail("lfs_unmount of the cut filesystem: %d", rc);
	crashrun_free_closed(it->f, "lfs_unmount");
	it->f = NULL;
	recover(it, img);
}

/* Unmounts the last recovered filesystem cleanly, mounts it again and
 * checks nothing changed. */
static void final_remount(struct iter *it)
{
	faultio *f = it->f;
	int rc = lfs_unmount(it->fs);

	it->fs = NULL;
	if (rc)
		iter_fail("lfs_unmount after recovery: %d", rc);
	for (unsigned t = 0; t < NTHREADS; t++)
		it->w[t].nops = 0;
	it->end_synced = false;
	recover(it, f);
}

static void run_iteration(unsigned cc, uint64_t seed)
{
	struct iter *it = calloc(1, sizeof(*it));

	if (!it)
		abort();
	it->seed = seed;
	it->cc = (enum fcase)cc;
	it->rng = seed;
	it->cred = (struct lfs_cred){ .uid = 0, .gid = 0, .umask = 022 };
	pthread_barrier_init(&it->go, NULL, NTHREADS);
	if (crashrun_verbose())
		fprintf(stderr, "== %s seed 0x%016" PRIx64 "\n", cases[cc].name,
			seed);

	unsigned gens = (unsigned)rng_range(&it->rng, 1, MAX_GENS);

	iter_format(it);
	for (unsigned gen = 1; gen <= gens; gen++)
		run_generation(it, gen);
	crashrun_generation(0);
	if (rng_chance(&it->rng, 1, 3))
		final_remount(it);
	int rc = lfs_unmount(it->fs);

	if (rc)
		iter_fail("final lfs_unmount: %d", rc);
	crashrun_free_closed(it->f, "lfs_unmount");
	for (unsigned t = 0; t < NTHREADS; t++) {
		m_free(&it->w[t].live);
		m_free(&it->w[t].base);
		free(it->w[t].ops);
		free(it->w[t].buf);
	}
	pthread_barrier_destroy(&it->go);
	free(it);
}

/* ---- cmocka glue -------------------------------------------------------- */

/* What the cuts of case cc did, below the runner's first line. */
static void print_case_stats(enum fcase cc)
{
	printf("  cuts by moment:");
	for (unsigned i = 0; i < NWHEN; i++)
		printf(" %s %" PRIu64, when_names[i], g_st.when[i]);
	printf("\n  %" PRIu64 " ops (%" PRIu64 " failed as predicted), %" PRIu64
	       " lost to cuts in %" PRIu64 " cuts; %" PRIu64 " threads had a "
	       "durable bound, %" PRIu64 " recovered exactly at it\n",
	       g_st.ops, g_st.failed_as_predicted, g_st.lost_ops, g_st.cuts_lost,
	       g_st.bounded, g_st.at_bound);
	printf("  %" PRIu64 " orphan records left in images, %" PRIu64 " orphans "
	       "at cuts checked gone; %" PRIu64 " files (%.1f MiB) checked; %"
	       PRIu64 " flushes, %.1f MiB to blobs; %" PRIu64 " checksum "
	       "failures\n", g_st.orphans_in_image, g_st.orphans_gone, g_st.files,
	       (double)g_st.bytes_checked / (1 << 20), g_st.flushes,
	       (double)g_st.blob_bytes / (1 << 20), g_st.csum_failures);
	printf("  %" PRIu64 " images checked clean by fsck.larchfs -n; %" PRIu64 " delta "
	       "records written, %" PRIu64 " consolidations\n", g_st.fscked, g_st.deltas,
	       g_st.consolidations);
	if (cc == FC_ERRORS)
		printf("  %" PRIu64 " ops failed by injected errors, %" PRIu64
		       " of them applied\n", g_st.maybe_ops, g_st.maybe_applied);
}

static void run_case(unsigned cc)
{
	memset(&g_st, 0, sizeof(g_st));
	crashrun_iterations(cc, &g_st.cuts);
	print_case_stats((enum fcase)cc);
}

static void names_init(void)
{
	memset(g_long_name, 'L', LFS_NAME_MAX);
	g_long_name[LFS_NAME_MAX] = 0;
	g_names[0] = "a";
	g_names[1] = "bb";
	g_names[2] = "c.txt";
	g_names[3] = "D";
	g_names[4] = "e e";
	g_names[5] = "f-\xc3\xa9t\xc3\xa9";
	g_names[6] = ".hidden";
	g_names[7] = "g123456789abcdef";
	g_names[8] = g_long_name;
	g_names[9] = "h";
}

int main(int argc, char **argv)
{
	static const struct crashrun_suite suite = {
		.name = "fs_crash",
		.cases = cases,
		.ncases = NCASES,
		.seed_case_base = 16,
		.fewer_when_sanitized = true,
		.log_label = "log",
		.hang_cause = "a deadlock?",
		.run_case = run_case,
		.run_iteration = run_iteration,
	};

	names_init();
	return crashrun_main(&suite, argc, argv);
}
