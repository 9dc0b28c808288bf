/* SPDX-License-Identifier: MIT */
/*
 * How requests reach the daemon, and how its replies go back.
 *
 * Two transports, one at a time per mount:
 *  - /dev/fuse (fuse_loop.c): reader threads read requests from the
 *    device and write replies to it.  Always there: INIT, FORGET,
 *    INTERRUPT and notifications go this way even when the rings serve
 *    the rest, and it serves everything when they do not.
 *  - io_uring (transport_uring.c): one ring per CPU queue, requests and
 *    replies exchanged in registered buffers, one system call per request.
 *    Taken at INIT when the kernel offers it and -o io_uring allows it.
 * Both hand each request to the protocol layer (fuse_proto.h:
 * fp_dispatch), whose replies go back the way the request came.
 *
 * fuse_proto.c negotiates at INIT and asks this interface whether to offer
 * the rings; main.c parses the option, checks it before mounting, and
 * stops the rings once the /dev/fuse loop has ended.
 */
#ifndef LARCHFS_TRANSPORT_H
#define LARCHFS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

struct fp_req;
struct fuse_in_header;

enum uring_mode {
	URING_AUTO,     /* io_uring when the kernel offers it, else /dev/fuse */
	URING_ON,       /* io_uring or no mount */
	URING_OFF,      /* /dev/fuse only */
};

#define URING_DEPTH_DEFAULT 8u     /* entries (requests in flight), and so
				      threads, per queue */
#define URING_DEPTH_MAX     64u

/* The one line that turns FUSE over io_uring on, for messages. */
#define URING_ENABLE_HINT "echo 1 > /sys/module/fuse/parameters/enable_uring"

struct uring_config {
	enum uring_mode mode;
	unsigned depth;                    /* 1..URING_DEPTH_MAX */
	int dev_fd;                        /* the session's /dev/fuse */
	/* serves a request read from a ring: fuse_proto.c's fp_dispatch (a
	 * hook, so that the rings, which fuse_proto.c starts at INIT, do not
	 * call back into it) */
	void (*dispatch)(struct fp_req *r, const struct fuse_in_header *h,
			 const char *body, size_t len);
	/* the daemon's log (syslog levels); set before the mount */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
};

/* Whether this larchfs was built with liburing (else /dev/fuse only). */
bool uring_built(void);

/* "auto", "on", "off" -> *mode; -1 for anything else. */
int uring_parse_mode(const char *s, enum uring_mode *mode);

/* Before mounting: with -o io_uring=on, returns -1 after one line on
 * stderr when this kernel would not serve the mount over io_uring (and
 * how to turn it on); 0 otherwise. */
int uring_precheck(const struct uring_config *c);

/* Takes the configuration; after the mount, before the loop starts. */
void uring_configure(const struct uring_config *c);

/*
 * At INIT, before the reply goes out (fuse_proto.c).  offered: whether the
 * kernel offered FUSE_OVER_IO_URING; max_payload: the largest request or
 * reply body the kernel will use (from the INIT reply).  Sets up every
 * queue's ring, buffers and thread, so that nothing can fail once the
 * kernel has been told.  Returns true when the reply should take
 * FUSE_OVER_IO_URING; false (logged, with the reason) for /dev/fuse.
 */
bool uring_prepare(bool offered, size_t max_payload);

/* After the INIT reply: written says whether the kernel received it.
 * The queues then register their entries (or, when not, go away). */
void uring_start(bool written);

/* Once the /dev/fuse loop has ended: stops and joins the queue threads. */
void uring_stop(void);

/* The "Transport:" line of the live statistics. */
void uring_stats_print(FILE *f);

#endif
