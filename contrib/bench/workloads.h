/* SPDX-License-Identifier: MIT */
/*
 * kv-bench: the workloads, and what the driver (kv-bench.c) and the
 * workload runner (workloads.c) exchange: the run's options in, one
 * `struct result` per workload out.
 */
#ifndef KV_BENCH_WORKLOADS_H
#define KV_BENCH_WORKLOADS_H

#include <limits.h>

#include "bench.h"

/* In the order they run; an engine runs all selected ones on one store. */
enum workload {
	W_FILLSEQ,
	W_FILLRANDOM,
	W_OVERWRITE,
	W_READRANDOM,
	W_READSEQ,
	W_READRANDOM_COLD,
	W_READSEQ_COLD,
	W_PUTFLUSH,
	W_CHECKSUM,
	W_FILL64K,                    /* large values (blob segments in larch) */
	W_READ64K,
	W_OVERWRITE64K,
	W_FILL1M,
	W_READ1M,
	W_OVERWRITE1M,
	W_COUNT
};

extern const char *const workload_names[W_COUNT];

/* The checksum workload hashes this buffer this many times (best counts). */
#define CHECKSUM_BUF    (64u << 20)
#define CHECKSUM_ROUNDS 8

/* The large-value workloads: values of 64 KiB (large_n of them) and of
 * 1 MiB (large_n / 16: the same bytes), pseudo-random so that nothing
 * compresses them. */
#define LARGE_SMALL_VLEN  (64u << 10)
#define LARGE_BIG_VLEN    (1u << 20)
#define LARGE_DEFAULT_N   16384u
#define LARGE_PER_BIG     (LARGE_BIG_VLEN / LARGE_SMALL_VLEN)
#define LARGE_POOL_BYTES  (64u << 20)   /* random bytes values are cut from */

static inline bool workload_is_large(int w)
{
	return w >= W_FILL64K && w <= W_OVERWRITE1M;
}

static inline bool workload_is_large_write(int w)
{
	return w == W_FILL64K || w == W_OVERWRITE64K || w == W_FILL1M ||
	       w == W_OVERWRITE1M;
}

static inline size_t large_vlen(int w)
{
	return w >= W_FILL1M ? LARGE_BIG_VLEN : LARGE_SMALL_VLEN;
}

struct bench_opts {
	uint64_t n;                   /* keys */
	uint64_t large_n;             /* 64 KiB values (1 MiB: large_n / 16) */
	unsigned putflush_iters;      /* put+flush iterations */
	bool     want[W_COUNT];
	size_t   warm_cache;          /* cache for fills and warm reads */
	size_t   cold_cache;          /* cache for the -cold reads */
	bool     verbose;             /* engine stats after every workload */
};

struct result {
	bool     ran;                 /* started */
	bool     done;                /* finished (else failed or crashed) */
	bool     failed;              /* an engine call failed */
	uint64_t wrong;               /* verification failures */
	double   ops_per_s;
	double   p50_us, p99_us;      /* put+flush latency */
	double   wamp;                /* writes: bytes this process passed to
					 write calls (/proc/self/io wchar, the
					 engine's background threads included)
					 per byte of keys and values put, from
					 the first put to the end of the sync */
	double   gbps, ref_gbps;      /* checksum: lkv_checksum, libxxhash */
	/* large-value workloads */
	double   mbps;                /* value bytes per second / 1e6 */
	double   put_s, sync_s;       /* writes: the puts, the final sync */
	double   cached;              /* reads: share of the store's file pages
					 still in the page cache when the
					 timed reads began */
	double   amp;                 /* overwrites: disk bytes / live bytes
					 right after the final sync */
	double   amp_settled;         /* the same after `settled` */
	enum { SETTLED_NONE, SETTLED_GC, SETTLED_DRAINED } settled;
	double   settle_s;            /* how long lkv_gc (or the drain) took */
};

/* Number of values the large workload w writes. */
static inline uint64_t large_count(const struct bench_opts *o, int w)
{
	return large_vlen(w) == LARGE_BIG_VLEN ? o->large_n / LARGE_PER_BIG
					       : o->large_n;
}

/* The disk baseline: what plain file I/O does on the stores' filesystem. */
struct disk_baseline {
	bool     ran, ok;
	uint64_t bytes;               /* written, then read back */
	double   write_mbps;          /* pwrite 1 MiB chunks + one fdatasync */
	double   pwrite_s, sync_s;    /* of which the pwrites, the fdatasync */
	double   read_mbps;           /* pread 1 MiB chunks after dropping */
	double   cached;              /* share still cached after the drop */
	uint64_t wrong;               /* chunks read back wrong */
};

/* Writes `bytes` (a multiple of 1 MiB) of the large-value pool to a new
 * file in dir with pwrite in 1 MiB chunks plus one fdatasync, timed; then
 * drops the file from the page cache (POSIX_FADV_DONTNEED) and reads it
 * back with pread in 1 MiB chunks, timed, checking every chunk untimed.
 * Removes the file.  Returns 0 or a negative errno. */
int run_disk_baseline(const char *dir, uint64_t bytes, struct disk_baseline *b);

/* Runs every selected workload on `e` with its store in `dir` (an empty
 * directory), filling res[] as each finishes and printing progress on
 * stderr.  The engine's final report goes to `report` (cap bytes, NUL
 * terminated).  Returns 0, or -1 once a workload failed (later ones are
 * skipped). */
int run_engine(const struct engine *e, const char *dir,
	       const struct bench_opts *o, struct result res[W_COUNT],
	       char *report, size_t cap);

/* rm -rf of a store directory; 0 or a negative errno. */
int store_dir_remove(const char *dir);
/* Bytes allocated on disk under dir. */
uint64_t store_dir_bytes(const char *dir);

#endif
