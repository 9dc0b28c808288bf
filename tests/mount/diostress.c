/* SPDX-License-Identifier: MIT */
/*
 * diostress: direct, buffered and mapped I/O on one file at once, checking
 * that no read returns bytes older than a write that had already finished.
 *
 *   diostress FILE [SECONDS]
 *
 * FILE is made BLOCKS blocks of 4 KiB long.  Each block belongs to one
 * writer, so its versions only grow:
 *   - an AIO writer (io_submit, O_DIRECT, up to DEPTH blocks in flight:
 *     non-extending writes the kernel may complete asynchronously),
 *   - a write(2) writer (buffered pwrite),
 *   - an mmap writer (stores into a shared mapping, msync now and then).
 * Every 8-byte word of a block holds (block << 32 | version).  A writer
 * publishes done[b] = version once the write has returned (the AIO
 * completion reaped, pwrite returned, the stores made).  Readers (two
 * buffered, one O_DIRECT) read random blocks and check each word: it names
 * the block, its version is no newer than the last one started and no
 * older than done[b] read before the read began.  An older one is a stale
 * read: the bytes of a write that had finished were not there.  (Words of a
 * block may differ while an mmap store races a read; each is checked.)
 * At the end every block must hold its last version through a buffered
 * read, and through a direct read after the page cache was dropped.
 *
 * Prints one line of counts to stderr and "stale reads N, wrong words N,
 * final mismatches N" to stdout; exits 1 when any is not 0, 2 on an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define WORDS (BS / 8)
#define BLOCKS 96           /* 32 per writer */
#define DEPTH 8             /* AIO writes in flight */

enum writer { W_AIO, W_WRITE, W_MMAP, NWRITERS };

static const char *path;
static atomic_uint_fast32_t started[BLOCKS];  /* last version begun */
static atomic_uint_fast32_t done[BLOCKS];     /* last version finished */
static atomic_bool stop;
static atomic_ulong stale, wrong, reads, writes[NWRITERS], stale_of[NWRITERS];

/* ---- small helpers ---- */

static void die(const char *what)
{
	fprintf(stderr, "diostress: %s: %s: %s\n", path, what, strerror(errno));
	exit(2);
}

/* xorshift64*, one state per thread */
static unsigned pick(uint64_t *s, unsigned n)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (unsigned)((*s * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

/* Blocks are dealt round-robin: block b belongs to writer b % NWRITERS. */
static unsigned block_of(enum writer w, unsigned i)
{
	return i * NWRITERS + w;
}

static void fill(uint64_t *buf, unsigned b, uint32_t ver)
{
	for (unsigned i = 0; i < WORDS; i++)
		buf[i] = (uint64_t)b << 32 | ver;
}

static void *aligned_block(void)
{
	void *p;

	if (posix_memalign(&p, BS, BS))
		die("memory");
	return p;
}

static uint32_t begin_version(unsigned b)
{
	return (uint32_t)atomic_fetch_add(&started[b], 1) + 1;
}

/* ---- the writers ---- */

static void *aio_writer(void *arg)
{
	int fd = open(path, O_RDWR | O_DIRECT);
	aio_context_t ctx = 0;
	struct iocb cbs[DEPTH], *list[DEPTH];
	struct io_event ev[DEPTH];
	uint64_t *buf[DEPTH];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned n = BLOCKS / NWRITERS;

	(void)arg;
	if (fd < 0)
		die("open O_DIRECT");
	if (syscall(SYS_io_setup, DEPTH, &ctx) < 0)
		die("io_setup");
	for (unsigned i = 0; i < DEPTH; i++)
		buf[i] = aligned_block();
	while (!atomic_load(&stop)) {
		unsigned first = pick(&seed, n);

		/* DEPTH distinct blocks: consecutive ones from a random start */
		for (unsigned i = 0; i < DEPTH; i++) {
			unsigned b = block_of(W_AIO, (first + i) % n);
			uint32_t ver = begin_version(b);

			fill(buf[i], b, ver);
			memset(&cbs[i], 0, sizeof(cbs[i]));
			cbs[i].aio_fildes = (uint32_t)fd;
			cbs[i].aio_lio_opcode = IOCB_CMD_PWRITE;
			cbs[i].aio_buf = (uint64_t)(uintptr_t)buf[i];
			cbs[i].aio_nbytes = BS;
			cbs[i].aio_offset = (int64_t)b * BS;
			cbs[i].aio_data = (uint64_t)b << 32 | ver;
			list[i] = &cbs[i];
		}
		if (syscall(SYS_io_submit, ctx, DEPTH, list) != DEPTH)
			die("io_submit");
		for (long got = 0; got < DEPTH;) {
			long r = syscall(SYS_io_getevents, ctx, 1, DEPTH - got, ev, NULL);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("io_getevents");
			for (long i = 0; i < r; i++) {
				if (ev[i].res != BS) {
					errno = ev[i].res < 0 ? (int)-ev[i].res : EIO;
					die("AIO direct write");
				}
				atomic_store(&done[ev[i].data >> 32], (uint32_t)ev[i].data);
			}
			got += r;
		}
		atomic_fetch_add(&writes[W_AIO], DEPTH);
	}
	for (unsigned i = 0; i < DEPTH; i++)
		free(buf[i]);
	syscall(SYS_io_destroy, ctx);
	close(fd);
	return NULL;
}

static void *write_writer(void *arg)
{
	int fd = open(path, O_RDWR);
	uint64_t buf[WORDS];
	uint64_t seed = 0xd1b54a32d192ed03ULL;

	(void)arg;
	if (fd < 0)
		die("open");
	while (!atomic_load(&stop)) {
		unsigned b = block_of(W_WRITE, pick(&seed, BLOCKS / NWRITERS));
		uint32_t ver = begin_version(b);

		fill(buf, b, ver);
		if (pwrite(fd, buf, BS, (off_t)b * BS) != BS)
			die("pwrite");
		atomic_store(&done[b], ver);
		atomic_fetch_add(&writes[W_WRITE], 1);
	}
	close(fd);
	return NULL;
}

static void *mmap_writer(void *arg)
{
	int fd = open(path, O_RDWR);
	uint64_t seed = 0x8cb92ba72f3d8dd7ULL;
	uint64_t *map;
	unsigned long n = 0;

	(void)arg;
	if (fd < 0)
		die("open");
	map = mmap(NULL, (size_t)BLOCKS * BS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	while (!atomic_load(&stop)) {
		unsigned b = block_of(W_MMAP, pick(&seed, BLOCKS / NWRITERS));
		uint32_t ver = begin_version(b);
		volatile uint64_t *w = map + (size_t)b * WORDS;

		for (unsigned i = 0; i < WORDS; i++)
			w[i] = (uint64_t)b << 32 | ver;
		atomic_store(&done[b], ver);
		if (++n % 64 == 0 && msync(map, (size_t)BLOCKS * BS, MS_SYNC))
			die("msync");
		atomic_fetch_add(&writes[W_MMAP], 1);
	}
	if (msync(map, (size_t)BLOCKS * BS, MS_SYNC))
		die("msync");
	munmap(map, (size_t)BLOCKS * BS);
	close(fd);
	return NULL;
}

/* ---- the readers ---- */

/* Checks one block read at a time when done[b] was `floor`. */
static void check(const uint64_t *buf, unsigned b, uint32_t floor)
{
	uint32_t ceiling = (uint32_t)atomic_load(&started[b]);
	int old = 0, bad = 0;

	for (unsigned i = 0; i < WORDS; i++) {
		uint32_t ver = (uint32_t)buf[i];

		if (buf[i] >> 32 != b || ver > ceiling)
			bad = 1;
		else if (ver < floor)
			old = 1;
	}
	if (bad)
		atomic_fetch_add(&wrong, 1);
	else if (old) {
		atomic_fetch_add(&stale, 1);
		atomic_fetch_add(&stale_of[b % NWRITERS], 1);
	}
}

static void *reader(void *arg)
{
	int direct = arg != NULL;
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	uint64_t *buf = aligned_block();
	uint64_t seed = direct ? 0x4f1bbcdcbfa53e0bULL : (uint64_t)(uintptr_t)&fd;

	if (fd < 0)
		die("open for reading");
	while (!atomic_load(&stop)) {
		unsigned b = pick(&seed, BLOCKS);
		uint32_t floor = (uint32_t)atomic_load(&done[b]);

		if (pread(fd, buf, BS, (off_t)b * BS) != BS)
			die(direct ? "direct pread" : "pread");
		check(buf, b, floor);
		atomic_fetch_add(&reads, 1);
	}
	free(buf);
	close(fd);
	return NULL;
}

/* ---- setup and the final check ---- */

static void create(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint64_t buf[WORDS];

	if (fd < 0)
		die("create");
	for (unsigned b = 0; b < BLOCKS; b++) {
		fill(buf, b, 0);
		if (pwrite(fd, buf, BS, (off_t)b * BS) != BS)
			die("pwrite");
	}
	if (fsync(fd))
		die("fsync");
	close(fd);
}

/* Blocks whose bytes are not exactly their last version. */
static unsigned final_mismatches(int direct)
{
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	uint64_t *buf = aligned_block(), *want = aligned_block();
	unsigned bad = 0;

	if (fd < 0)
		die("open for the final check");
	if (direct && posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		die("fadvise");
	for (unsigned b = 0; b < BLOCKS; b++) {
		fill(want, b, (uint32_t)atomic_load(&started[b]));
		if (pread(fd, buf, BS, (off_t)b * BS) != BS)
			die("final pread");
		bad += memcmp(buf, want, BS) != 0;
	}
	free(buf);
	free(want);
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	void *(*role[])(void *) = { aio_writer, write_writer, mmap_writer,
				    reader, reader, reader };
	void *roleargs[] = { NULL, NULL, NULL, NULL, NULL, (void *)1 };
	pthread_t t[sizeof(role) / sizeof(role[0])];
	struct timespec end;
	unsigned seconds = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
	unsigned mism;

	if (argc < 2 || argc > 3 || seconds == 0) {
		fprintf(stderr, "usage: diostress FILE [SECONDS]\n");
		return 2;
	}
	path = argv[1];
	create();
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (pthread_create(&t[i], NULL, role[i], roleargs[i]))
			die("thread");
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
		;
	atomic_store(&stop, 1);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		pthread_join(t[i], NULL);
	mism = final_mismatches(0) + final_mismatches(1);
	fprintf(stderr, "diostress: %lu AIO direct, %lu write(2), %lu mmap writes; "
		"%lu reads; stale reads of their blocks %lu, %lu, %lu\n",
		atomic_load(&writes[W_AIO]), atomic_load(&writes[W_WRITE]),
		atomic_load(&writes[W_MMAP]), atomic_load(&reads),
		atomic_load(&stale_of[W_AIO]), atomic_load(&stale_of[W_WRITE]),
		atomic_load(&stale_of[W_MMAP]));
	printf("stale reads %lu, wrong words %lu, final mismatches %u\n",
	       atomic_load(&stale), atomic_load(&wrong), mism);
	return atomic_load(&stale) || atomic_load(&wrong) || mism ? 1 : 0;
}
