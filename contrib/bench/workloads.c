/* SPDX-License-Identifier: MIT */
/*
 * kv-bench: the workload loops, run one engine at a time.
 *
 * An engine's workloads share one store whose state is tracked in
 * `struct store`: whether it holds all N keys, which generation of values
 * they carry (so reads can be verified), and which cache it is open with.
 * A workload that needs a full store gets one first (an untimed fillseq);
 * the warm reads get a store open with the warm cache and one untimed full
 * scan behind it; each cold read closes and reopens the store with the
 * cold (10%) cache first.
 *
 * Timed sections cover only the engine calls and the key/value generation
 * they need (the same for every engine).  Every read workload is followed
 * by an untimed pass that repeats it and checks every key and value.
 *
 * The large-value workloads (64 KiB and 1 MiB values) track the same state
 * with st->vlen saying which kind of value the store holds; their reads
 * run from the disk (the store's files dropped from the page cache) and
 * check each value right after its get.  The disk baseline they are
 * compared with (plain pwrite + fdatasync, pread) is here too, so that it
 * writes the same pool of bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <xxhash.h>

#include "larchkv.h"
#include "workloads.h"

const char *const workload_names[W_COUNT] = {
	[W_FILLSEQ]         = "fillseq",
	[W_FILLRANDOM]      = "fillrandom",
	[W_OVERWRITE]       = "overwrite",
	[W_READRANDOM]      = "readrandom",
	[W_READSEQ]         = "readseq",
	[W_READRANDOM_COLD] = "readrandom-cold",
	[W_READSEQ_COLD]    = "readseq-cold",
	[W_PUTFLUSH]        = "put+flush",
	[W_CHECKSUM]        = "checksum",
	[W_FILL64K]         = "fill64k",
	[W_READ64K]         = "read64k",
	[W_OVERWRITE64K]    = "overwrite64k",
	[W_FILL1M]          = "fill1m",
	[W_READ1M]          = "read1m",
	[W_OVERWRITE1M]     = "overwrite1m",
};

/* Fixed seeds: every engine sees the same orders and the same keys. */
#define SEED_FILLRANDOM 0x6c61726368ull
#define SEED_OVERWRITE  0x6f76657277ull
#define SEED_READRANDOM 0x7265616472ull
#define SEED_PUTFLUSH   0x7075746672ull
#define SEED_POOL       0x706f6f6c21ull

#define MAX_REPORTED_WRONG 5   /* mismatches printed per workload */

#define GEN_MIXED (-1)

/* ---- store directories ------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *sb, int type,
			struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path)) {
		int err = errno;

		fprintf(stderr, "remove %s: %s\n", path, strerror(err));
		return -err;
	}
	return 0;
}

int store_dir_remove(const char *dir)
{
	int rc = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	return rc < 0 && errno == ENOENT ? 0 : rc;
}

static uint64_t tree_bytes;

static int add_entry(const char *path, const struct stat *sb, int type,
		     struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F)
		tree_bytes += (uint64_t)sb->st_blocks * 512;
	return 0;
}

uint64_t store_dir_bytes(const char *dir)
{
	tree_bytes = 0;
	nftw(dir, add_entry, 16, FTW_PHYS);
	return tree_bytes;
}

/* ---- the store under test ---------------------------------------------- */

struct store {
	const struct engine *e;
	const struct bench_opts *o;
	const char *dir;
	void *h;                 /* open handle, or NULL */
	size_t cache;            /* the cache it is open with */
	bool loaded;             /* holds exactly keys 0..n-1 */
	size_t vlen;             /* of vlen-byte values (BENCH_VALUE_LEN, or
				    a large workload's: then n = its count) */
	int gen;                 /* their value generation, or GEN_MIXED */
	int next_gen;            /* generation the next full rewrite uses */
	bool warmed;             /* a full scan ran since open / last write */
};

static void progress(const struct store *st, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%s] ", st->e->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int store_open(struct store *st, size_t cache)
{
	struct engine_conf c = { .cache_bytes = cache };
	int rc;

	if (mkdir(st->dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", st->dir, strerror(errno));
		return -errno;
	}
	if ((rc = st->e->open(st->dir, &c, &st->h)))
		return rc;
	st->cache = cache;
	st->warmed = false;
	return 0;
}

static int store_close(struct store *st)
{
	int rc = 0;

	if (st->h)
		rc = st->e->close(st->h);
	st->h = NULL;
	return rc;
}

static int store_reopen(struct store *st, size_t cache)
{
	int rc = store_close(st);

	return rc ? rc : store_open(st, cache);
}

/* Removes the store and opens an empty one with the warm cache. */
static int store_recreate(struct store *st)
{
	int rc = store_close(st);

	if (rc || (rc = store_dir_remove(st->dir)))
		return rc;
	st->loaded = false;
	return store_open(st, st->o->warm_cache);
}

/* ---- orders ------------------------------------------------------------ */

/* A random permutation of 0..n-1 (Fisher-Yates), so each key is written
 * exactly once. */
static uint32_t *permutation(uint64_t n, uint64_t seed)
{
	uint32_t *p = malloc(n * sizeof(*p));

	if (!p)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rand_below(&seed, i + 1);
		uint32_t t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/* ---- writes ------------------------------------------------------------ */

/* Bytes this process has passed to write calls so far (/proc/self/io
 * wchar: every thread's write, pwrite and writev, to files; not
 * write_bytes, which counts a whole page-cache folio each time a clean
 * one is dirtied: with large folios one 4 KiB append after an fsync counts
 * 64 KiB or more), or 0 when /proc does not say. */
static uint64_t io_written(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "wchar: %llu", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* Write amplification since io_written() said `before`, for `user` bytes
 * of keys and values put. */
static double wamp_since(uint64_t before, uint64_t user)
{
	uint64_t now = io_written();

	return user && now >= before ? (double)(now - before) / (double)user : 0;
}

/* Writes generation `gen` of every key, in `order` (NULL: key order), then
 * one sync; *ops gets ops/s including the sync.  Returns 0 or a negative
 * errno. */
static int write_all(struct store *st, const uint32_t *order, int gen,
		     double *ops, double *wamp)
{
	char key[BENCH_KEY_LEN];
	unsigned char val[BENCH_VALUE_LEN];
	uint64_t n = st->o->n, w0 = io_written(), t0 = now_ns();
	int rc;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = order ? order[i] : i;

		make_key(k, key);
		make_value(k, (unsigned)gen, val);
		if ((rc = st->e->put(st->h, key, sizeof(key), val, sizeof(val))))
			return rc;
	}
	if ((rc = st->e->sync(st->h)))
		return rc;
	*ops = n / ((now_ns() - t0) / 1e9);
	if (wamp)
		*wamp = wamp_since(w0, n * (BENCH_KEY_LEN + BENCH_VALUE_LEN));
	st->loaded = true;
	st->vlen = BENCH_VALUE_LEN;
	st->gen = gen;
	st->warmed = false;
	return 0;
}

/* fillseq and fillrandom: a fresh store filled in key or random order. */
static int run_fill(struct store *st, bool random_order, double *ops, double *wamp)
{
	uint32_t *order = NULL;
	int rc;

	if ((rc = store_recreate(st)))
		return rc;
	if (random_order && !(order = permutation(st->o->n, SEED_FILLRANDOM)))
		return -ENOMEM;
	st->next_gen = 1;
	rc = write_all(st, order, 0, ops, wamp);
	free(order);
	return rc;
}

/* Gives the store all n keys (an untimed fillseq) unless it has them. */
static int ensure_loaded(struct store *st)
{
	double ops;

	if (st->loaded && st->h && st->vlen == BENCH_VALUE_LEN)
		return 0;
	progress(st, "loading %llu keys (untimed fillseq)",
		 (unsigned long long)st->o->n);
	return run_fill(st, false, &ops, NULL);
}

/* overwrite: every key rewritten once, in a fresh random order, over a
 * full store. */
static int run_overwrite(struct store *st, double *ops, double *wamp)
{
	uint32_t *order;
	int rc;

	if ((rc = ensure_loaded(st)))
		return rc;
	if (!(order = permutation(st->o->n, SEED_OVERWRITE)))
		return -ENOMEM;
	rc = write_all(st, order, st->next_gen++, ops, wamp);
	free(order);
	return rc;
}

/* ---- reads ------------------------------------------------------------- */

/* Counts a wrong answer, printing the first few. */
static void wrong(struct store *st, uint64_t *count, uint64_t key,
		  const char *what)
{
	if (++*count <= MAX_REPORTED_WRONG)
		progress(st, "WRONG: key %016llu: %s", (unsigned long long)key,
			 what);
}

/* readrandom: n gets of uniformly random existing keys.  With `verify`
 * each answer is checked against the value the key must hold (and counted
 * in *bad when wrong); otherwise only counted.  *ops gets ops/s.  Returns
 * 0 or a negative errno. */
static int read_random(struct store *st, bool verify, uint64_t *bad,
		       double *ops)
{
	char key[BENCH_KEY_LEN];
	unsigned char buf[BENCH_VALUE_LEN + 16], want[BENCH_VALUE_LEN];
	uint64_t seed = SEED_READRANDOM, n = st->o->n, found = 0;
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = rand_below(&seed, n);
		size_t vlen = 0;
		int rc;

		make_key(k, key);
		rc = st->e->get(st->h, key, sizeof(key), buf, sizeof(buf), &vlen);
		if (rc < 0)
			return rc;
		found += rc;
		if (!verify)
			continue;
		if (rc == 0) {
			wrong(st, bad, k, "not found");
			continue;
		}
		if (vlen != BENCH_VALUE_LEN) {
			wrong(st, bad, k, "wrong value length");
			continue;
		}
		if (st->gen == GEN_MIXED)
			continue;
		make_value(k, (unsigned)st->gen, want);
		if (memcmp(buf, want, BENCH_VALUE_LEN))
			wrong(st, bad, k, "wrong value bytes");
	}
	*ops = n / ((now_ns() - t0) / 1e9);
	if (!verify && found != n)
		progress(st, "readrandom: %llu of %llu keys not found",
			 (unsigned long long)(n - found), (unsigned long long)n);
	return 0;
}

struct scan_state {
	struct store *st;
	uint64_t count;
	uint64_t bytes;
	uint64_t bad;
};

static int scan_count(void *arg, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct scan_state *s = arg;

	(void)key;
	(void)val;
	s->count++;
	s->bytes += klen + vlen;
	return 0;
}

/* The scan must return exactly key 0, 1, ... n-1 with their values. */
static int scan_check(void *arg, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct scan_state *s = arg;
	char want_key[BENCH_KEY_LEN];
	unsigned char want_val[BENCH_VALUE_LEN];
	uint64_t i = s->count++;

	if (i >= s->st->o->n) {
		wrong(s->st, &s->bad, i, "extra key after the last one");
		return 0;
	}
	make_key(i, want_key);
	if (klen != BENCH_KEY_LEN || memcmp(key, want_key, klen)) {
		wrong(s->st, &s->bad, i, "scan returned another key here");
		return s->bad > MAX_REPORTED_WRONG;  /* out of step: stop */
	}
	if (vlen != BENCH_VALUE_LEN) {
		wrong(s->st, &s->bad, i, "wrong value length in scan");
		return 0;
	}
	if (s->st->gen != GEN_MIXED) {
		make_value(i, (unsigned)s->st->gen, want_val);
		if (memcmp(val, want_val, BENCH_VALUE_LEN))
			wrong(s->st, &s->bad, i, "wrong value bytes in scan");
	}
	return 0;
}

/* readseq: one scan over the whole store, in key order, checked like
 * read_random.  Returns 0 or a negative errno. */
static int read_seq(struct store *st, bool verify, uint64_t *bad,
		    double *ops)
{
	struct scan_state s = { .st = st };
	uint64_t t0 = now_ns();
	int rc = st->e->scan(st->h, verify ? scan_check : scan_count, &s);

	*ops = s.count / ((now_ns() - t0) / 1e9);
	if (rc < 0)
		return rc;
	if (s.count != st->o->n) {
		char what[96];

		snprintf(what, sizeof(what), "scan returned %llu keys, not %llu",
			 (unsigned long long)s.count,
			 (unsigned long long)st->o->n);
		if (verify)
			wrong(st, &s.bad, s.count, what);
		else
			progress(st, "readseq: %s", what);
	}
	*bad += s.bad;
	return 0;
}

/* Gets the store into the warm state: warm cache, one full scan done. */
static int ensure_warm(struct store *st)
{
	uint64_t bad = 0;
	double ops;
	int rc;

	if ((rc = ensure_loaded(st)))
		return rc;
	if (st->cache != st->o->warm_cache &&
	    (rc = store_reopen(st, st->o->warm_cache)))
		return rc;
	if (st->warmed)
		return 0;
	if (st->e->quiesce)
		st->e->quiesce(st->h);
	if ((rc = read_seq(st, false, &bad, &ops)))
		return rc;
	st->warmed = true;
	return 0;
}

/* Closes and reopens the store with the cold (10%) cache. */
static int make_cold(struct store *st)
{
	int rc;

	if ((rc = ensure_loaded(st)) || (rc = store_reopen(st, st->o->cold_cache)))
		return rc;
	if (st->e->quiesce)
		st->e->quiesce(st->h);
	return 0;
}

/* A timed read workload, then its untimed verification pass. */
static int run_read(struct store *st, bool random, bool cold,
		    struct result *res)
{
	int (*pass)(struct store *, bool, uint64_t *, double *) =
		random ? read_random : read_seq;
	double unused;
	int rc = cold ? make_cold(st) : ensure_warm(st);

	if (rc || (rc = pass(st, false, &res->wrong, &res->ops_per_s)))
		return rc;
	return pass(st, true, &res->wrong, &unused);
}

/* ---- put + durable sync ------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* put+flush: single puts of random existing keys, each made durable before
 * the next; fills p50/p99 latency.  Leaves the store's values mixed. */
static int run_putflush(struct store *st, struct result *res)
{
	unsigned iters = st->o->putflush_iters;
	uint64_t *lat = malloc(iters * sizeof(*lat));
	uint64_t seed = SEED_PUTFLUSH, t_all = now_ns();
	char key[BENCH_KEY_LEN];
	unsigned char val[BENCH_VALUE_LEN];
	int gen, rc;

	if (!lat)
		return -ENOMEM;
	if ((rc = ensure_warm(st)))
		goto out;
	gen = st->next_gen++;
	st->gen = GEN_MIXED;
	uint64_t w0 = io_written();
	t_all = now_ns();
	for (unsigned i = 0; i < iters; i++) {
		uint64_t k = rand_below(&seed, st->o->n), t0 = now_ns();

		make_key(k, key);
		make_value(k, (unsigned)gen, val);
		if ((rc = st->e->put_durable(st->h, key, sizeof(key), val,
					     sizeof(val))))
			goto out;
		lat[i] = now_ns() - t0;
	}
	res->ops_per_s = iters / ((now_ns() - t_all) / 1e9);
	res->wamp = wamp_since(w0, (uint64_t)iters * (BENCH_KEY_LEN + BENCH_VALUE_LEN));
	qsort(lat, iters, sizeof(*lat), cmp_u64);
	res->p50_us = lat[(size_t)iters * 50 / 100] / 1e3;
	res->p99_us = lat[(size_t)iters * 99 / 100] / 1e3;
out:
	free(lat);
	return rc;
}

/* ---- checksum throughput (larch only) ---------------------------------- */

/* GB/s (1e9 bytes/s) of fn over a 64 MiB buffer, best of CHECKSUM_ROUNDS
 * after one pass to fault the buffer in and warm the caches. */
static double hash_gbps(uint64_t (*fn)(const void *, size_t), const void *buf)
{
	static volatile uint64_t sink;
	double best = 0;

	sink ^= fn(buf, CHECKSUM_BUF);
	for (int r = 0; r < CHECKSUM_ROUNDS; r++) {
		uint64_t t0 = now_ns();
		double gbps;

		sink ^= fn(buf, CHECKSUM_BUF);
		gbps = CHECKSUM_BUF / (double)(now_ns() - t0);
		if (gbps > best)
			best = gbps;
	}
	return best;
}

static uint64_t xxh3_lib(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

static int run_checksum(struct result *res)
{
	uint64_t *buf = malloc(CHECKSUM_BUF), seed = 1;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < CHECKSUM_BUF / sizeof(*buf); i++)
		buf[i] = splitmix64(&seed);
	res->gbps = hash_gbps(lkv_checksum, buf);
	res->ref_gbps = hash_gbps(xxh3_lib, buf);
	free(buf);
	return 0;
}

/* ---- large values ------------------------------------------------------ */

/*
 * A large value is cut from a 64 MiB pool of splitmix64 output, so nothing
 * compresses it: value (k, gen) of vlen bytes is a 16-byte stamp (k and gen)
 * followed by pool bytes [off + 16, off + vlen), where off is a 64-byte
 * aligned function of (k, gen).  Copying every value into a buffer would put
 * a memcpy per value into the timed loop that the disk baseline does not
 * have; instead put_large writes the stamp over the pool's 16 bytes at off
 * for the duration of the put (the engines copy the value before put
 * returns) and restores them after.
 */
#define LARGE_STAMP 16u
#define LARGE_ALIGN 64u
#define MIB_BYTES   (1u << 20)

static uint8_t *pool;

static int pool_init(void)
{
	uint64_t seed = SEED_POOL;

	if (pool)
		return 0;
	if (!(pool = aligned_alloc(4096, LARGE_POOL_BYTES)))
		return -ENOMEM;
	for (size_t i = 0; i < LARGE_POOL_BYTES; i += 8) {
		uint64_t r = splitmix64(&seed);

		memcpy(pool + i, &r, 8);
	}
	return 0;
}

static size_t large_offset(uint64_t k, unsigned gen, size_t vlen)
{
	uint64_t st = k * 0x100000001b3ull + gen * 0x2545f4914f6cdd1dull + 7;

	return rand_below(&st, (LARGE_POOL_BYTES - vlen) / LARGE_ALIGN + 1) *
	       LARGE_ALIGN;
}

static void large_stamp(uint64_t k, unsigned gen, uint8_t out[LARGE_STAMP])
{
	uint64_t g = gen | 0x4c41524745000000ull;        /* "LARGE" */

	memcpy(out, &k, 8);
	memcpy(out + 8, &g, 8);
}

/* Puts value (k, gen) of st->vlen bytes. */
static int put_large(struct store *st, uint64_t k, unsigned gen)
{
	char key[BENCH_KEY_LEN];
	uint8_t *v = pool + large_offset(k, gen, st->vlen), save[LARGE_STAMP];
	int rc;

	make_key(k, key);
	memcpy(save, v, LARGE_STAMP);
	large_stamp(k, gen, v);
	rc = st->e->put(st->h, key, sizeof(key), v, st->vlen);
	memcpy(v, save, LARGE_STAMP);
	return rc;
}

/* NULL if buf (len bytes) is value (k, gen) of vlen bytes, else what is
 * wrong with it. */
static const char *large_mismatch(const uint8_t *buf, size_t len, uint64_t k,
				  unsigned gen, size_t vlen)
{
	uint8_t stamp[LARGE_STAMP];

	if (len != vlen)
		return "wrong value length";
	large_stamp(k, gen, stamp);
	if (memcmp(buf, stamp, LARGE_STAMP))
		return "value of another key or generation (wrong stamp)";
	if (memcmp(buf + LARGE_STAMP,
		   pool + large_offset(k, gen, vlen) + LARGE_STAMP,
		   vlen - LARGE_STAMP))
		return "wrong value bytes";
	return NULL;
}

/* ---- the page cache ---------------------------------------------------- */

static uint64_t pc_pages, pc_resident;
static bool pc_drop;

/* Adds the pages of fd (size bytes) to pc_pages and those of them in the
 * page cache to pc_resident (mincore over a mapping of the file). */
static void count_resident(int fd, uint64_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t pages = (size + pg - 1) / pg;
	unsigned char *vec;
	void *m;

	if (!size)
		return;
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return;
	if ((vec = malloc(pages)) && !mincore(m, size, vec)) {
		pc_pages += pages;
		for (size_t i = 0; i < pages; i++)
			pc_resident += vec[i] & 1;
	}
	free(vec);
	munmap(m, size);
}

static int cache_entry(const char *path, const struct stat *sb, int type,
		       struct FTW *ftw)
{
	int fd;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode))
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (pc_drop) {
		/* dirty pages cannot be dropped: write them back first */
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	count_resident(fd, (uint64_t)sb->st_size);
	close(fd);
	return 0;
}

/* The share of the pages of the files under dir that are in the page
 * cache; with `drop`, after writing each file back and dropping it. */
static double page_cache_share(const char *dir, bool drop)
{
	pc_pages = pc_resident = 0;
	pc_drop = drop;
	nftw(dir, cache_entry, 16, FTW_PHYS);
	return pc_pages ? (double)pc_resident / pc_pages : 0;
}

/* ---- large-value workloads --------------------------------------------- */

static int run_large_fill(struct store *st, enum workload w,
			  struct result *res);

/* Writes generation `gen` of every key in `order`, values of workload w's
 * size, then one sync, all timed. */
static int large_write_all(struct store *st, enum workload w,
			   const uint32_t *order, int gen, struct result *res)
{
	uint64_t n = large_count(st->o, w), t0, t1, t2, w0 = io_written();
	double s;
	int rc;

	st->loaded = false;
	st->vlen = large_vlen(w);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		if ((rc = put_large(st, order[i], (unsigned)gen)))
			return rc;
	t1 = now_ns();
	if ((rc = st->e->sync(st->h)))
		return rc;
	t2 = now_ns();
	s = (t2 - t0) / 1e9;
	res->ops_per_s = n / s;
	res->mbps = n * (double)st->vlen / s / 1e6;
	res->put_s = (t1 - t0) / 1e9;
	res->sync_s = (t2 - t1) / 1e9;
	res->wamp = wamp_since(w0, n * (BENCH_KEY_LEN + st->vlen));
	st->loaded = true;
	st->gen = gen;
	st->warmed = false;
	return 0;
}

/* Gives the store all values of workload w's size (an untimed fill) unless
 * it has them. */
static int ensure_large_loaded(struct store *st, enum workload w)
{
	enum workload fill = large_vlen(w) == LARGE_BIG_VLEN ? W_FILL1M : W_FILL64K;
	struct result unused = { 0 };

	if (st->loaded && st->h && st->vlen == large_vlen(w))
		return 0;
	progress(st, "loading %llu values of %zu KiB (untimed %s)",
		 (unsigned long long)large_count(st->o, w), large_vlen(w) >> 10,
		 workload_names[fill]);
	return run_large_fill(st, fill, &unused);
}

/* fill64k and fill1m: a fresh store, every key once in a random order. */
static int run_large_fill(struct store *st, enum workload w,
			  struct result *res)
{
	uint32_t *order;
	int rc;

	if ((rc = pool_init()) || (rc = store_recreate(st)))
		return rc;
	if (!(order = permutation(large_count(st->o, w), SEED_FILLRANDOM)))
		return -ENOMEM;
	st->next_gen = 1;
	rc = large_write_all(st, w, order, 0, res);
	free(order);
	return rc;
}

/* overwrite64k and overwrite1m: every key rewritten once in another random
 * order, then the space amplification: right after the sync, and after the
 * engine's gc (larch: lkv_gc) or, without one, after its background work
 * drained (RocksDB: memtable flush and compactions). */
static int run_large_overwrite(struct store *st, enum workload w,
			       struct result *res)
{
	uint64_t n = large_count(st->o, w), t0;
	double live = n * (double)(BENCH_KEY_LEN + large_vlen(w));
	uint32_t *order;
	int rc;

	if ((rc = ensure_large_loaded(st, w)))
		return rc;
	if (!(order = permutation(n, SEED_OVERWRITE)))
		return -ENOMEM;
	rc = large_write_all(st, w, order, st->next_gen++, res);
	free(order);
	if (rc)
		return rc;
	res->amp = store_dir_bytes(st->dir) / live;
	t0 = now_ns();
	if (st->e->gc) {
		if ((rc = st->e->gc(st->h)))
			return rc;
		res->settled = SETTLED_GC;
	} else if (st->e->quiesce) {
		st->e->quiesce(st->h);
		res->settled = SETTLED_DRAINED;
	}
	if (res->settled != SETTLED_NONE) {
		res->settle_s = (now_ns() - t0) / 1e9;
		res->amp_settled = store_dir_bytes(st->dir) / live;
	}
	return 0;
}

/* read64k and read1m: a get of every key, in a random order, each checked
 * (untimed), from a store just reopened with its files dropped from the
 * page cache, so the values come from the disk (compare the baseline's
 * read). */
static int run_large_read(struct store *st, enum workload w,
			  struct result *res)
{
	size_t vlen = large_vlen(w), cap = vlen + LARGE_ALIGN;
	uint64_t n = large_count(st->o, w), t = 0;
	char key[BENCH_KEY_LEN];
	uint32_t *order = NULL;
	uint8_t *buf = NULL;
	int rc;

	if ((rc = ensure_large_loaded(st, w)))
		return rc;
	if (st->e->quiesce)
		st->e->quiesce(st->h);
	if ((rc = store_close(st)))
		return rc;
	page_cache_share(st->dir, true);
	if ((rc = store_open(st, st->o->warm_cache)))
		return rc;
	if (st->e->quiesce)
		st->e->quiesce(st->h);
	res->cached = page_cache_share(st->dir, true);
	order = permutation(n, SEED_READRANDOM);
	buf = aligned_alloc(4096, cap);
	if (!order || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = order[i], t0;
		const char *why;
		size_t got = 0;

		make_key(k, key);
		t0 = now_ns();
		rc = st->e->get(st->h, key, sizeof(key), buf, cap, &got);
		t += now_ns() - t0;
		if (rc < 0)
			goto out;
		if (rc == 0)
			wrong(st, &res->wrong, k, "not found");
		else if ((why = large_mismatch(buf, got, k, (unsigned)st->gen, vlen)))
			wrong(st, &res->wrong, k, why);
	}
	rc = 0;
	res->ops_per_s = n / (t / 1e9);
	res->mbps = n * (double)vlen / (t / 1e9) / 1e6;
out:
	free(order);
	free(buf);
	return rc;
}

/* ---- the disk baseline ------------------------------------------------- */

static int full_pwrite(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int full_pread(int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int run_disk_baseline(const char *dir, uint64_t bytes, struct disk_baseline *b)
{
	uint64_t chunks = bytes / MIB_BYTES, t0, t1, t2, t_read = 0;
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	int fd, rc;

	memset(b, 0, sizeof(*b));
	b->ran = true;
	b->bytes = chunks * MIB_BYTES;
	if ((rc = pool_init()))
		return rc;
	snprintf(path, sizeof(path), "%s/disk-baseline", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		rc = -errno;
		fprintf(stderr, "kv-bench: %s: %s\n", path, strerror(errno));
		return rc;
	}
	t0 = now_ns();
	for (uint64_t i = 0; i < chunks; i++)
		if ((rc = full_pwrite(fd, pool + large_offset(i, 0, MIB_BYTES),
				      MIB_BYTES, i * MIB_BYTES)))
			goto out;
	t1 = now_ns();
	if (fdatasync(fd)) {
		rc = -errno;
		goto out;
	}
	t2 = now_ns();
	b->write_mbps = b->bytes / ((t2 - t0) / 1e9) / 1e6;
	b->pwrite_s = (t1 - t0) / 1e9;
	b->sync_s = (t2 - t1) / 1e9;

	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	pc_pages = pc_resident = 0;
	count_resident(fd, b->bytes);
	b->cached = pc_pages ? (double)pc_resident / pc_pages : 0;
	if (!(buf = aligned_alloc(4096, MIB_BYTES))) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < chunks; i++) {
		t0 = now_ns();
		rc = full_pread(fd, buf, MIB_BYTES, i * MIB_BYTES);
		t_read += now_ns() - t0;
		if (rc)
			goto out;
		if (memcmp(buf, pool + large_offset(i, 0, MIB_BYTES), MIB_BYTES))
			b->wrong++;
	}
	b->read_mbps = b->bytes / (t_read / 1e9) / 1e6;
	b->ok = true;
out:
	if (rc)
		fprintf(stderr, "kv-bench: disk baseline: %s\n", strerror(-rc));
	close(fd);
	unlink(path);
	free(buf);
	return rc;
}

/* ---- the runner -------------------------------------------------------- */

/* Runs workload w; returns 0 or a negative errno. */
static int run_one(struct store *st, enum workload w, struct result *res)
{
	double *ops = &res->ops_per_s;
	int rc = 0;

	switch (w) {
	case W_FILLSEQ:         rc = run_fill(st, false, ops, &res->wamp); break;
	case W_FILLRANDOM:      rc = run_fill(st, true, ops, &res->wamp); break;
	case W_OVERWRITE:       rc = run_overwrite(st, ops, &res->wamp); break;
	case W_READRANDOM:      rc = run_read(st, true, false, res); break;
	case W_READSEQ:         rc = run_read(st, false, false, res); break;
	case W_READRANDOM_COLD: rc = run_read(st, true, true, res); break;
	case W_READSEQ_COLD:    rc = run_read(st, false, true, res); break;
	case W_PUTFLUSH:
		if ((rc = run_putflush(st, res)))
			return rc;
		progress(st, "%-15s p50 %.1f us, p99 %.1f us, write amp %.2fx",
			 workload_names[w], res->p50_us, res->p99_us, res->wamp);
		return 0;
	case W_CHECKSUM:
		if ((rc = run_checksum(res)))
			return rc;
		progress(st, "%-15s %.2f GB/s (libxxhash XXH3_64bits %.2f GB/s)",
			 workload_names[w], res->gbps, res->ref_gbps);
		return 0;
	case W_FILL64K:
	case W_FILL1M:          rc = run_large_fill(st, w, res); break;
	case W_OVERWRITE64K:
	case W_OVERWRITE1M:     rc = run_large_overwrite(st, w, res); break;
	case W_READ64K:
	case W_READ1M:          rc = run_large_read(st, w, res); break;
	case W_COUNT:
		break;
	}
	if (rc)
		return rc;
	if (workload_is_large_write(w))
		progress(st, "%-15s %.1f MB/s, %.0f ops/s (puts %.2f s, sync "
			 "%.2f s)", workload_names[w], res->mbps, *ops,
			 res->put_s, res->sync_s);
	else if (workload_is_large(w))
		progress(st, "%-15s %.1f MB/s, %.0f ops/s (%.1f%% of the store "
			 "cached at start)%s", workload_names[w], res->mbps,
			 *ops, 100 * res->cached,
			 res->wrong ? " (WRONG RESULTS)" : "");
	else
		progress(st, "%-15s %.0f ops/s%s", workload_names[w], *ops,
			 res->wrong ? " (WRONG RESULTS)" : "");
	if (res->settled != SETTLED_NONE)
		progress(st, "%-15s space amp %.2fx after the sync, %.2fx after "
			 "%s (%.1f s)", workload_names[w], res->amp,
			 res->amp_settled, res->settled == SETTLED_GC ?
			 "gc" : "draining compactions", res->settle_s);
	else if (res->amp > 0)
		progress(st, "%-15s space amp %.2fx after the sync",
			 workload_names[w], res->amp);
	return 0;
}

int run_engine(const struct engine *e, const char *dir,
	       const struct bench_opts *o, struct result res[W_COUNT],
	       char *report, size_t cap)
{
	struct store st = { .e = e, .o = o, .dir = dir, .next_gen = 1 };
	FILE *f;
	int rc = 0;

	report[0] = '\0';
	for (int w = 0; w < W_COUNT && !rc; w++) {
		if (!o->want[w] || (w == W_CHECKSUM && e != &engine_larch))
			continue;
		res[w].ran = true;
		if ((rc = run_one(&st, w, &res[w]))) {
			res[w].failed = true;
			progress(&st, "%s FAILED: %s; skipping the rest",
				 workload_names[w], strerror(-rc));
		} else {
			res[w].done = true;
		}
		if (o->verbose && st.h && e->report)
			e->report(st.h, stderr);
	}
	if (st.h && e->report && (f = fmemopen(report, cap, "w"))) {
		setbuf(f, NULL);
		e->report(st.h, f);
		fclose(f);
		report[cap - 1] = '\0';
	}
	if (store_close(&st) && !rc)
		rc = -EIO;
	return rc ? -1 : 0;
}
