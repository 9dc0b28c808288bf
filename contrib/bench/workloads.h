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
	W_COUNT
};

extern const char *const workload_names[W_COUNT];

/* The checksum workload hashes this buffer this many times (best counts). */
#define CHECKSUM_BUF    (64u << 20)
#define CHECKSUM_ROUNDS 8

struct bench_opts {
	uint64_t n;                   /* keys */
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
	double   gbps, ref_gbps;      /* checksum: lkv_checksum, libxxhash */
};

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
