/* SPDX-License-Identifier: MIT */
/*
 * The daemon's FUSE protocol layer (fs/daemon/fuse_proto.c, fuse_reply.c)
 * without a kernel: requests built here are handed to fp_dispatch() with a
 * send function that keeps the reply, and an operation table that notes
 * what it was called with.  Checks INIT's negotiation (the flags the daemon
 * has always taken), that short and malformed requests are answered
 * EINVAL/EIO/EPROTO without reaching a handler, that every request but
 * FORGET and INTERRUPT gets exactly one reply, and (under the sanitizers)
 * that random bodies of every opcode are never read past their end.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/fuse.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fuse_proto.h"
#include "fuse_statx_abi.h"
#include "fuse_uring_abi.h"
#include "testrng.h"
#include "transport.h"

/* ---- the transport, stubbed ---- */

static bool uring_ready;

bool uring_prepare(bool offered, size_t max_payload)
{
	(void)max_payload;
	return offered && uring_ready;
}

void uring_start(bool written)
{
	(void)written;
}

void uring_stats_print(FILE *f)
{
	(void)f;
}

/* ---- replies, kept ---- */

static struct {
	int count;
	bool killpriv_at_send;      /* fp_killpriv_v2() as the reply left */
	struct fuse_out_header h;
	char body[8192];
	size_t len;
} out;

static int keep(struct fp_req *r, struct iovec *iov, int count)
{
	(void)r;
	out.count++;
	out.killpriv_at_send = fp_killpriv_v2();
	memcpy(&out.h, iov[0].iov_base, sizeof(out.h));
	out.len = 0;
	for (int i = 1; i < count; i++) {
		if (out.len + iov[i].iov_len <= sizeof(out.body))
			memcpy(out.body + out.len, iov[i].iov_base, iov[i].iov_len);
		out.len += iov[i].iov_len;
	}
	return 0;
}

/* ---- the operation table, noting its calls ---- */

static struct {
	int calls;
	char name[256], name2[256];
	uint64_t a, b;
	size_t size;
	unsigned flags;
	bool kills;
} seen;

static void note_name(char *dst, const char *s)
{
	snprintf(dst, 256, "%s", s);
}

static void t_init(void *ud, struct fp_conn *c)
{
	(void)ud;
	/* fuse_ll.c's choices, with the writeback cache */
	c->want |= (FUSE_DO_READDIRPLUS | FUSE_CACHE_SYMLINKS | FUSE_POSIX_ACL |
		    FUSE_DONT_MASK | FUSE_EXPORT_SUPPORT | FUSE_HANDLE_KILLPRIV_V2 |
		    FUSE_WRITEBACK_CACHE) & c->capable;
	c->max_write = 1u << 20;
	c->time_gran = 1;
}

static void t_forget(void *ud, uint64_t ino, uint64_t n)
{
	(void)ud;
	seen.calls++;
	seen.a = ino;
	seen.b += n;
}

static void t_lookup(struct fp_req *r, uint64_t parent, const char *name)
{
	seen.calls++;
	seen.a = parent;
	note_name(seen.name, name);
	fp_reply_err(r, ENOENT);
}

static void t_write(struct fp_req *r, uint64_t ino, const char *buf, size_t size,
		    off_t off, struct fp_file *fi)
{
	(void)buf;
	(void)fi;
	seen.calls++;
	seen.a = ino;
	seen.b = (uint64_t)off;
	seen.size = size;
	seen.kills = r->write_kills_suid;
	fp_reply_write(r, size);
}

static void t_rename(struct fp_req *r, uint64_t parent, const char *name,
		     uint64_t newparent, const char *newname, unsigned flags)
{
	seen.calls++;
	seen.a = parent;
	seen.b = newparent;
	seen.flags = flags;
	note_name(seen.name, name);
	note_name(seen.name2, newname);
	fp_reply_err(r, 0);
}

static void t_setxattr(struct fp_req *r, uint64_t ino, const char *name,
		       const char *value, size_t size, int flags)
{
	seen.calls++;
	seen.a = ino;
	seen.size = size;
	seen.flags = (unsigned)flags;
	note_name(seen.name, name);
	snprintf(seen.name2, sizeof(seen.name2), "%.*s", (int)size, value);
	fp_reply_err(r, 0);
}

/* Every other handler: noted, answered ENOSYS. */
#define ANY(name, ...) static void name(struct fp_req *r, __VA_ARGS__) \
	{ seen.calls++; fp_reply_err(r, ENOSYS); }
ANY(t_ino, uint64_t a)
ANY(t_setattr, uint64_t a, struct stat *b, unsigned c, struct fp_file *d)
ANY(t_mknod, uint64_t a, const char *b, mode_t c, dev_t d)
ANY(t_mkdir, uint64_t a, const char *b, mode_t c)
ANY(t_name, uint64_t a, const char *b)
ANY(t_symlink, const char *a, uint64_t b, const char *c)
ANY(t_link, uint64_t a, uint64_t b, const char *c)
ANY(t_file, uint64_t a, struct fp_file *b)
ANY(t_read, uint64_t a, size_t b, off_t c, struct fp_file *d)
ANY(t_fsync, uint64_t a, int b, struct fp_file *c)
ANY(t_getxattr, uint64_t a, const char *b, size_t c)
ANY(t_listxattr, uint64_t a, size_t b)
ANY(t_create, uint64_t a, const char *b, mode_t c, struct fp_file *d)
ANY(t_tmpfile, uint64_t a, mode_t b, struct fp_file *c)
ANY(t_fallocate, uint64_t a, int b, off_t c, off_t d, struct fp_file *e)
ANY(t_lseek, uint64_t a, off_t b, int c, struct fp_file *d)
ANY(t_ioctl, uint64_t a, unsigned b, unsigned c, const void *d, size_t e, size_t f)
ANY(t_cfr, uint64_t a, off_t b, uint64_t c, off_t d, size_t e, int f)

static const struct fp_ops ops = {
	.init = t_init, .forget = t_forget, .lookup = t_lookup, .getattr = t_ino,
	.statx = t_ino, .setattr = t_setattr, .readlink = t_ino, .mknod = t_mknod,
	.mkdir = t_mkdir, .unlink = t_name, .rmdir = t_name, .symlink = t_symlink,
	.rename = t_rename, .link = t_link, .open = t_file, .release = t_file,
	.read = t_read, .write = t_write, .fsync = t_fsync, .opendir = t_file,
	.readdir = t_read, .readdirplus = t_read, .fsyncdir = t_fsync, .statfs = t_ino,
	.setxattr = t_setxattr, .getxattr = t_getxattr, .listxattr = t_listxattr,
	.removexattr = t_name, .create = t_create, .tmpfile = t_tmpfile,
	.fallocate = t_fallocate, .lseek = t_lseek, .ioctl = t_ioctl,
	.copy_file_range = t_cfr,
};

/* ---- sending requests ---- */

static uint64_t next_unique = 1;

/* Dispatches opcode with body[0..len) (copied to a buffer of exactly that
 * size, so that ASan sees a read past it). */
static void send_req(uint32_t opcode, uint64_t nodeid, const void *body, size_t len)
{
	struct fuse_in_header h = { .len = (uint32_t)(sizeof(h) + len), .opcode = opcode,
				    .unique = next_unique++, .nodeid = nodeid,
				    .uid = 1000, .gid = 1000, .pid = 1 };
	struct fp_req r = { .send = keep };
	char *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	if (len)
		memcpy(copy, body, len);
	memset(&out, 0, sizeof(out));
	memset(&seen, 0, sizeof(seen));
	fp_dispatch(&r, &h, copy, len);
	free(copy);
}

static void do_init(uint32_t minor, uint32_t flags, uint32_t flags2)
{
	struct fuse_init_in in = { .major = 7, .minor = minor, .max_readahead = 131072,
				   .flags = flags, .flags2 = flags2 };

	send_req(FUSE_INIT, 0, &in, sizeof(in));
}

/* What Linux 6.18 offered here (INIT of a larchfs mount, logged). */
#define OFFER_FLAGS  0x73fffffbu
#define OFFER_FLAGS2 0x7fdu

static int setup(void **state)
{
	(void)state;
	fp_session_init(&ops, NULL, false);
	return 0;
}

/* ---- INIT ---- */

/* Before INIT everything is EIO; a short INIT is EPROTO. */
static void test_before_init(void **state)
{
	(void)state;
	send_req(FUSE_LOOKUP, 1, "a", 2);
	assert_int_equal(out.count, 1);
	assert_int_equal(out.h.error, -EIO);
	assert_int_equal(seen.calls, 0);
	send_req(FUSE_INIT, 0, "\7\0\0\0", 4);
	assert_int_equal(out.count, 1);
	assert_int_equal(out.h.error, -EPROTO);
}

/* Order matters below: the session takes one INIT. */
static void test_init_flags(void **state)
{
	struct fuse_init_out o;

	(void)state;
	uring_ready = true;
	do_init(45, OFFER_FLAGS, OFFER_FLAGS2);
	assert_int_equal(out.count, 1);
	assert_int_equal(out.h.error, 0);
	assert_int_equal(out.len, sizeof(o));
	memcpy(&o, out.body, sizeof(o));
	assert_int_equal(o.major, 7);
	assert_int_equal(o.minor, 42);
	/* what libfuse 3.14 replied, with the flags the daemon patched in */
	assert_int_equal(o.flags, 0x50d52071u);
	assert_int_equal(o.flags2, (uint32_t)(FUSE_OVER_IO_URING >> 32));
	assert_int_equal(o.max_write, 1u << 20);
	assert_int_equal(o.max_pages, 256);
	assert_int_equal(o.time_gran, 1);
	assert_int_equal(o.max_readahead, 131072);
	assert_int_equal(o.max_background, 0);
	assert_int_equal(o.congestion_threshold, 0);
	assert_true(fp_killpriv_v2());
	/* granted before the kernel has the reply: the requests it then
	 * sends, on other threads, must see it (generic/061 once read "no") */
	assert_true(out.killpriv_at_send);
	/* a second INIT is refused */
	do_init(45, OFFER_FLAGS, OFFER_FLAGS2);
	assert_int_equal(out.h.error, -EPROTO);
}

/* ---- decoding ---- */

static void test_lookup(void **state)
{
	(void)state;
	send_req(FUSE_LOOKUP, 5, "name", 5);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.a, 5);
	assert_string_equal(seen.name, "name");
	assert_int_equal(out.count, 1);
	assert_int_equal(out.h.error, -ENOENT);
	/* no NUL inside the body: EINVAL, the handler never sees it */
	send_req(FUSE_LOOKUP, 5, "name", 4);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(out.count, 1);
	assert_int_equal(out.h.error, -EINVAL);
	send_req(FUSE_LOOKUP, 5, "", 0);
	assert_int_equal(out.h.error, -EINVAL);
}

static void test_write(void **state)
{
	char buf[sizeof(struct fuse_write_in) + 10];
	struct fuse_write_in in = { .offset = 4096, .size = 10,
				    .write_flags = FUSE_WRITE_KILL_SUIDGID };

	(void)state;
	memcpy(buf, &in, sizeof(in));
	memset(buf + sizeof(in), 'x', 10);
	send_req(FUSE_WRITE, 7, buf, sizeof(buf));
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.size, 10);
	assert_int_equal(seen.b, 4096);
	assert_true(seen.kills);
	assert_int_equal(out.h.error, 0);
	/* the data is shorter than the header says */
	send_req(FUSE_WRITE, 7, buf, sizeof(buf) - 1);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(out.h.error, -EINVAL);
	/* the header itself is cut */
	send_req(FUSE_WRITE, 7, buf, 8);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(out.h.error, -EINVAL);
}

static void test_rename(void **state)
{
	char buf[64];
	struct fuse_rename2_in in = { .newdir = 9, .flags = 1 };
	struct fuse_rename_in old = { .newdir = 8 };

	(void)state;
	memcpy(buf, &in, sizeof(in));
	memcpy(buf + sizeof(in), "a\0bc", 5);
	send_req(FUSE_RENAME2, 3, buf, sizeof(in) + 5);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.a, 3);
	assert_int_equal(seen.b, 9);
	assert_int_equal(seen.flags, 1);
	assert_string_equal(seen.name, "a");
	assert_string_equal(seen.name2, "bc");
	memcpy(buf, &old, sizeof(old));
	memcpy(buf + sizeof(old), "a\0bc", 5);
	send_req(FUSE_RENAME, 3, buf, sizeof(old) + 5);
	assert_int_equal(seen.b, 8);
	assert_int_equal(seen.flags, 0);
	/* the second name unterminated */
	send_req(FUSE_RENAME, 3, buf, sizeof(old) + 4);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(out.h.error, -EINVAL);
}

/* Without SETXATTR_EXT the header is 8 bytes: size, flags. */
static void test_setxattr(void **state)
{
	char buf[64];
	uint32_t hdr[2] = { 3, 1 };

	(void)state;
	memcpy(buf, hdr, 8);
	memcpy(buf + 8, "user.a\0val", 10);
	send_req(FUSE_SETXATTR, 4, buf, 18);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.size, 3);
	assert_int_equal(seen.flags, 1);
	assert_string_equal(seen.name, "user.a");
	assert_string_equal(seen.name2, "val");
	send_req(FUSE_SETXATTR, 4, buf, 17);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(out.h.error, -EINVAL);
}

static void test_forget(void **state)
{
	char buf[sizeof(struct fuse_batch_forget_in) + 2 * sizeof(struct fuse_forget_one)];
	struct fuse_batch_forget_in in = { .count = 3 };     /* one more than sent */
	struct fuse_forget_one one[2] = { { 11, 2 }, { 12, 3 } };
	struct fuse_forget_in f = { .nlookup = 4 };

	(void)state;
	memcpy(buf, &in, sizeof(in));
	memcpy(buf + sizeof(in), one, sizeof(one));
	send_req(FUSE_BATCH_FORGET, 0, buf, sizeof(buf));
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.b, 5);
	assert_int_equal(out.count, 0);      /* FORGETs get no reply */
	send_req(FUSE_FORGET, 13, &f, sizeof(f));
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.a, 13);
	assert_int_equal(out.count, 0);
	send_req(FUSE_INTERRUPT, 0, &f, sizeof(f));
	assert_int_equal(out.count, 0);
}

/* FLUSH, ACCESS, locks and anything unknown: ENOSYS; RELEASEDIR: 0. */
static void test_unserved(void **state)
{
	struct fuse_release_in rel = { 0 };

	(void)state;
	send_req(FUSE_FLUSH, 1, NULL, 0);
	assert_int_equal(out.h.error, -ENOSYS);
	send_req(FUSE_GETLK, 1, NULL, 0);
	assert_int_equal(out.h.error, -ENOSYS);
	send_req(4096, 1, NULL, 0);
	assert_int_equal(out.h.error, -ENOSYS);
	send_req(FUSE_RELEASEDIR, 1, &rel, sizeof(rel));
	assert_int_equal(out.count, 1);
	assert_int_equal(out.h.error, 0);
}

/* Random bodies of every length up to 300 bytes for every opcode: one
 * reply each (none for FORGET, BATCH_FORGET, INTERRUPT), never a read past
 * the body (the sanitizer build checks). */
static void test_random_bodies(void **state)
{
	uint64_t rng = 19;
	char body[300];

	(void)state;
	for (uint32_t op = 1; op <= 60; op++) {
		if (op == FUSE_INIT)
			continue;
		for (size_t len = 0; len <= sizeof(body); len += 1 + len / 8) {
			for (size_t i = 0; i < len; i++)
				body[i] = (char)(rng_below(&rng, 4) ? rng_next(&rng) : 0);
			send_req(op, 1, body, len);
			if (op == FUSE_FORGET || op == FUSE_BATCH_FORGET || op == FUSE_INTERRUPT)
				assert_int_equal(out.count, 0);
			else
				assert_int_equal(out.count, 1);
		}
	}
}

/* ---- reply layouts ---- */

static void test_dirents(void **state)
{
	struct stat st = { .st_ino = 42, .st_mode = S_IFDIR | 0755 };
	struct fp_entry e = { .ino = 42, .attr = st, .entry_timeout = 1 };
	struct fuse_dirent d;
	char buf[256];
	size_t n;

	(void)state;
	assert_int_equal(fp_add_direntry(NULL, 0, "abc", &st, 7), 32);
	assert_int_equal(fp_add_direntry(buf, 31, "abc", &st, 7), 32);  /* no room */
	n = fp_add_direntry(buf, sizeof(buf), "abc", &st, 7);
	assert_int_equal(n, 32);
	memcpy(&d, buf, sizeof(d));
	assert_int_equal(d.ino, 42);
	assert_int_equal(d.off, 7);
	assert_int_equal(d.namelen, 3);
	assert_int_equal(d.type, DT_DIR);
	assert_memory_equal(buf + FUSE_NAME_OFFSET, "abc\0\0\0\0\0", 8);
	n = fp_add_direntry_plus(buf, sizeof(buf), "abc", &e, 7);
	assert_int_equal(n, sizeof(struct fuse_entry_out) + 32);
	memcpy(&d, buf + sizeof(struct fuse_entry_out), sizeof(d));
	assert_int_equal(d.ino, 42);
	assert_int_equal(d.type, DT_DIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_init),
		cmocka_unit_test(test_init_flags),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_setxattr),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_unserved),
		cmocka_unit_test(test_random_bodies),
		cmocka_unit_test(test_dirents),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
