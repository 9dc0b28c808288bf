/* SPDX-License-Identifier: MIT */
/*
 * fsck.larchfs: checks a larchfs store and, with -y or -p, repairs it.
 *
 *   fsck.larchfs [-n|-y|-p|-a] [-f] [-v] [-C fd] [-m MEMORY] STORE
 *
 * Options follow e2fsck: -n checks only (the store is opened read-only and
 * nothing in it changes), -y fixes everything it can, -p (or -a) fixes
 * only what is safe without a human (link counts, sizes, accounting,
 * orphans) and stops with "UNEXPECTED INCONSISTENCY" otherwise.  Without
 * any of them it checks only, as -n.  -f is accepted (every check is a
 * full one).  -C 0 draws a progress bar on a terminal; -C FD writes
 * e2fsck's completion lines "PASS CURRENT MAX STORE" to FD.  -m bounds the
 * memory fsck uses (K, M, G suffixes, plain numbers are MiB; by default
 * a quarter of the machine's memory, between 256M and 4G: 10M files need
 * about 1G to keep their facts in RAM, and spilled they check several
 * times slower): past it, the per-inode facts spill into a scratch store.
 * How it is shared (memory_split):
 *   - the store's cache: a quarter;
 *   - the store's fixed memory, its index of leaves and location table
 *     (measured once the store is open: lkv_memory), and FSCK_BASE for the
 *     program, its libraries, stacks and malloc's own;
 *   - what is left: nine thirty-seconds for the fact table in RAM; once
 *     it spills (the spill frees the table as it moves it), as much for
 *     the scratch store's cache; the rest for the scratch store's index
 *     (30 MiB for 10M files), malloc's free but held memory (31 MiB
 *     there), what lies outside malloc (libraries, zstd's contexts,
 *     stacks: about 28 MiB there) and fsck's own lists.  10M files under
 *     -m 256M: 31 s; it peaked at 257 MiB when these shares were five
 *     sixteenths each.
 * A store whose index alone does not fit is checked anyway, with a warning
 * that names the least -m that would hold.
 * -v prints what each pass cost.
 *
 * Exit status (fsck(8), added together): 0 clean, 1 errors corrected,
 * 4 errors left uncorrected, 8 operational error (no store, in use,
 * damaged beyond opening, I/O), 16 usage.
 *
 * The order of things: -y and -p first open the store read-only to count
 * the orphans that the read-write open is about to reclaim (files
 * unlinked while open: a legitimate repair, reported as one, like the
 * collapses and inserts a crash interrupted, which it finishes), and to keep
 * the open from reclaiming an orphan that an entry still names (its
 * orphan record goes; pass 4 fixes its link count).  Then passes 0..5
 * (fsck.h), the report of lost data by path, and a summary.  -p first
 * checks without fixing and fixes only when everything it found is safe.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsck.h"

#define DEFAULT_MEM_MIN ((size_t)256 << 20)
#define DEFAULT_MEM_MAX ((size_t)4 << 30)
#define MIN_MEM     ((size_t)1 << 20)
#define FSCK_BASE   ((size_t)4 << 20)     /* measured: 2.6 MiB on an empty store */
#define REST_MIN    ((size_t)12 << 20)    /* less left for the facts than this, and
					     1M files under -m 24M peaked 2.4 MiB
					     over: warned of */

static void usage(FILE *f)
{
	fprintf(f, "usage: fsck.larchfs [-n|-y|-p] [-f] [-v] [-C fd] [-m memory] STORE\n"
		   "  -n  check only; open the store read-only (the default)\n"
		   "  -y  fix every problem that can be fixed\n"
		   "  -p  fix only what is safe without asking (-a: the same)\n"
		   "  -f  force a full check (every check is full; accepted)\n"
		   "  -v  verbose: what each pass cost\n"
		   "  -C  progress: 0 a bar on a terminal, FD e2fsck completion lines\n"
		   "  -m  memory bound, e.g. 64M or 1G (plain numbers are MiB; default a quarter\n"
		   "      of the machine's memory, from 256M to 4G)\n"
		   "Exit status: 0 clean, 1 errors corrected, 4 errors left, 8 operational "
		   "error, 16 usage.\n");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool parse_mem(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	unsigned shift = 20;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 0: break;
	default: return false;
	}
	if (*end && strcmp(end, "B") && strcmp(end, "iB"))
		return false;
	if (v > (SIZE_MAX >> shift))
		return false;
	*out = (size_t)v << shift;
	return *out >= MIN_MEM;
}

/* ---- opening ---- */

/* The engine's and the core's messages: fsck reports every problem itself,
 * so theirs are shown with -v only, and errors while opening (why the
 * open failed). */
static void log_verbose(void *arg, int level, const char *msg)
{
	struct fsck *c = arg;
	if (c->verbose || (level <= LKV_LOG_ERR && !c->s))
		fprintf(stderr, "fsck.larchfs: %s\n", msg);
}

static int mount_opts(struct fsck *c, bool ro, struct lfs_mount_options *o)
{
	lfs_mount_options_default(o);
	o->log = log_verbose;
	o->log_arg = c;
	o->read_only = ro;
	/* a damaged log: look past it read-only (reported by pass 0), and cut
	 * it only for -y (it loses committed changes: never for -p) */
	o->salvage = ro || c->fix == FIX_ALL;
	o->cache_bytes = c->mem / 4;
	o->flush_interval_ms = 60000;    /* fsck flushes at its end */
	return 0;
}

static int explain_open(struct fsck *c, int err)
{
	const char *why;
	switch (err) {
	case -EBUSY:
		why = "the store is in use (mounted?); unmount it first";
		break;
	case -ENOENT:
		why = "no larchfs store there";
		break;
	case -EMEDIUMTYPE:
		why = "a larchkv store without a larchfs superblock (not formatted?)";
		break;
	case -EUCLEAN:
		why = c->preen ? "UNEXPECTED INCONSISTENCY: the log is damaged; RUN "
				 "fsck.larchfs -y MANUALLY"
			       : "the store is damaged beyond what its open may ignore";
		break;
	default:
		why = strerror(-err);
	}
	fflush(stdout);
	fprintf(stderr, "fsck.larchfs: %s: %s\n", c->store, why);
	return FSCK_ERROR;
}

struct pre {
	uint64_t leftovers, stale, named;   /* orphans the rw open would touch */
	uint64_t shifts;                    /* shifts it would finish */
	uint64_t *v;                        /* leftovers' numbers, sorted */
	size_t n, cap;
	uint64_t *named_v;                  /* leftovers an entry still names */
	size_t nnamed;
	uint64_t *bad_v;                    /* orphans whose inode record is bad */
	size_t nbad;
};

static int push(uint64_t **v, size_t *n, uint64_t x)
{
	uint64_t *nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = x;
	return 0;
}

static bool in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == x;
}

/* Looks at the orphans before a read-write open reclaims them (c->t: the
 * trees of the read-only look). */
static int survey_orphans(struct fsck *c, struct pre *p)
{
	lkv_iter *it;
	int err = lkv_iter_open(c->t[TREE_ORPHANS], NULL, 0, NULL, 0, 0, &it);
	const void *k, *v;
	size_t kl, vl;
	while (!err && (err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		err = 0;
		struct inode in;
		p->shifts += shift_key_is(k, kl);
		if (kl != INO_KEY_LEN)
			continue;
		int got = inode_load(c, ino_key_get(k), &in);
		if (got == 0 && in.nlink == 0) {
			if (p->n == p->cap) {
				size_t cap = p->cap ? p->cap * 2 : 64;
				uint64_t *nv = realloc(p->v, cap * sizeof(*nv));
				if (!nv) {
					err = -ENOMEM;
					break;
				}
				p->v = nv;
				p->cap = cap;
			}
			p->v[p->n++] = ino_key_get(k);   /* in key order: sorted */
		} else if (got == 0 || got == -ENOENT) {
			p->stale++;
		} else if (got == -EIO) {
			/* the open's reclaim would fail on it: pass 1 deals with it */
			if ((err = push(&p->bad_v, &p->nbad, ino_key_get(k))))
				break;
		}
	}
	lkv_iter_close(it);
	if (err == -EIO)
		err = 0;   /* an unreadable orphans leaf: the open skips it, pass 0 empties it */
	p->leftovers = p->n;
	if (err < 0 || !p->n)
		return err < 0 ? err : 0;
	/* does an entry still name one of them?  (rare; costs one scan) */
	if ((err = lkv_iter_open(c->t[TREE_DIRENTS], NULL, 0, NULL, 0, 0, &it)))
		return err;
	while ((err = lkv_iter_next(it, &k, &kl, &v, &vl)) > 0) {
		struct dirent_val d;
		if (!dirent_val_decode(v, vl, &d) || !in_sorted(p->v, p->n, d.ino))
			continue;
		bool seen = false;
		for (size_t i = 0; i < p->nnamed; i++)
			seen |= p->named_v[i] == d.ino;
		if (!seen && (err = push(&p->named_v, &p->nnamed, d.ino)))
			break;
	}
	lkv_iter_close(it);
	return err < 0 ? err : 0;
}

/* Drops the orphan records of inodes an entry still names, or whose
 * record is bad, with the engine alone: a read-write mount would reclaim
 * (delete) the first and fail on the second. */
static int unorphan_named(struct fsck *c, struct pre *p)
{
	struct lkv_options o;
	lkv_options_default(&o);
	o.flush_interval_ms = 0;
	o.gc_interval_ms = 0;
	o.cache_bytes = c->mem / 4;
	o.log = log_verbose;
	o.log_arg = c;
	lkv_store *s;
	lkv_tree *t;
	int err = lkv_open(c->store, &o, &s);
	if (err)
		return err;
	lkv_batch *b = lkv_batch_new(s);
	err = b ? lkv_tree_open(s, tree_names[TREE_ORPHANS], &t) : -ENOMEM;
	for (size_t i = 0; i < p->nnamed + p->nbad && !err; i++) {
		uint8_t k[INO_KEY_LEN];
		ino_key(k, i < p->nnamed ? p->named_v[i] : p->bad_v[i - p->nnamed]);
		err = lkv_batch_delete(b, t, k, sizeof(k));
	}
	if (!err)
		err = lkv_batch_commit(b, NULL);
	if (b)
		lkv_batch_free(b);
	int cerr = lkv_close(s);
	return err ? err : cerr;
}

/* The shift records a mount left (fs/shift.c): those it could not finish. */
static uint64_t shifts_left(lfs *fs)
{
	lkv_tree *t;
	lkv_iter *it;
	const void *k;
	size_t kl, vl;
	uint64_t n = 0;
	if (lkv_tree_open(lfs_store(fs), tree_names[TREE_ORPHANS], &t) ||
	    lkv_iter_open(t, NULL, 0, NULL, 0, 0, &it))
		return 0;
	while (lkv_iter_next_len(it, &k, &kl, &vl) > 0)
		n += shift_key_is(k, kl);
	lkv_iter_close(it);
	return n;
}

/* -y/-p: the read-only look, then the read-write open. */
static int open_rw(struct fsck *c, uint64_t *mount_fixed)
{
	struct lfs_mount_options o;
	struct pre p = { 0 };
	mount_opts(c, true, &o);
	lfs *fs;
	int err = lfs_mount(c->store, &o, &fs);
	if (err)
		return explain_open(c, err);
	err = trees_open(lfs_store(fs), c->t);
	if (!err)
		err = survey_orphans(c, &p);
	lfs_unmount(fs);
	const char *pfx = c->preen ? c->store : "", *sep = c->preen ? ": " : "";
	for (size_t i = 0; i < p.nnamed && !err; i++)
		printf("%s%sInode %" PRIu64 " is recorded as unlinked while open, but an entry "
		       "still names it: keeping it (its orphan record goes).%s\n", pfx, sep,
		       p.named_v[i], c->preen ? "  FIXED." : "");
	for (size_t i = 0; i < p.nbad && !err; i++)
		printf("%s%sInode %" PRIu64 " is recorded as unlinked while open, but its record "
		       "is bad: its orphan record goes (pass 1 checks it).%s\n", pfx, sep,
		       p.bad_v[i], c->preen ? "  FIXED." : "");
	if (!err && (p.nnamed || p.nbad))
		err = unorphan_named(c, &p);
	*mount_fixed = p.nnamed + p.nbad;
	uint64_t reclaimed = p.leftovers - p.nnamed;
	free(p.v);
	free(p.named_v);
	free(p.bad_v);
	if (err) {
		fprintf(stderr, "fsck.larchfs: %s: looking at orphans: %s\n", c->store,
			strerror(-err));
		return FSCK_ERROR;
	}
	mount_opts(c, false, &o);
	if ((err = lfs_mount(c->store, &o, &c->fs)))
		return explain_open(c, err);
	if (reclaimed)
		printf("%s%s%" PRIu64 " inode%s unlinked while open reclaimed.%s\n", pfx, sep,
		       reclaimed, reclaimed == 1 ? "" : "s", c->preen ? "  FIXED." : "");
	if (p.stale)
		printf("%s%s%" PRIu64 " stale orphan record%s removed.%s\n", pfx, sep, p.stale,
		       p.stale == 1 ? "" : "s", c->preen ? "  FIXED." : "");
	*mount_fixed += reclaimed + p.stale;
	uint64_t finished = p.shifts - shifts_left(c->fs);
	if (p.shifts > shifts_left(c->fs))
		printf("%s%s%" PRIu64 " interrupted collapse%s or insert%s finished.%s\n", pfx,
		       sep, finished, finished == 1 ? "" : "s", finished == 1 ? "" : "s",
		       c->preen ? "  FIXED." : "");
	*mount_fixed += p.shifts > shifts_left(c->fs) ? finished : 0;
	return 0;
}

/* ---- the check ---- */

static void check_reset(struct fsck *c)
{
	facts_free(c->facts);
	c->facts = NULL;
	for (size_t i = 0; i < c->nlost; i++)
		free(c->lost[i].what);
	for (size_t i = 0; i < c->nnamed; i++)
		free(c->named[i].name);
	for (size_t i = 0; i < c->ncands; i++)
		free(c->cands[i].name);
	free(c->lost);
	free(c->lost_inodes);
	free(c->lost_dirs);
	free(c->lost_xattrs);
	c->lost_inodes = c->lost_dirs = c->lost_xattrs = NULL;
	c->nlost_inodes = c->nlost_dirs = c->nlost_xattrs = 0;
	free(c->named);
	free(c->cands);
	free(c->path_cache);
	c->lost = NULL;
	c->named = NULL;
	c->cands = NULL;
	c->path_cache = NULL;
	c->nlost = c->caplost = c->nnamed = c->capnamed = c->ncands = c->capcands = 0;
	c->found = c->fixed = c->left = c->notes = 0;
	c->unsafe_seen = c->incomplete = false;
	c->inodes_whole = c->dirents_whole = c->extents_whole = true;
	c->extents_lost = false;
	c->leaves_bad = 0;
	c->files = c->dirs = c->data_bytes = c->max_ino = c->orphans_pending = 0;
	c->shifts_pending = 0;
}

/* The fact table's share of -m, and the scratch store's cache (see the
 * head of this file). */
static void memory_split(struct fsck *c, size_t *facts, size_t *scratch_cache)
{
	struct lkv_memory m;
	lkv_memory(c->s, &m);
	size_t taken = c->mem / 4 + (size_t)(m.index + m.loctable) + FSCK_BASE;
	size_t rest = c->mem > taken ? c->mem - taken : 0;
	*facts = rest / 32 * 9;
	*scratch_cache = rest / 32 * 9 > MIN_MEM ? rest / 32 * 9 : MIN_MEM;
	if (rest >= REST_MIN || c->quiet_probe)
		return;
	size_t need = (taken - c->mem / 4 + REST_MIN) / 3 * 4;
	fflush(stdout);
	fprintf(stderr, "fsck.larchfs: %s: -m %zuM is less than this store needs: its "
		"index takes %.1f MiB; it will use more, at least -m %zuM would hold\n",
		c->store, c->mem >> 20, (double)(m.index + m.loctable) / (1 << 20),
		(need >> 20) + 1);
}

static int check_run(struct fsck *c, double *pass_s)
{
	check_reset(c);
	lfs_get_info(c->fs, &c->info);
	size_t facts_bytes, scratch_cache;
	memory_split(c, &facts_bytes, &scratch_cache);
	int err = facts_new(facts_bytes, c->tmpdir, scratch_cache, &c->facts);
	if (err) {
		op_fail(c, err, "starting");
		return err;
	}
	int (*pass[])(struct fsck *) = { pass0_engine, pass1_inodes, pass2_dirents,
					 pass3_connect, pass4_counts, pass5_super };
	for (int i = 0; i < 6 && !err; i++) {
		double t = now_s();
		err = pass[i](c);
		pass_s[i] += now_s() - t;
	}
	if (!err && !c->quiet_probe) {
		report_lost(c);
	}
	return err;
}

static void summary(struct fsck *c, double took)
{
	struct lkv_stats st;
	lkv_stats(c->s, &st);
	double amp = st.live_bytes ? (double)st.disk_bytes / (double)st.live_bytes : 0.0;
	printf("%s: %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64 " bytes of data "
	       "(%" PRIu64 " bytes in %" PRIu64 " blobs), space amplification %.2fx, "
	       "checked in %.2fs\n", c->store, c->files, c->dirs, c->data_bytes,
	       c->kst.blob_bytes, c->kst.blobs, amp, took);
}

static void verbose_report(struct fsck *c, const double *pass_s)
{
	if (!c->verbose)
		return;
	printf("Engine: %" PRIu64 " leaves, %" PRIu64 " keys, %" PRIu64 " blobs checked\n",
	       c->kst.leaves, c->kst.entries, c->kst.blobs);
	printf("Facts: %" PRIu64 " inodes, %s (%zu bytes of RAM)\n", facts_count(c->facts),
	       facts_spilled(c->facts) ? "spilled to a scratch store" : "in RAM",
	       facts_ram(c->facts));
	struct lkv_memory m, sm;
	uint64_t speak;
	lkv_memory(c->s, &m);
	facts_scratch_memory(c->facts, &sm, &speak);
	struct mallinfo2 mi = mallinfo2();
	printf("Memory: the store's cache %.1f of %.1f MiB, index %.1f MiB; scratch store's "
	       "cache peak %.1f of %.1f MiB, index %.1f MiB; malloc %.1f MiB in use, %.1f MiB "
	       "free but held\n", (double)m.cache / (1 << 20),
	       (double)m.cache_budget / (1 << 20), (double)(m.index + m.loctable) / (1 << 20),
	       (double)speak / (1 << 20), (double)sm.cache_budget / (1 << 20),
	       (double)(sm.index + sm.loctable) / (1 << 20),
	       (double)(mi.uordblks + mi.hblkhd) / (1 << 20), (double)mi.fordblks / (1 << 20));
	for (int i = 0; i < 6; i++)
		printf("Pass %d: %.3fs\n", i, pass_s[i]);
}

/* Reads the options into c and *mode ('n', 'y', 'p' or 0).  Returns -1
 * to go on, or the exit status (usage error, -h). */
static int parse_args(int argc, char **argv, struct fsck *c, int *mode)
{
	int ch;
	while ((ch = getopt(argc, argv, "nypafvC:m:h")) != -1) {
		char *end;
		long fd;
		int m = ch == 'a' ? 'p' : ch;
		switch (ch) {
		case 'n': case 'y': case 'p': case 'a':
			if (*mode && *mode != m) {
				fprintf(stderr, "fsck.larchfs: only one of -n, -y, -p may be given\n");
				return FSCK_USAGE;
			}
			*mode = m;
			break;
		case 'f':
			break;
		case 'v':
			c->verbose = true;
			break;
		case 'C':
			fd = strtol(optarg, &end, 10);
			if (*end || fd < 0 || fd > 1 << 20) {
				usage(stderr);
				return FSCK_USAGE;
			}
			c->progress_fd = fd > 0 ? (int)fd : isatty(STDOUT_FILENO) ? -2 : -1;
			break;
		case 'm':
			if (!parse_mem(optarg, &c->mem)) {
				fprintf(stderr, "fsck.larchfs: bad memory size '%s' (at least 1M)\n",
					optarg);
				return FSCK_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return FSCK_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return FSCK_USAGE;
	}
	c->store = argv[optind];
	return -1;
}

/* -p looks first and fixes only when everything it found is safe. */
static void run_checks(struct fsck *c, double *pass_s)
{
	if (!c->preen) {
		check_run(c, pass_s);
		return;
	}
	c->quiet_probe = true;
	int err = check_run(c, pass_s);
	c->quiet_probe = false;
	if (!err && c->found && !c->unsafe_seen) {
		c->fix = FIX_SAFE;
		err = check_run(c, pass_s);
	}
	if (!err && c->unsafe_seen)
		printf("%s: UNEXPECTED INCONSISTENCY; RUN fsck.larchfs -y MANUALLY.\n", c->store);
}

/*
 * glibc raises its mmap threshold to the size of each large block freed
 * (the fact table's chunks are 3.6 MB), and from then on serves leaf
 * images of 16-200 KiB from the heap, where they fragment it: 1M files
 * under -m 32M peaked at 41 MiB, 19 MiB of it free but held by malloc.
 * A fixed threshold (its default, 128 KiB) keeps it at 32 MiB.
 */
static void malloc_fixed_threshold(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
}

/* A quarter of the machine's memory, within [DEFAULT_MEM_MIN, _MAX]. */
static size_t default_mem(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	size_t quarter = pages > 0 && page > 0 ? (size_t)pages / 4 * (size_t)page : 0;
	if (quarter < DEFAULT_MEM_MIN)
		return DEFAULT_MEM_MIN;
	return quarter > DEFAULT_MEM_MAX ? DEFAULT_MEM_MAX : quarter;
}

int main(int argc, char **argv)
{
	struct fsck c = { .progress_fd = -1, .mem = default_mem() };
	int mode = 0;
	malloc_fixed_threshold();
	int rc = parse_args(argc, argv, &c, &mode);
	if (rc >= 0)
		return rc;
	c.preen = mode == 'p';
	c.fix = mode == 'y' ? FIX_ALL : FIX_NONE;
	c.tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	double t0 = now_s(), pass_s[6] = { 0 };
	uint64_t mount_fixed = 0;
	if (mode == 'y' || mode == 'p') {
		rc = open_rw(&c, &mount_fixed);
	} else {
		struct lfs_mount_options o;
		mount_opts(&c, true, &o);
		int err = lfs_mount(c.store, &o, &c.fs);
		rc = err ? explain_open(&c, err) : 0;
	}
	if (rc)
		return rc;
	c.s = lfs_store(c.fs);
	/* the mount opened the trees: trees_open only finds them */
	if (trees_open(c.s, c.t) || !(c.b = lkv_batch_new(c.s))) {
		lfs_unmount(c.fs);
		fprintf(stderr, "fsck.larchfs: out of memory\n");
		return FSCK_ERROR;
	}
	run_checks(&c, pass_s);
	progress_done(&c);
	verbose_report(&c, pass_s);
	summary(&c, now_s() - t0);
	lkv_batch_free(c.b);
	int err = lfs_unmount(c.fs);      /* flushes the repairs */
	if (err) {
		fprintf(stderr, "fsck.larchfs: %s: flushing the repairs: %s\n", c.store,
			strerror(-err));
		c.op_error = true;
	}
	rc = (c.left ? FSCK_UNCORRECTED : 0) | (c.fixed || mount_fixed ? FSCK_CORRECTED : 0) |
	     (c.op_error ? FSCK_ERROR : 0);
	if (!c.preen && (c.fixed || mount_fixed))
		printf("\n%s: ***** THE STORE WAS MODIFIED *****\n", c.store);
	check_reset(&c);
	return rc;
}
