/* SPDX-License-Identifier: MIT */
/*
 * The kernel's ABI for FUSE over io_uring (FUSE protocol 7.42, Linux 6.14+),
 * declared here because Debian 12's <linux/fuse.h> (Linux 6.1, protocol
 * 7.38) predates it.  Written from the kernel's uapi description
 * (include/uapi/linux/fuse.h, Documentation/filesystems/fuse/
 * fuse-io-uring.rst); every size and offset is checked below, so a
 * mistake here fails the build instead of corrupting requests.
 *
 * The exchange, per ring entry (one entry = one request in flight):
 *
 *   The daemon gives the kernel two buffers with an IORING_OP_URING_CMD
 *   SQE on the /dev/fuse fd (the ring must use 128-byte SQEs, whose last
 *   80 bytes carry struct fuse_uring_cmd_req):
 *     sqe->cmd_op = FUSE_IO_URING_CMD_REGISTER, sqe->addr = an array of
 *     2 iovecs, sqe->len = 2: iov[0] the headers (struct
 *     fuse_uring_req_header, at least 288 bytes), iov[1] the payload
 *     buffer, at least max(8 KiB, max_write, max_pages * page size) bytes
 *     (the kernel refuses a smaller one with EINVAL).
 *
 *   The CQE of that SQE completes when a request is in the buffers:
 *     headers.in_out         struct fuse_in_header
 *     headers.op_in          the opcode's fixed header (fuse_write_in,
 *                            fuse_getattr_in, ...; empty for LOOKUP)
 *     headers.ring_ent_in_out.commit_id   the id to answer with (today
 *                            the request's unique)
 *     headers.ring_ent_in_out.payload_sz  bytes of the rest in the
 *                            payload buffer (names, write data, values)
 *   in_header.len counts all three, as over /dev/fuse, so the op header's
 *   size is len - 40 - payload_sz.  A CQE with res < 0 carries no request:
 *   -ENOTCONN when the connection ends (unmount, abort) or the
 *   ring is being closed.
 *
 *   The answer and the wait for the next request are one SQE:
 *     sqe->cmd_op = FUSE_IO_URING_CMD_COMMIT_AND_FETCH, cmd.commit_id,
 *     cmd.qid; headers.in_out holds struct fuse_out_header (unique, error),
 *     the payload buffer the reply's body, ring_ent_in_out.payload_sz its
 *     size.  Its CQE again completes with the next request.
 *
 * The kernel has one queue per possible CPU and sends a request to the
 * queue of the CPU its caller runs on; it switches from /dev/fuse to the
 * rings only once every queue has an entry registered.  Notifications
 * (unique 0) and INTERRUPT and FORGET stay on /dev/fuse.  INIT offers and
 * takes the capability as FUSE_OVER_IO_URING, bit 41 of the 64-bit flags
 * (bit 9 of flags2, with FUSE_INIT_EXT); the kernel offers it only while
 * the fuse module's parameter enable_uring is on.
 */
#ifndef LARCHFS_FUSE_URING_ABI_H
#define LARCHFS_FUSE_URING_ABI_H

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

#ifndef FUSE_OVER_IO_URING
#define FUSE_OVER_IO_URING (1ULL << 41)
#endif

#define LARCH_FUSE_URING_IN_OUT_HEADER_SZ 128
#define LARCH_FUSE_URING_OP_IN_OUT_SZ     128

/* Per-request bookkeeping, part of the headers buffer. */
struct larch_fuse_uring_ent_in_out {
	uint64_t flags;         /* none defined */
	uint64_t commit_id;     /* kernel -> daemon: the id to commit with */
	uint32_t payload_sz;    /* bytes used in the payload buffer, both ways */
	uint32_t padding;
	uint64_t reserved;
};

/* iov[0] of REGISTER: written by the kernel with each request, by the
 * daemon with each reply. */
struct larch_fuse_uring_req_header {
	char in_out[LARCH_FUSE_URING_IN_OUT_HEADER_SZ]; /* fuse_in_header / fuse_out_header */
	char op_in[LARCH_FUSE_URING_OP_IN_OUT_SZ];      /* the opcode's header */
	struct larch_fuse_uring_ent_in_out ring_ent_in_out;
};

/* sqe->cmd_op */
enum larch_fuse_uring_cmd {
	LARCH_FUSE_IO_URING_CMD_INVALID = 0,
	LARCH_FUSE_IO_URING_CMD_REGISTER = 1,         /* hand over an entry */
	LARCH_FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2, /* answer, then wait */
};

/* In the SQE's 80-byte command area (IORING_SETUP_SQE128). */
struct larch_fuse_uring_cmd_req {
	uint64_t flags;         /* 0 */
	uint64_t commit_id;     /* COMMIT_AND_FETCH: ring_ent_in_out.commit_id */
	uint16_t qid;           /* the queue (CPU) the entry belongs to */
	uint8_t padding[6];
};

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct larch_fuse_uring_ent_in_out) == 32, "ent_in_out size");
_Static_assert(offsetof(struct larch_fuse_uring_ent_in_out, commit_id) == 8, "commit_id");
_Static_assert(offsetof(struct larch_fuse_uring_ent_in_out, payload_sz) == 16, "payload_sz");
_Static_assert(offsetof(struct larch_fuse_uring_ent_in_out, padding) == 20, "padding");
_Static_assert(offsetof(struct larch_fuse_uring_ent_in_out, reserved) == 24, "reserved");
_Static_assert(sizeof(struct larch_fuse_uring_req_header) == 288, "req_header size");
_Static_assert(offsetof(struct larch_fuse_uring_req_header, in_out) == 0, "in_out");
_Static_assert(offsetof(struct larch_fuse_uring_req_header, op_in) == 128, "op_in");
_Static_assert(offsetof(struct larch_fuse_uring_req_header, ring_ent_in_out) == 256,
	       "ring_ent_in_out");
_Static_assert(sizeof(struct larch_fuse_uring_cmd_req) == 24, "cmd_req size");
_Static_assert(offsetof(struct larch_fuse_uring_cmd_req, commit_id) == 8, "cmd commit_id");
_Static_assert(offsetof(struct larch_fuse_uring_cmd_req, qid) == 16, "cmd qid");
_Static_assert(sizeof(struct larch_fuse_uring_cmd_req) <= 80, "fits the SQE128 command area");
_Static_assert(offsetof(struct fuse_init_out, flags2) == 32, "fuse_init_out.flags2");
_Static_assert(offsetof(struct fuse_init_in, flags2) == 16, "fuse_init_in.flags2");

#endif
