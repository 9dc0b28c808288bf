/* SPDX-License-Identifier: MIT */
/*
 * fs-ops: the timed inner loops of contrib/bench/fs-bench.  One process
 * makes the system calls of one benchmark phase in a loop and says how
 * long they took, so the numbers measure the filesystem and not a
 * process or interpreter per file (a fork+exec costs more than most of
 * the operations measured here).
 *
 *   fs-ops create      DIR N DIRS        N empty files (DIRS = 0: all in DIR)
 *   fs-ops stat        DIR N DIRS [K]    stat of each (or of the first K of
 *                                        the shuffle), in a shuffled order
 *   fs-ops statmissing DIR N DIRS        stat of N names that do not exist
 *   fs-ops readdir     DIR N DIRS        readdir of every directory + lstat
 *   fs-ops rename      DIR N DIRS        rename of each file in its directory
 *   fs-ops unlink      DIR N DIRS        unlink of each renamed file, rmdir
 *   fs-ops writefiles  DIR N DIRS SIZE   N files of SIZE random bytes
 *   fs-ops readfiles   DIR N DIRS SIZE   read them back, checking the size
 *   fs-ops seqwrite    FILE BYTES BS     BS-sized writes, then fsync
 *   fs-ops seqread     FILE BS           BS-sized reads to the end
 *   fs-ops fsync-loop  DIR THREADS SECS  4 KiB pwrite + fsync per op
 *
 * Layout: with DIRS = 0 file i is DIR/f%08u; else the files are spread in
 * order over DIRS subdirectories DIR/d%04u, ceil(N / DIRS) to a directory.
 * `rename` turns f%08u into r%08u in the same directory, and `unlink`
 * removes the r names and the subdirectories, so the metadata phases run
 * in the order create, stat, statmissing, readdir, rename, unlink.
 *
 * Every phase that changes the filesystem (create, rename, unlink,
 * writefiles) ends with syncfs() inside the timed interval: without it the
 * kernel's own filesystem would be measured writing to memory.  On a FUSE
 * mount syncfs writes the kernel's dirty pages back to the daemon but does
 * not ask the daemon to make anything durable (Linux sends FUSE_SYNCFS to
 * virtiofs only); seqwrite and fsync-loop use fsync, which reaches every
 * filesystem.
 *
 * Data is pseudo-random (splitmix64, fixed seed) and generated before the
 * clock starts, so compressing filesystems see incompressible bytes and no
 * time goes into making them.  The shuffle of `stat` uses a fixed seed too,
 * so every filesystem sees the same order.
 *
 * Output: one line of name=value pairs on stdout, e.g.
 *   ops=100000 secs=1.234567 ops_s=81000.1 mib_s=0.0
 * and for fsync-loop also p50_us= and p99_us= (over every op of every
 * thread).  Exit status 0, or 1 with a message on stderr when a call
 * fails or a check does not hold (a missing file, a wrong size).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RANDOM_BYTES   (64u << 20)   /* pre-generated data, cycled through */
#define FSYNC_BLOCK    4096u
#define FSYNC_BLOCKS   256u          /* each thread overwrites a 1 MiB file */
#define MAX_THREADS    64
#define SHUFFLE_SEED   42u
#define DATA_SEED      7u

/* ---- helpers ---- */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fs-ops: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* Returns RANDOM_BYTES of pseudo-random data (same every run). */
static unsigned char *random_data(void)
{
	uint64_t *p = xmalloc(RANDOM_BYTES), s = DATA_SEED;

	for (size_t i = 0; i < RANDOM_BYTES / sizeof(*p); i++)
		p[i] = splitmix64(&s);
	return (unsigned char *)p;
}

/* A slice of len bytes of the random data for item i (len < RANDOM_BYTES). */
static const unsigned char *data_for(const unsigned char *data, uint64_t i, size_t len)
{
	uint64_t span = RANDOM_BYTES - len;

	return data + ((i * 1000003ull * 4096ull) % (span + 1) & ~(uint64_t)63);
}

static unsigned long long parse_num(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad %s '%s'", what, s);
	return v;
}

static double parse_secs(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0))
		die("bad seconds '%s'", s);
	return v;
}

static void do_syncfs(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || syncfs(fd) != 0)
		die("syncfs %s: %s", path, strerror(errno));
	close(fd);
}

static void report(unsigned long long ops, double secs, double bytes)
{
	printf("ops=%llu secs=%.6f ops_s=%.1f mib_s=%.2f\n", ops, secs,
	       secs > 0 ? (double)ops / secs : 0.0,
	       secs > 0 ? bytes / secs / 1048576.0 : 0.0);
}

/* ---- the file layout shared by the metadata and small-file phases ---- */

struct layout {
	const char *dir;
	unsigned n;         /* files */
	unsigned dirs;      /* 0: flat */
	unsigned per_dir;   /* files per subdirectory */
};

static struct layout layout_of(char **argv)
{
	struct layout l = { .dir = argv[0] };

	l.n = (unsigned)parse_num(argv[1], "count");
	l.dirs = (unsigned)parse_num(argv[2], "directory count");
	l.per_dir = l.dirs ? (l.n + l.dirs - 1) / l.dirs : l.n;
	if (l.per_dir == 0)
		l.per_dir = 1;
	return l;
}

/* Writes the path of item i, with prefix letter c, into buf. */
static void item_path(const struct layout *l, char c, unsigned i, char *buf, size_t len)
{
	int r;

	if (l->dirs)
		r = snprintf(buf, len, "%s/d%04u/%c%08u", l->dir, i / l->per_dir, c, i);
	else
		r = snprintf(buf, len, "%s/%c%08u", l->dir, c, i);
	if (r < 0 || (size_t)r >= len)
		die("path too long under %s", l->dir);
}

static void subdir_path(const struct layout *l, unsigned d, char *buf, size_t len)
{
	int r = snprintf(buf, len, "%s/d%04u", l->dir, d);

	if (r < 0 || (size_t)r >= len)
		die("path too long under %s", l->dir);
}

/* Subdirectories actually used (the last may be short, trailing ones empty). */
static unsigned used_dirs(const struct layout *l)
{
	return l->dirs ? (l->n + l->per_dir - 1) / l->per_dir : 0;
}

static void make_dirs(const struct layout *l)
{
	char path[4096];

	for (unsigned d = 0; d < used_dirs(l); d++) {
		subdir_path(l, d, path, sizeof(path));
		if (mkdir(path, 0755) != 0)
			die("mkdir %s: %s", path, strerror(errno));
	}
}

/* ---- metadata phases ---- */

static void op_create(const struct layout *l)
{
	char path[4096];
	double t0 = now();

	make_dirs(l);
	for (unsigned i = 0; i < l->n; i++) {
		item_path(l, 'f', i, path, sizeof(path));
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create %s: %s", path, strerror(errno));
		close(fd);
	}
	do_syncfs(l->dir);
	report(l->n, now() - t0, 0);
}

/* Fisher-Yates over 0..n-1 with a fixed seed: the same order everywhere. */
static unsigned *shuffled(unsigned n)
{
	unsigned *p = xmalloc((size_t)n * sizeof(*p));
	uint64_t s = SHUFFLE_SEED;

	for (unsigned i = 0; i < n; i++)
		p[i] = i;
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)(splitmix64(&s) % i), t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

static void op_stat(const struct layout *l, bool missing, unsigned count)
{
	unsigned *order = shuffled(l->n);
	char path[4096];
	struct stat st;
	double t0 = now();

	for (unsigned k = 0; k < count; k++) {
		item_path(l, missing ? 'm' : 'f', order[k], path, sizeof(path));
		int r = stat(path, &st);
		if (missing ? (r == 0 || errno != ENOENT) : r != 0)
			die("stat %s: %s", path, r == 0 ? "exists" : strerror(errno));
	}
	report(count, now() - t0, 0);
	free(order);
}

/* Reads one directory and lstats each entry; returns the entries seen. */
static unsigned list_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	struct stat st;
	unsigned n = 0;

	if (!d)
		die("opendir %s: %s", path, strerror(errno));
	while ((errno = 0, e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] ||
		    (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			die("lstat %s/%s: %s", path, e->d_name, strerror(errno));
		n++;
	}
	if (errno)
		die("readdir %s: %s", path, strerror(errno));
	closedir(d);
	return n;
}

static void op_readdir(const struct layout *l)
{
	char path[4096];
	unsigned seen = 0;
	double t0 = now();

	if (!l->dirs) {
		seen = list_dir(l->dir);
	} else {
		seen = list_dir(l->dir);   /* the subdirectories themselves */
		for (unsigned d = 0; d < used_dirs(l); d++) {
			subdir_path(l, d, path, sizeof(path));
			seen += list_dir(path);
		}
		seen -= used_dirs(l);
	}
	double secs = now() - t0;
	if (seen != l->n)
		die("readdir found %u files, expected %u", seen, l->n);
	report(l->n, secs, 0);
}

static void op_rename(const struct layout *l)
{
	char from[4096], to[4096];
	double t0 = now();

	for (unsigned i = 0; i < l->n; i++) {
		item_path(l, 'f', i, from, sizeof(from));
		item_path(l, 'r', i, to, sizeof(to));
		if (rename(from, to) != 0)
			die("rename %s: %s", from, strerror(errno));
	}
	do_syncfs(l->dir);
	report(l->n, now() - t0, 0);
}

static void op_unlink(const struct layout *l)
{
	char path[4096];
	double t0 = now();

	for (unsigned i = 0; i < l->n; i++) {
		item_path(l, 'r', i, path, sizeof(path));
		if (unlink(path) != 0)
			die("unlink %s: %s", path, strerror(errno));
	}
	for (unsigned d = 0; d < used_dirs(l); d++) {
		subdir_path(l, d, path, sizeof(path));
		if (rmdir(path) != 0)
			die("rmdir %s: %s", path, strerror(errno));
	}
	do_syncfs(l->dir);
	report(l->n, now() - t0, 0);
}

/* ---- small files ---- */

static void write_all(int fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write %s: %s", path, w < 0 ? strerror(errno) : "wrote 0");
		p += w;
		len -= (size_t)w;
	}
}

static void op_writefiles(const struct layout *l, size_t size)
{
	unsigned char *data = random_data();
	char path[4096];
	double t0 = now();

	make_dirs(l);
	for (unsigned i = 0; i < l->n; i++) {
		item_path(l, 'f', i, path, sizeof(path));
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create %s: %s", path, strerror(errno));
		write_all(fd, data_for(data, i, size), size, path);
		if (close(fd) != 0)
			die("close %s: %s", path, strerror(errno));
	}
	do_syncfs(l->dir);
	report(l->n, now() - t0, (double)l->n * (double)size);
	free(data);
}

static void op_readfiles(const struct layout *l, size_t size)
{
	size_t cap = size + 4096;
	char *buf = xmalloc(cap), path[4096];
	double t0 = now();

	for (unsigned i = 0; i < l->n; i++) {
		size_t got = 0;
		ssize_t r;

		item_path(l, 'f', i, path, sizeof(path));
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open %s: %s", path, strerror(errno));
		while ((r = read(fd, buf, cap)) > 0 || (r < 0 && errno == EINTR))
			got += r > 0 ? (size_t)r : 0;
		if (r < 0)
			die("read %s: %s", path, strerror(errno));
		if (got != size)
			die("%s: read %zu bytes, expected %zu", path, got, size);
		close(fd);
	}
	report(l->n, now() - t0, (double)l->n * (double)size);
	free(buf);
}

/* ---- one large file ---- */

static void op_seqwrite(const char *path, unsigned long long bytes, size_t bs)
{
	unsigned char *data = random_data();
	unsigned long long done = 0, ops = 0;
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	if (bs > RANDOM_BYTES / 2)
		die("block size too large");
	double t0 = now();
	while (done < bytes) {
		size_t len = bytes - done < bs ? (size_t)(bytes - done) : bs;
		size_t off = (size_t)((done % (RANDOM_BYTES / 2)));
		write_all(fd, data + off, len, path);
		done += len;
		ops++;
	}
	if (fsync(fd) != 0)
		die("fsync %s: %s", path, strerror(errno));
	double secs = now() - t0;
	close(fd);
	report(ops, secs, (double)bytes);
	free(data);
}

static void op_seqread(const char *path, size_t bs)
{
	char *buf = xmalloc(bs);
	unsigned long long done = 0, ops = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	double t0 = now();
	while ((r = read(fd, buf, bs)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read %s: %s", path, strerror(errno));
		done += (unsigned long long)r;
		ops++;
	}
	double secs = now() - t0;
	close(fd);
	report(ops, secs, (double)done);
	free(buf);
}

/* ---- the fsync loop ---- */

struct syncer {
	pthread_t thread;
	int fd;
	const unsigned char *data;
	double secs;          /* how long to loop, from the start barrier */
	pthread_barrier_t *start;
	double *lat;          /* seconds per op */
	size_t n, cap;
	int err;              /* errno of a failed call, or 0 */
};

/* Overwrites its file 4 KiB at a time, each write followed by fsync,
 * until the deadline; records each op's latency. */
static void *syncer_run(void *arg)
{
	struct syncer *s = arg;

	pthread_barrier_wait(s->start);
	double deadline = now() + s->secs;
	for (uint64_t k = 0;; k++) {
		double t0 = now();
		if (t0 >= deadline)
			break;
		off_t off = (off_t)(k % FSYNC_BLOCKS) * FSYNC_BLOCK;
		if (pwrite(s->fd, data_for(s->data, k, FSYNC_BLOCK), FSYNC_BLOCK, off) !=
		    (ssize_t)FSYNC_BLOCK || fsync(s->fd) != 0) {
			s->err = errno ? errno : EIO;
			break;
		}
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 4096;
			s->lat = realloc(s->lat, s->cap * sizeof(*s->lat));
			if (!s->lat) {
				s->err = ENOMEM;
				break;
			}
		}
		s->lat[s->n++] = now() - t0;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Each thread gets its own file, written in full and fsynced before the
 * clock starts, so the loop measures overwrites (a database's log or
 * data file), not file growth. */
static int open_sync_file(const char *dir, unsigned t, const unsigned char *data)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/sync-%u", dir, t);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	for (unsigned b = 0; b < FSYNC_BLOCKS; b++)
		write_all(fd, data_for(data, b, FSYNC_BLOCK), FSYNC_BLOCK, path);
	if (fsync(fd) != 0)
		die("fsync %s: %s", path, strerror(errno));
	return fd;
}

static void op_fsync_loop(const char *dir, unsigned threads, double secs)
{
	unsigned char *data = random_data();
	struct syncer s[MAX_THREADS];
	pthread_barrier_t start;
	size_t total = 0;

	if (threads < 1 || threads > MAX_THREADS)
		die("threads must be 1..%d", MAX_THREADS);
	pthread_barrier_init(&start, NULL, threads + 1);
	for (unsigned t = 0; t < threads; t++) {
		s[t] = (struct syncer){ .fd = open_sync_file(dir, t, data),
					.data = data, .secs = secs, .start = &start };
	}
	for (unsigned t = 0; t < threads; t++) {
		if (pthread_create(&s[t].thread, NULL, syncer_run, &s[t]) != 0)
			die("pthread_create failed");
	}
	double t0 = now();
	pthread_barrier_wait(&start);
	for (unsigned t = 0; t < threads; t++)
		pthread_join(s[t].thread, NULL);
	double elapsed = now() - t0;

	for (unsigned t = 0; t < threads; t++) {
		if (s[t].err)
			die("fsync loop thread %u: %s", t, strerror(s[t].err));
		total += s[t].n;
	}
	double *all = xmalloc(total * sizeof(*all));
	size_t k = 0;
	for (unsigned t = 0; t < threads; t++) {
		memcpy(all + k, s[t].lat, s[t].n * sizeof(*all));
		k += s[t].n;
		free(s[t].lat);
		close(s[t].fd);
	}
	qsort(all, total, sizeof(*all), cmp_double);
	double p50 = total ? all[total / 2] : 0, p99 = total ? all[(total * 99) / 100] : 0;
	printf("ops=%zu secs=%.6f ops_s=%.1f mib_s=%.2f p50_us=%.1f p99_us=%.1f\n",
	       total, elapsed, elapsed > 0 ? (double)total / elapsed : 0.0,
	       elapsed > 0 ? (double)total * FSYNC_BLOCK / elapsed / 1048576.0 : 0.0,
	       p50 * 1e6, p99 * 1e6);
	free(all);
	free(data);
	pthread_barrier_destroy(&start);
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: fs-ops create|stat|statmissing|readdir|rename|unlink DIR N DIRS\n"
	      "       fs-ops stat DIR N DIRS K\n"
	      "       fs-ops writefiles|readfiles DIR N DIRS SIZE\n"
	      "       fs-ops seqwrite FILE BYTES BS\n"
	      "       fs-ops seqread FILE BS\n"
	      "       fs-ops fsync-loop DIR THREADS SECONDS\n", stderr);
	exit(2);
}

int main(int argc, char *argv[])
{
	const char *op = argc > 1 ? argv[1] : "";
	char **a = argv + 2;
	int n = argc - 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n == 3 && !strcmp(op, "create")) {
		struct layout l = layout_of(a);
		op_create(&l);
	} else if (n == 3 && (!strcmp(op, "stat") || !strcmp(op, "statmissing"))) {
		struct layout l = layout_of(a);
		op_stat(&l, !strcmp(op, "statmissing"), l.n);
	} else if (n == 4 && !strcmp(op, "stat")) {
		struct layout l = layout_of(a);
		unsigned k = (unsigned)parse_num(a[3], "stat count");
		op_stat(&l, false, k < l.n ? k : l.n);
	} else if (n == 3 && !strcmp(op, "readdir")) {
		struct layout l = layout_of(a);
		op_readdir(&l);
	} else if (n == 3 && !strcmp(op, "rename")) {
		struct layout l = layout_of(a);
		op_rename(&l);
	} else if (n == 3 && !strcmp(op, "unlink")) {
		struct layout l = layout_of(a);
		op_unlink(&l);
	} else if (n == 4 && !strcmp(op, "writefiles")) {
		struct layout l = layout_of(a);
		op_writefiles(&l, (size_t)parse_num(a[3], "size"));
	} else if (n == 4 && !strcmp(op, "readfiles")) {
		struct layout l = layout_of(a);
		op_readfiles(&l, (size_t)parse_num(a[3], "size"));
	} else if (n == 3 && !strcmp(op, "seqwrite")) {
		op_seqwrite(a[0], parse_num(a[1], "size"), (size_t)parse_num(a[2], "block size"));
	} else if (n == 2 && !strcmp(op, "seqread")) {
		op_seqread(a[0], (size_t)parse_num(a[1], "block size"));
	} else if (n == 3 && !strcmp(op, "fsync-loop")) {
		op_fsync_loop(a[0], (unsigned)parse_num(a[1], "threads"),
			      parse_secs(a[2]));
	} else {
		usage();
	}
	return 0;
}
