/* SPDX-License-Identifier: MIT */
/*
 * /dev/fuse: the threads that read requests from the device, serve them
 * (fp_dispatch) and write the replies back to it.  INIT always comes this
 * way, and FORGET, INTERRUPT and notifications stay here when the rings
 * (transport_uring.c) serve the rest.
 *
 * One read returns one whole request (the kernel requires the buffer to
 * hold the largest: fp_max_request()); one writev sends one whole reply.
 * A reply the kernel refuses with ENOENT was to a request it no longer
 * waits for (interrupted); the handler hears so from its reply call.
 *
 * Threads, as libfuse's multithreaded loop ran them before: the calling
 * thread reads, and whenever a thread takes a request while no other
 * waits on the device, one more is started, up to max_threads (-o
 * max_threads, 10 by default); a thread that finds more than max_idle
 * (-o max_idle_threads) others idle leaves.  With clone_fd (-o clone_fd)
 * each thread reads its own clone of the device (FUSE_DEV_IOC_CLONE), so
 * that the kernel wakes one reader per request; its replies go back on
 * that clone.  -s serves on the calling thread alone.  Threads block
 * every signal but SIGUSR1 (main.c's wake-up, not restarted), with which
 * fp_loop_exit() interrupts their reads.
 *
 * The loop ends when the kernel ends the connection (a read fails with
 * ENODEV: unmounted or aborted) or fp_loop_exit() is called; fp_loop()
 * returns once every thread has left.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "fuse_proto.h"

struct worker {
	pthread_t thread;
	struct worker *next;        /* lp.workers, under lp.mu */
	atomic_bool done;
	int fd;                     /* the device or this thread's clone */
	bool own_fd;
	bool caller;                /* fp_loop's own thread: never leaves early */
	char *buf;
	size_t size;
};

static struct {
	pthread_mutex_t mu;         /* owner: workers, nthreads */
	struct worker *workers;     /* started threads, not the caller's */
	unsigned nthreads;          /* readers, the caller's included */
	atomic_uint idle;           /* readers waiting on the device */
	atomic_bool exit;
	int error;                  /* the first failure, -errno; under mu */
	struct fp_loop_config cfg;
} lp = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- the device ---- */

static int dev_send(struct fp_req *r, struct iovec *iov, int count)
{
	ssize_t n = writev(r->fd, iov, count);

	return n < 0 ? -errno : 0;
}

/* A clone of the session's device for one thread; -errno on failure. */
static int dev_clone(void)
{
	uint32_t master = (uint32_t)lp.cfg.fd;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &master) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void fail(int err)
{
	pthread_mutex_lock(&lp.mu);
	if (!lp.error)
		lp.error = err;
	pthread_mutex_unlock(&lp.mu);
	atomic_store(&lp.exit, true);
}

/* ---- threads ---- */

static void *worker_main(void *arg);

/* One more reader, when none waits and the limit allows. */
static void maybe_grow(void)
{
	struct worker *w;
	sigset_t all, old;

	if (lp.cfg.single || atomic_load(&lp.idle) > 0 || atomic_load(&lp.exit))
		return;
	pthread_mutex_lock(&lp.mu);
	if (lp.nthreads >= lp.cfg.max_threads || !(w = calloc(1, sizeof(*w)))) {
		pthread_mutex_unlock(&lp.mu);
		return;
	}
	/* the new thread starts with every signal blocked but SIGUSR1 */
	sigfillset(&all);
	sigdelset(&all, SIGUSR1);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&w->thread, NULL, worker_main, w) == 0) {
		w->next = lp.workers;
		lp.workers = w;
		lp.nthreads++;
	} else {
		free(w);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_unlock(&lp.mu);
}

/* Whether this reader should leave, being one idle too many. */
static bool too_idle(void)
{
	bool leave = false;

	if (lp.cfg.max_idle == UINT_MAX)
		return false;
	pthread_mutex_lock(&lp.mu);
	if (atomic_load(&lp.idle) > lp.cfg.max_idle && lp.nthreads > 1) {
		lp.nthreads--;
		leave = true;
	}
	pthread_mutex_unlock(&lp.mu);
	return leave;
}

/* Reads one request; 1 served, 0 nothing (again), -1 the end. */
static int serve_one(struct worker *w)
{
	struct fuse_in_header h;
	struct fp_req r = { .send = dev_send, .fd = w->fd };
	ssize_t n;

	atomic_fetch_add(&lp.idle, 1);
	n = read(w->fd, w->buf, w->size);
	atomic_fetch_sub(&lp.idle, 1);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
			return 0;
		if (errno != ENODEV)
			fail(-errno);
		atomic_store(&lp.exit, true);
		return -1;
	}
	if ((size_t)n < sizeof(h)) {
		fail(-EIO);
		return -1;
	}
	memcpy(&h, w->buf, sizeof(h));
	maybe_grow();
	if (h.len != (size_t)n) {   /* the kernel's length must be the read's */
		r.unique = h.unique;
		fp_reply_err(&r, EIO);
		return 1;
	}
	fp_dispatch(&r, &h, w->buf + sizeof(h), (size_t)n - sizeof(h));
	if (!r.replied)
		fp_reply_err(&r, EIO);
	return 1;
}

static void worker_run(struct worker *w)
{
	while (!atomic_load(&lp.exit)) {
		if (serve_one(w) < 0)
			break;
		if (!w->caller && too_idle())
			break;
	}
}

static int worker_setup(struct worker *w)
{
	w->fd = lp.cfg.fd;
	if (lp.cfg.clone_fd && !lp.cfg.single) {
		int fd = dev_clone();

		if (fd < 0)
			return fd;
		w->fd = fd;
		w->own_fd = true;
	}
	w->size = fp_max_request();
	w->buf = malloc(w->size);
	return w->buf ? 0 : -ENOMEM;
}

static void worker_free(struct worker *w)
{
	free(w->buf);
	w->buf = NULL;
	if (w->own_fd)
		close(w->fd);
	w->own_fd = false;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int err = worker_setup(w);

	if (err)
		fail(err);
	else
		worker_run(w);
	worker_free(w);
	atomic_store(&w->done, true);
	return NULL;
}

/* Wakes and joins every started thread. */
static void join_workers(void)
{
	const struct timespec retry = { 0, 20 * 1000 * 1000 };
	struct worker *w, *next;

	pthread_mutex_lock(&lp.mu);
	w = lp.workers;
	lp.workers = NULL;
	pthread_mutex_unlock(&lp.mu);
	for (; w; w = next) {
		next = w->next;
		while (!atomic_load(&w->done)) {
			pthread_kill(w->thread, SIGUSR1);
			nanosleep(&retry, NULL);
		}
		pthread_join(w->thread, NULL);
		free(w);
	}
}

/* ---- the loop ---- */

int fp_loop(const struct fp_loop_config *c)
{
	struct worker self = { .caller = true };
	int err;

	lp.cfg = *c;
	if (lp.cfg.max_threads == 0)
		lp.cfg.max_threads = 1;
	lp.nthreads = 1;
	fp_notify_device(c->fd);
	err = worker_setup(&self);
	if (err == 0)
		worker_run(&self);
	else
		fail(err);
	atomic_store(&lp.exit, true);
	join_workers();
	worker_free(&self);
	return lp.error;
}

void fp_loop_exit(void)
{
	atomic_store(&lp.exit, true);
}
