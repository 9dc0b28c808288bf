/* SPDX-License-Identifier: MIT */
/*
 * kv-bench: db_bench-style workloads on larchkv, LMDB and RocksDB in one run.
 *
 * This file is the driver: it parses the options, runs each engine's
 * workloads (workloads.c) in a child process of its own, and prints the
 * table.  A child per engine keeps the engines apart (no RocksDB compaction
 * thread running while larch is measured, a fresh heap each, a max RSS and a
 * CPU time per engine from wait4) and turns an engine crash into a report
 * line instead of a lost run.  Results come back through a shared mapping.
 *
 * When a large-value workload is selected, the parent first measures the
 * disk baseline (plain pwrite + fdatasync and pread of a file next to the
 * stores, workloads.c) so the large-value numbers can be read against what
 * the disk itself does.
 *
 * Output: a header, one line per workload with each engine's number and
 * larch's ratio to it (>1 always means larch is faster), the space
 * amplification after the large overwrites, the disk baseline and each
 * engine's large-value throughput as a fraction of it, the disk, memory and
 * CPU each engine used, notes on how each engine was driven, and the
 * engines' own statistics at the end of their runs.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workloads.h"

#define DEFAULT_N          1000000ull
#define DEFAULT_PUTFLUSH   20000u
#define DEFAULT_BASE       "/var/tmp"
#define WARM_CACHE         (1ull << 30)
#define COLD_CACHE_PERCENT 10
#define REPORT_CAP         16384
#define MIB                (1024.0 * 1024.0)

static const struct engine *const engines[] = {
	&engine_larch, &engine_lmdb, &engine_rocksdb,
};
#define N_ENGINES (sizeof(engines) / sizeof(engines[0]))
#define LARCH 0                       /* index of larch in engines[] */

/* What one engine's run produced; lives in memory shared with its child. */
struct engine_run {
	bool          selected;
	bool          started;
	int           crash_signal;       /* killed by this signal, or 0 */
	int           rc;                 /* run_engine's return */
	struct result res[W_COUNT];
	char          report[REPORT_CAP];
	uint64_t      disk_bytes;         /* store size after close */
	double        max_rss_mib, cpu_s;
};

static char base_dir[PATH_MAX];
#define BASELINE_ROUNDS 3               /* the disk baseline: best of */
static struct disk_baseline baseline;  /* the best write and best read */
static double base_write[BASELINE_ROUNDS], base_read[BASELINE_ROUNDS];
static int base_rounds;
static double busy_start, busy_end;     /* machine-wide busy CPU-s */
static uint64_t wall_start, wall_end;
static bool base_is_ours, keep_stores;
static volatile sig_atomic_t interrupted;

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: kv-bench [-n N] [-w LIST] [-d DIR] [-p ITERS] [-k] [-v]\n"
"                [--large-n N] [--engine larch|lmdb|rocksdb]\n"
"  -n N        keys per store (default %llu)\n"
"  -w LIST     comma-separated workloads (default all):\n"
"              fillseq,fillrandom,overwrite,readrandom,readseq,\n"
"              readrandom-cold,readseq-cold,put+flush,checksum,\n"
"              fill64k,read64k,overwrite64k,fill1m,read1m,overwrite1m\n"
"  -d DIR      put the stores in DIR/<engine> (default: a fresh\n"
"              %s/kv-bench.XXXXXX, removed at exit)\n"
"  -p ITERS    put+flush iterations (default %u)\n"
"  -k          keep the stores (for inspection or a repro)\n"
"  -v          print each engine's stats after every workload\n"
"  --large-n N 64 KiB values for the *64k workloads (default %u, 1 GiB);\n"
"              the *1m workloads write N/16 values of 1 MiB\n"
"  --engine E  run only engine E (repeatable)\n",
		(unsigned long long)DEFAULT_N, DEFAULT_BASE, DEFAULT_PUTFLUSH,
		LARGE_DEFAULT_N);
}

static int parse_workloads(char *list, bool want[W_COUNT])
{
	memset(want, 0, sizeof(bool) * W_COUNT);
	for (char *save, *w = strtok_r(list, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		int i;

		if (!strcmp(w, "all")) {
			for (i = 0; i < W_COUNT; i++)
				want[i] = true;
			continue;
		}
		for (i = 0; i < W_COUNT && strcmp(w, workload_names[i]); i++)
			;
		if (i == W_COUNT) {
			fprintf(stderr, "kv-bench: unknown workload '%s'\n", w);
			return -1;
		}
		want[i] = true;
	}
	return 0;
}

static int select_engine(const char *name, struct engine_run runs[])
{
	for (size_t i = 0; i < N_ENGINES; i++)
		if (!strcmp(name, engines[i]->name)) {
			runs[i].selected = true;
			return 0;
		}
	fprintf(stderr, "kv-bench: unknown engine '%s'\n", name);
	return -1;
}

/* Parses argv into o and runs[].selected; exits on bad usage. */
static void parse_args(int argc, char **argv, struct bench_opts *o,
		       struct engine_run runs[], const char **dir)
{
	static const struct option longopts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "large-n", required_argument, NULL, 'L' },
		{ "help",   no_argument,       NULL, 'h' },
		{ 0 },
	};
	bool any_engine = false;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->n = DEFAULT_N;
	o->putflush_iters = DEFAULT_PUTFLUSH;
	o->large_n = LARGE_DEFAULT_N;
	for (int w = 0; w < W_COUNT; w++)
		o->want[w] = true;
	while ((c = getopt_long(argc, argv, "n:w:d:p:kvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->n = strtoull(optarg, &end, 10);
			if (*end || o->n < 1 || o->n > UINT32_MAX)
				goto bad;
			break;
		case 'p':
			o->putflush_iters = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->putflush_iters < 1)
				goto bad;
			break;
		case 'w':
			if (parse_workloads(optarg, o->want))
				goto bad;
			break;
		case 'd':
			*dir = optarg;
			break;
		case 'L':
			o->large_n = strtoull(optarg, &end, 10);
			if (*end || o->large_n < LARGE_PER_BIG ||
			    o->large_n > UINT32_MAX)
				goto bad;
			break;
		case 'k':
			keep_stores = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'e':
			if (select_engine(optarg, runs))
				goto bad;
			any_engine = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	for (size_t i = 0; i < N_ENGINES && !any_engine; i++)
		runs[i].selected = true;
	o->warm_cache = WARM_CACHE;
	o->cold_cache = o->n * (BENCH_KEY_LEN + BENCH_VALUE_LEN) *
			COLD_CACHE_PERCENT / 100;
	return;
bad:
	usage(stderr);
	exit(2);
}

/* ---- store directories ------------------------------------------------- */

static void remove_base(void)
{
	if (base_is_ours && !keep_stores)
		store_dir_remove(base_dir);
}

/* Sets base_dir: `dir` as given (created if missing), or a fresh temporary
 * directory under /var/tmp that is removed at exit.  Returns 0 or -1. */
static int make_base(const char *dir)
{
	if (dir) {
		snprintf(base_dir, sizeof(base_dir), "%s", dir);
		if (mkdir(base_dir, 0755) && errno != EEXIST) {
			fprintf(stderr, "kv-bench: mkdir %s: %s\n", base_dir,
				strerror(errno));
			return -1;
		}
		return 0;
	}
	snprintf(base_dir, sizeof(base_dir), "%s/kv-bench.XXXXXX", DEFAULT_BASE);
	if (!mkdtemp(base_dir)) {
		fprintf(stderr, "kv-bench: mkdtemp %s: %s\n", base_dir,
			strerror(errno));
		return -1;
	}
	base_is_ours = true;
	atexit(remove_base);
	return 0;
}

/* ---- one engine in a child process ------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Runs engine i in a child; fills runs[i] (shared with the child). */
static void run_in_child(size_t i, const struct bench_opts *o,
			 struct engine_run *run)
{
	char dir[PATH_MAX];
	struct rusage ru = { 0 };
	int status = 0;
	pid_t pid;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", base_dir,
			     engines[i]->name) >= sizeof(dir)) {
		fprintf(stderr, "kv-bench: store path too long\n");
		run->rc = -1;
		return;
	}
	if (access(dir, F_OK) == 0) {
		fprintf(stderr, "kv-bench: %s exists; remove it or use another "
			"-d\n", dir);
		run->rc = -1;
		return;
	}
	run->started = true;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "kv-bench: fork: %s\n", strerror(errno));
		run->rc = -1;
		return;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		run->rc = run_engine(engines[i], dir, o, run->res, run->report,
				     sizeof(run->report));
		fflush(NULL);
		_exit(0);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR)
			break;
		if (interrupted)
			kill(pid, SIGTERM);
	}
	if (WIFSIGNALED(status)) {
		run->crash_signal = WTERMSIG(status);
		fprintf(stderr, "[%s] CRASHED: %s\n", engines[i]->name,
			strsignal(run->crash_signal));
	}
	run->max_rss_mib = ru.ru_maxrss / 1024.0;
	run->cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		     (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	run->disk_bytes = store_dir_bytes(dir);
	if (!keep_stores)
		store_dir_remove(dir);
}

/* ---- other load on the machine ---------------------------------------- */

/* CPU-seconds all CPUs spent busy since boot (/proc/stat: user, nice,
 * system, irq, softirq, steal), or 0 when unreadable. */
static double machine_busy_s(void)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user,
		   &nice, &sys, &idle, &iowait, &irq, &softirq, &steal);
	fclose(f);
	if (n != 8)
		return 0;
	return (double)(user + nice + sys + irq + softirq + steal) /
	       sysconf(_SC_CLK_TCK);
}

/* Says how much CPU other processes used while the engines ran: the
 * engines' numbers are only comparable on an otherwise idle machine. */
static void print_other_load(const struct engine_run runs[])
{
	double ours = 0, wall = (wall_end - wall_start) / 1e9;
	double other, share;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	struct rusage self;

	for (size_t i = 0; i < N_ENGINES; i++)
		ours += runs[i].cpu_s;
	if (getrusage(RUSAGE_SELF, &self) == 0)   /* the disk baseline */
		ours += self.ru_utime.tv_sec + self.ru_stime.tv_sec +
			(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
	other = busy_end - busy_start - ours;
	if (other < 0)
		other = 0;
	share = wall > 0 && cpus > 0 ? other / (wall * cpus) : 0;
	printf("other processes used %.1f CPU-s during the %.0f s run "
	       "(%.0f%% of %ld CPUs)%s\n", other, wall, 100 * share, cpus,
	       share > 0.05 ? " -- machine busy: numbers NOT reliable" : "");
}

/* ---- the table --------------------------------------------------------- */

/* Appends to buf (of size cap) at *len. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

/* Why engine i has no number for workload w, or NULL if it has one. */
static const char *missing(const struct engine_run *r, enum workload w)
{
	if (!r->res[w].ran)
		return r->crash_signal ? "-" : "skipped";
	if (r->res[w].failed)
		return "FAILED";
	if (!r->res[w].done)
		return r->crash_signal ? "CRASHED" : "unfinished";
	return NULL;
}

/* One engine's cell of a throughput row; `first` cells carry the unit. */
static void cell_ops(char *b, size_t cap, size_t *len, size_t i,
		     const struct engine_run runs[], enum workload w, bool first)
{
	const struct result *r = &runs[i].res[w];
	const struct result *larch = &runs[LARCH].res[w];
	const char *why = missing(&runs[i], w);
	bool ratio = i != LARCH && !missing(&runs[LARCH], w);
	bool mmap_note = i != LARCH && engines[i] == &engine_lmdb &&
		(w == W_READRANDOM_COLD || w == W_READSEQ_COLD);

	put(b, cap, len, "%s%s ", first ? "" : " | ", engines[i]->name);
	if (why) {
		put(b, cap, len, "%s", why);
		return;
	}
	if (workload_is_large(w))
		put(b, cap, len, "%.1f MB/s %.0f ops/s", r->mbps, r->ops_per_s);
	else
		put(b, cap, len, "%.0f%s", r->ops_per_s, first ? " ops/s" : "");
	if (ratio && mmap_note)
		put(b, cap, len, " (%.2fx, mmap)", larch->ops_per_s / r->ops_per_s);
	else if (ratio)
		put(b, cap, len, " (%.2fx)", larch->ops_per_s / r->ops_per_s);
	else if (mmap_note)
		put(b, cap, len, " (mmap)");
	if (workload_is_large(w) && !workload_is_large_write(w) &&
	    r->cached >= 0.01)
		put(b, cap, len, " [%.0f%% was cached]", 100 * r->cached);
	if (r->wrong)
		put(b, cap, len, " WRONG x%llu", (unsigned long long)r->wrong);
}

/* One engine's cell of the put+flush row (latency: ratio is peer/larch). */
static void cell_latency(char *b, size_t cap, size_t *len, size_t i,
			 const struct engine_run runs[], bool first)
{
	const struct result *r = &runs[i].res[W_PUTFLUSH];
	const struct result *larch = &runs[LARCH].res[W_PUTFLUSH];
	const char *why = missing(&runs[i], W_PUTFLUSH);
	bool ratio = i != LARCH && !missing(&runs[LARCH], W_PUTFLUSH);

	put(b, cap, len, "%s%s ", first ? "" : " | ", engines[i]->name);
	if (why) {
		put(b, cap, len, "%s", why);
		return;
	}
	if (ratio)
		put(b, cap, len, "p50 %.0f (%.2fx) p99 %.0f (%.2fx)",
		    r->p50_us, r->p50_us / larch->p50_us,
		    r->p99_us, r->p99_us / larch->p99_us);
	else
		put(b, cap, len, "p50 %.0f us p99 %.0f us", r->p50_us, r->p99_us);
}

static void print_header(const struct bench_opts *o,
			 const struct engine_run runs[])
{
	uint64_t raw = o->n * (BENCH_KEY_LEN + BENCH_VALUE_LEN);

	printf("kv-bench: %llu keys, %u B keys, %u B values (half random, "
	       "~2x compressible), %.1f MiB raw; stores in %s\n",
	       (unsigned long long)o->n, BENCH_KEY_LEN, BENCH_VALUE_LEN,
	       raw / MIB, base_dir);
	printf("cache: warm %.0f MiB; -cold = reopened with %.1f MiB "
	       "(%d%% of raw data)\n", o->warm_cache / MIB, o->cold_cache / MIB,
	       COLD_CACHE_PERCENT);
	for (int w = W_FILL64K; w <= W_OVERWRITE1M; w++)
		if (o->want[w]) {
			printf("large values: %llu x 64 KiB, %llu x 1 MiB "
			       "(%.0f MiB per fill), %u B keys, incompressible; "
			       "MB/s = 10^6 value bytes/s\n",
			       (unsigned long long)large_count(o, W_FILL64K),
			       (unsigned long long)large_count(o, W_FILL1M),
			       large_count(o, W_FILL64K) * (double)LARGE_SMALL_VLEN / MIB,
			       BENCH_KEY_LEN);
			break;
		}
	print_other_load(runs);
	printf("engines:");
	for (size_t i = 0; i < N_ENGINES; i++)
		if (runs[i].selected)
			printf(" %s", engines[i]->name);
	printf("; (x) = larch/peer for ops/s, peer/larch for put+flush "
	       "latency (us): >1 means larch is faster\n");
}

static void print_row(enum workload w, const struct bench_opts *o,
		      const struct engine_run runs[])
{
	char b[512];
	size_t len = 0;
	bool first = true;

	if (w == W_CHECKSUM) {
		const struct result *r = &runs[LARCH].res[w];
		const char *why = missing(&runs[LARCH], w);

		if (!runs[LARCH].selected)
			return;
		if (why)
			printf("%-15s larch %s\n", workload_names[w], why);
		else
			printf("%-15s larch %.2f GB/s (lkv_checksum, %u MiB "
			       "buffer, best of %d) | libxxhash XXH3_64bits "
			       "%.2f GB/s\n", workload_names[w], r->gbps,
			       CHECKSUM_BUF >> 20, CHECKSUM_ROUNDS, r->ref_gbps);
		return;
	}
	for (size_t i = 0; i < N_ENGINES; i++) {
		if (!runs[i].selected)
			continue;
		if (w == W_PUTFLUSH)
			cell_latency(b, sizeof(b), &len, i, runs, first);
		else
			cell_ops(b, sizeof(b), &len, i, runs, w, first);
		first = false;
	}
	if (w == W_PUTFLUSH)
		put(b, sizeof(b), &len, "   [%u iterations, us]",
		    o->putflush_iters);
	printf("%-15s %s\n", workload_names[w], b);
}

/* Space amplification after the large overwrites: disk bytes / live
 * bytes, right after the sync and after gc (larch) or draining (RocksDB). */
static void print_space_amp(const struct bench_opts *o,
			    const struct engine_run runs[])
{
	static const enum workload ws[] = { W_OVERWRITE64K, W_OVERWRITE1M };

	for (size_t k = 0; k < 2; k++) {
		enum workload w = ws[k];
		bool first = true;

		if (!o->want[w])
			continue;
		printf("%-15s", w == W_OVERWRITE64K ? "space amp 64k" :
						       "space amp 1m");
		for (size_t i = 0; i < N_ENGINES; i++) {
			const struct result *r = &runs[i].res[w];
			const char *why = missing(&runs[i], w);

			if (!runs[i].selected)
				continue;
			printf("%s%s ", first ? " " : " | ", engines[i]->name);
			first = false;
			if (why) {
				printf("%s", why);
				continue;
			}
			printf("%.2fx", r->amp);
			if (r->settled == SETTLED_GC)
				printf(", %.2fx after lkv_gc (%.1f s)",
				       r->amp_settled, r->settle_s);
			else if (r->settled == SETTLED_DRAINED)
				printf(", %.2fx after flush+compactions drained "
				       "(%.1f s)", r->amp_settled, r->settle_s);
		}
		printf("\n");
	}
}

/* Write amplification of the write workloads: bytes each engine's process
 * passed to write calls (/proc/self/io wchar, background threads
 * included, from the first put to the end of the sync; compaction left
 * for later is not counted) per byte of keys and values put. */
static void print_write_amp(const struct bench_opts *o, const struct engine_run runs[])
{
	static const enum workload ws[] = {
		W_FILLSEQ, W_FILLRANDOM, W_OVERWRITE, W_PUTFLUSH,
		W_FILL64K, W_OVERWRITE64K, W_FILL1M, W_OVERWRITE1M,
	};
	bool any = false;

	for (size_t k = 0; k < sizeof(ws) / sizeof(ws[0]); k++) {
		enum workload w = ws[k];
		char label[40];
		bool first = true;

		if (!o->want[w])
			continue;
		if (!any)
			printf("write amp: bytes the engine's process passed to write calls "
			       "per byte of keys and values put\n");
		any = true;
		snprintf(label, sizeof(label), "  %s", workload_names[w]);
		printf("%-15s", label);
		for (size_t i = 0; i < N_ENGINES; i++) {
			const char *why = missing(&runs[i], w);

			if (!runs[i].selected)
				continue;
			printf("%s%s ", first ? " " : " | ", engines[i]->name);
			first = false;
			if (why)
				printf("%s", why);
			else
				printf("%.2fx", runs[i].res[w].wamp);
		}
		printf("\n");
	}
}

#define WRITE_TARGET 0.8     /* larch large writes vs the disk baseline */

/* The disk baseline, and each engine's large-value throughput as a
 * fraction of it (writes of the write baseline, reads of the read one). */
static void print_baseline(const struct bench_opts *o,
			   const struct engine_run runs[])
{
	static const enum workload ws[] = {
		W_FILL64K, W_OVERWRITE64K, W_FILL1M, W_OVERWRITE1M,
		W_READ64K, W_READ1M,
	};
	const struct disk_baseline *b = &baseline;

	if (!b->ran)
		return;
	if (!b->ok) {
		printf("%-15s FAILED\n", "disk baseline");
		return;
	}
	printf("%-15s %.1f MB/s: %.0f MiB in 1 MiB pwrites (%.2f s), then one "
	       "fdatasync (%.2f s); best of", "disk write", b->write_mbps,
	       b->bytes / MIB, b->pwrite_s, b->sync_s);
	for (int r = 0; r < base_rounds; r++)
		printf("%s %.0f", r ? "," : "", base_write[r]);
	printf("\n%-15s %.1f MB/s: the file in 1 MiB preads after fdatasync + "
	       "POSIX_FADV_DONTNEED (%.1f%% still cached); best of", "disk read",
	       b->read_mbps, 100 * b->cached);
	for (int r = 0; r < base_rounds; r++)
		printf("%s %.0f", r ? "," : "", base_read[r]);
	printf("%s\n", b->wrong ? " -- READ BACK WRONG" : "");
	for (size_t k = 0; k < sizeof(ws) / sizeof(ws[0]); k++) {
		enum workload w = ws[k];
		bool wr = workload_is_large_write(w), first = true;
		double base = wr ? b->write_mbps : b->read_mbps;
		char label[32];

		if (!o->want[w])
			continue;
		snprintf(label, sizeof(label), " %s", workload_names[w]);
		printf("%-15s", label);
		for (size_t i = 0; i < N_ENGINES; i++) {
			const struct result *r = &runs[i].res[w];
			const char *why = missing(&runs[i], w);

			if (!runs[i].selected)
				continue;
			printf("%s%s ", first ? " " : " | ", engines[i]->name);
			if (why) {
				printf("%s", why);
				first = false;
				continue;
			}
			printf("%.2f", r->mbps / base);
			if (first)
				printf(" of disk %s", wr ? "write" : "read");
			if (wr)
				printf(" (puts %.2f s + sync %.2f s)", r->put_s,
				       r->sync_s);
			if (wr && i == LARCH)
				printf(" [target %.2f: %s]", WRITE_TARGET,
				       r->mbps / base >= WRITE_TARGET ? "met" :
								       "MISSED");
			first = false;
		}
		printf("\n");
	}
}

/* Disk, memory and CPU per engine: not ratios, just what each used. */
static void print_resources(const struct engine_run runs[])
{
	static const char *const label[] = { "disk MiB", "max RSS MiB",
					     "cpu s" };

	for (int row = 0; row < 3; row++) {
		bool first = true;

		printf("%-15s", label[row]);
		for (size_t i = 0; i < N_ENGINES; i++) {
			const struct engine_run *r = &runs[i];
			double v = row == 0 ? r->disk_bytes / MIB :
				   row == 1 ? r->max_rss_mib : r->cpu_s;

			if (!r->started)
				continue;
			printf("%s%s %.1f", first ? " " : " | ",
			       engines[i]->name, v);
			first = false;
		}
		printf("\n");
	}
}

static void print_notes(const struct bench_opts *o,
			const struct engine_run runs[])
{
	printf("notes: fills and overwrite end with one durable sync, timed; "
	       "overwrite rewrites every key once in random order;\n"
	       "  readrandom = N gets of uniformly random existing keys; "
	       "every read workload is repeated untimed to verify each "
	       "key and value;\n"
	       "  warm reads follow one untimed full scan; -cold reads follow "
	       "a close and reopen (the OS page cache is not dropped);\n"
	       "  disk = store size after the engine's last workload; "
	       "RSS and cpu (user+sys) cover the engine's whole run, "
	       "untimed passes included\n");
	for (int w = W_FILL64K; w <= W_OVERWRITE1M; w++)
		if (o->want[w]) {
			printf("  large values: 16 B key, then a 16 B (key, "
			       "generation) stamp and bytes cut from a 64 MiB "
			       "pool of random bytes (in every engine's max "
			       "RSS);\n"
			       "    fill = puts in random order into a new store, "
			       "overwrite = every key once in another random "
			       "order, each + one timed sync;\n"
			       "    read64k/read1m = a get of every key in random "
			       "order, each timed alone and checked untimed, "
			       "after a close,\n"
			       "    fdatasync + POSIX_FADV_DONTNEED of every store "
			       "file and a reopen (values come from the disk); "
			       "[N%% was cached] if not;\n"
			       "    space amp = store bytes on disk (st_blocks) / "
			       "N x (16 B + value); disk baseline = a file in "
			       "the stores' directory, written and read before "
			       "the engines ran\n");
			break;
		}
	for (size_t i = 0; i < N_ENGINES; i++)
		if (runs[i].selected)
			printf("  %s\n", engines[i]->notes);
}

static void print_reports(const struct engine_run runs[])
{
	for (size_t i = 0; i < N_ENGINES; i++)
		if (runs[i].report[0])
			printf("\n%s%s", runs[i].report,
			       runs[i].report[strlen(runs[i].report) - 1] == '\n' ?
			       "" : "\n");
}

/* ---- the disk baseline ------------------------------------------------- */

/* Runs the disk baseline BASELINE_ROUNDS times and keeps the best write
 * and the best read: on a VM the first touch of guest memory (the page
 * cache the writes fill) can cost more than the disk itself, so a single
 * round may measure the memory rather than the disk. */
static void measure_baseline(uint64_t bytes)
{
	fprintf(stderr, "[disk] baseline: %llu MiB in 1 MiB pwrites + "
		"fdatasync, then preads, best of %d\n",
		(unsigned long long)(bytes >> 20), BASELINE_ROUNDS);
	baseline.ran = true;
	for (int r = 0; r < BASELINE_ROUNDS && !interrupted; r++) {
		struct disk_baseline one;

		if (run_disk_baseline(base_dir, bytes, &one)) {
			baseline.ok = false;
			return;
		}
		fprintf(stderr, "[disk] write %.1f MB/s (pwrites %.2f s, "
			"fdatasync %.2f s), read %.1f MB/s (%.1f%% cached)\n",
			one.write_mbps, one.pwrite_s, one.sync_s, one.read_mbps,
			100 * one.cached);
		base_write[r] = one.write_mbps;
		base_read[r] = one.read_mbps;
		base_rounds = r + 1;
		baseline.ok = true;
		baseline.bytes = one.bytes;
		baseline.wrong += one.wrong;
		if (one.write_mbps > baseline.write_mbps) {
			baseline.write_mbps = one.write_mbps;
			baseline.pwrite_s = one.pwrite_s;
			baseline.sync_s = one.sync_s;
		}
		if (one.read_mbps > baseline.read_mbps) {
			baseline.read_mbps = one.read_mbps;
			baseline.cached = one.cached;
		}
	}
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct engine_run *runs;
	struct sigaction sa = { .sa_handler = on_signal };
	const char *dir = NULL;
	int status = 0;

	runs = mmap(NULL, sizeof(*runs) * N_ENGINES, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (runs == MAP_FAILED) {
		perror("kv-bench: mmap");
		return 1;
	}
	parse_args(argc, argv, &o, runs, &dir);
	if (make_base(dir))
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	busy_start = machine_busy_s();
	wall_start = now_ns();

	for (int w = W_FILL64K; w <= W_OVERWRITE1M; w++)
		if (o.want[w]) {
			measure_baseline(o.large_n * LARGE_SMALL_VLEN);
			break;
		}

	for (size_t i = 0; i < N_ENGINES && !interrupted; i++)
		if (runs[i].selected)
			run_in_child(i, &o, &runs[i]);
	if (interrupted) {
		fprintf(stderr, "kv-bench: interrupted\n");
		return 130;
	}
	busy_end = machine_busy_s();
	wall_end = now_ns();

	print_header(&o, runs);
	for (int w = 0; w < W_COUNT; w++)
		if (o.want[w])
			print_row(w, &o, runs);
	print_space_amp(&o, runs);
	print_write_amp(&o, runs);
	print_baseline(&o, runs);
	print_resources(runs);
	print_notes(&o, runs);
	print_reports(runs);

	if (baseline.ran && (!baseline.ok || baseline.wrong))
		status = 1;
	for (size_t i = 0; i < N_ENGINES; i++) {
		if (!runs[i].selected)
			continue;
		if (runs[i].rc || runs[i].crash_signal)
			status = 1;
		for (int w = 0; w < W_COUNT; w++)
			if (runs[i].res[w].wrong)
				status = 1;
	}
	return status;
}
