/* SPDX-License-Identifier: MIT */
/*
 * test_faultio.c: unit tests of the fault-injecting I/O layer itself, so
 * that a crash-test failure can be trusted to be the engine's.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "faultio.h"
#include "testrng.h"

/* ---- helpers ----------------------------------------------------------- */

static lkv_file *xopen(faultio *f, const char *name, int flags)
{
	lkv_io *io = faultio_io(f);
	lkv_file *h = NULL;

	assert_int_equal(io->ops->open(io, name, flags, &h), 0);
	assert_non_null(h);
	return h;
}

static void xwrite(lkv_file *h, faultio *f, const char *s, uint64_t off)
{
	lkv_io *io = faultio_io(f);

	assert_int_equal(io->ops->pwrite(h, s, strlen(s), off),
			 (ssize_t)strlen(s));
}

/* The current contents of `name` as a string, or "<none>" when missing. */
static const char *contents(faultio *f, const char *name)
{
	static char buf[4096];
	ssize_t n = faultio_read(f, name, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return "<none>";
	buf[n] = 0;
	return buf;
}

static bool exists(faultio *f, const char *name)
{
	uint64_t sz;

	return faultio_file_size(f, name, &sz) == 0;
}

/* ---- the plain file system --------------------------------------------- */

static void test_basic_io(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = NULL;
	char buf[32];
	uint64_t sz;

	assert_int_equal(io->ops->open(io, "a", 0, &h), -ENOENT);
	assert_int_equal(io->ops->open(io, "x/y", LKV_IO_CREATE, &h), -EINVAL);
	assert_int_equal(io->ops->open(io, "", LKV_IO_CREATE, &h), -EINVAL);
	h = xopen(f, "a", LKV_IO_CREATE | LKV_IO_EXCL);
	lkv_file *h2 = NULL;

	assert_int_equal(io->ops->open(io, "a", LKV_IO_CREATE | LKV_IO_EXCL,
				       &h2), -EEXIST);
	xwrite(h, f, "hello", 0);
	xwrite(h, f, "XY", 8);               /* leaves a zero-filled gap */
	assert_int_equal(io->ops->size(h, &sz), 0);
	assert_int_equal(sz, 10);
	assert_int_equal(io->ops->pread(h, buf, sizeof(buf), 0), 10);
	assert_memory_equal(buf, "hello\0\0\0XY", 10);
	assert_int_equal(io->ops->pread(h, buf, 4, 20), 0);
	assert_int_equal(io->ops->truncate(h, 3), 0);
	assert_string_equal(contents(f, "a"), "hel");

	/* read-only handles refuse writes */
	h2 = xopen(f, "a", LKV_IO_RDONLY);
	assert_int_equal(io->ops->pwrite(h2, "z", 1, 0), -EBADF);
	assert_int_equal(io->ops->truncate(h2, 0), -EBADF);
	io->ops->close(h2);

	/* handles follow the inode across rename and unlink */
	assert_int_equal(io->ops->rename(io, "a", "b"), 0);
	assert_false(exists(f, "a"));
	xwrite(h, f, "p", 0);
	assert_string_equal(contents(f, "b"), "pel");
	assert_int_equal(io->ops->unlink(io, "b"), 0);
	assert_int_equal(io->ops->unlink(io, "b"), -ENOENT);
	assert_int_equal(io->ops->rename(io, "b", "c"), -ENOENT);
	xwrite(h, f, "q", 0);
	assert_int_equal(io->ops->pread(h, buf, 3, 0), 3);
	assert_memory_equal(buf, "qel", 3);
	io->ops->close(h);

	struct faultio_stats st;

	faultio_stats(f, &st);
	assert_int_equal(st.open_handles, 0);
	assert_int_equal(st.files, 0);
	assert_int_equal(faultio_free(f), 0);
}

static int collect(void *arg, const char *name)
{
	char *out = arg;

	strcat(out, name);
	strcat(out, ",");
	return 0;
}

static int stop_at_b(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "b") == 0 ? 42 : 0;
}

/* The list callback may re-enter the io (the mutex is not held). */
static int unlink_each(void *arg, const char *name)
{
	lkv_io *io = arg;

	return io->ops->unlink(io, name);
}

static void test_list_rename_over(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	char names[256] = "";

	io->ops->close(xopen(f, "c", LKV_IO_CREATE));
	io->ops->close(xopen(f, "a", LKV_IO_CREATE));
	lkv_file *h = xopen(f, "b", LKV_IO_CREATE);

	xwrite(h, f, "bee", 0);
	io->ops->close(h);
	assert_int_equal(io->ops->list(io, collect, names), 0);
	assert_string_equal(names, "a,b,c,");
	assert_int_equal(io->ops->list(io, stop_at_b, NULL), 42);
	assert_int_equal(io->ops->rename(io, "b", "c"), 0);
	assert_string_equal(contents(f, "c"), "bee");
	names[0] = 0;
	assert_int_equal(io->ops->list(io, collect, names), 0);
	assert_string_equal(names, "a,c,");
	assert_int_equal(io->ops->list(io, unlink_each, io), 0);
	names[0] = 0;
	assert_int_equal(io->ops->list(io, collect, names), 0);
	assert_string_equal(names, "");
	assert_int_equal(io->ops->lock(io, true), 0);
	assert_int_equal(io->ops->lock(io, true), 0);
	faultio_set_lock_error(f, -EBUSY);
	assert_int_equal(io->ops->lock(io, false), -EBUSY);
	faultio_free(f);
}

/* ---- power cuts -------------------------------------------------------- */

static void test_crash_durability(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "synced", LKV_IO_CREATE);

	xwrite(h, f, "durable", 0);
	assert_int_equal(io->ops->sync(h), 0);
	xwrite(h, f, "DUR", 0);              /* unsynced overwrite */
	io->ops->close(h);
	io->ops->close(xopen(f, "unnamed", LKV_IO_CREATE));

	/* Nothing named yet: a cut may lose both files, or keep the first
	 * create (with its synced data) and maybe the second. */
	int lost = 0;

	for (uint64_t seed = 0; seed < 40; seed++) {
		faultio *g = faultio_crash(f, seed, FAULTIO_REORDER);

		if (!exists(g, "synced")) {
			assert_false(exists(g, "unnamed"));
			lost++;
		} else {
			const char *c = contents(g, "synced");

			assert_true(!strcmp(c, "durable") ||
				    !strcmp(c, "DURable"));
		}
		faultio_free(g);
	}
	assert_true(lost > 0 && lost < 40);
	faultio *g = faultio_crash(f, 1, FAULTIO_DROP_ALL);

	assert_false(exists(g, "synced"));
	faultio_free(g);
	assert_int_equal(io->ops->sync_dir(io), 0);

	g = faultio_crash(f, 1, FAULTIO_DROP_ALL);
	assert_string_equal(contents(g, "synced"), "durable");
	assert_string_equal(contents(g, "unnamed"), "");
	faultio_free(g);

	/* Without DROP_ALL both outcomes occur. */
	bool saw_old = false, saw_new = false;

	for (uint64_t seed = 0; seed < 64; seed++) {
		g = faultio_crash(f, seed, FAULTIO_ORDERED);
		const char *c = contents(g, "synced");

		if (!strcmp(c, "durable"))
			saw_old = true;
		else if (!strcmp(c, "DURable"))
			saw_new = true;
		else
			fail_msg("unexpected contents %s", c);
		faultio_free(g);
	}
	assert_true(saw_old && saw_new);

	/* The copy is independent of the original and vice versa. */
	g = faultio_crash(f, 3, FAULTIO_DROP_ALL);
	h = xopen(f, "synced", 0);
	xwrite(h, f, "zzzzzzz", 0);
	io->ops->close(h);
	assert_string_equal(contents(g, "synced"), "durable");
	assert_int_equal(faultio_corrupt(g, "synced", 0, 0x20), 0);
	assert_string_equal(contents(g, "synced"), "Durable");
	assert_string_equal(contents(f, "synced"), "zzzzzzz");
	faultio_free(g);
	assert_int_equal(faultio_free(f), 0);
}

/* Pending name operations survive as a prefix, in order. */
static void test_crash_namespace_prefix(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "tmp", LKV_IO_CREATE);

	xwrite(h, f, "new", 0);
	assert_int_equal(io->ops->sync(h), 0);
	io->ops->close(h);
	h = xopen(f, "live", LKV_IO_CREATE);
	xwrite(h, f, "old", 0);
	assert_int_equal(io->ops->sync(h), 0);
	io->ops->close(h);
	/* pending: create tmp, create live */
	assert_int_equal(io->ops->sync_dir(io), 0);
	assert_int_equal(io->ops->rename(io, "tmp", "live"), 0);
	io->ops->close(xopen(f, "after", LKV_IO_CREATE));

	int outcomes[3] = { 0 };

	for (uint64_t seed = 0; seed < 100; seed++) {
		faultio *g = faultio_crash(f, seed, FAULTIO_REORDER);
		bool tmp = exists(g, "tmp"), after = exists(g, "after");
		const char *live = contents(g, "live");

		if (tmp) {            /* nothing applied */
			assert_string_equal(live, "old");
			assert_false(after);
			outcomes[0]++;
		} else if (!after) {  /* the rename only */
			assert_string_equal(live, "new");
			outcomes[1]++;
		} else {              /* both */
			assert_string_equal(live, "new");
			outcomes[2]++;
		}
		faultio_free(g);
	}
	assert_true(outcomes[0] && outcomes[1] && outcomes[2]);

	faultio *g = faultio_crash(f, 7, FAULTIO_DROP_ALL);

	assert_true(exists(g, "tmp"));
	assert_string_equal(contents(g, "live"), "old");
	faultio_free(g);
	assert_int_equal(io->ops->sync_dir(io), 0);
	g = faultio_crash(f, 7, FAULTIO_DROP_ALL);
	assert_false(exists(g, "tmp"));
	assert_true(exists(g, "after"));
	assert_string_equal(contents(g, "live"), "new");
	faultio_free(g);
	faultio_free(f);
}

/* Three unsynced writes A, B, C to distinct sectors of a synced file;
 * returns the outcome bits (which of them survived whole, 8 = something
 * torn) over many seeds, checking each outcome against the mode. */
static unsigned crash_outcomes(unsigned mode)
{
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);
	static uint8_t w[3][1024];
	uint8_t zero[3 * 1024] = { 0 };
	unsigned seen = 0;

	assert_int_equal(io->ops->pwrite(h, zero, sizeof(zero), 0),
			 (ssize_t)sizeof(zero));
	assert_int_equal(io->ops->sync(h), 0);
	assert_int_equal(io->ops->sync_dir(io), 0);
	for (int i = 0; i < 3; i++) {
		memset(w[i], 'A' + i, sizeof(w[i]));
		assert_int_equal(io->ops->pwrite(h, w[i], sizeof(w[i]),
						 (uint64_t)i * 1024), 1024);
	}
	io->ops->close(h);

	for (uint64_t seed = 0; seed < 400; seed++) {
		faultio *g = faultio_crash(f, seed, mode);
		uint8_t got[3 * 1024];
		unsigned whole = 0;
		bool torn = false;

		assert_int_equal(faultio_read(g, "f", got, sizeof(got), 0),
				 (ssize_t)sizeof(got));
		for (int i = 0; i < 3; i++) {
			size_t n = 0;

			for (size_t j = 0; j < 1024; j++)
				n += got[i * 1024 + j] == 'A' + i;
			if (n == 1024)
				whole |= 1u << i;
			else if (n)
				torn = true;
			for (size_t j = 0; j < 1024; j++)
				assert_true(got[i * 1024 + j] == 0 ||
					    got[i * 1024 + j] == 'A' + i);
		}
		if (mode & FAULTIO_DROP_ALL)
			assert_int_equal(whole, 0);
		if (!(mode & FAULTIO_REORDER))  /* a prefix */
			assert_true(whole == 0 || whole == 1 || whole == 3 ||
				    whole == 7);
		if (!(mode & FAULTIO_TORN))
			assert_false(torn);
		seen |= whole == 0 ? 0 : 1u << whole;
		if (torn)
			seen |= 1u << 8;
		faultio_free(g);
	}
	faultio_free(f);
	return seen;
}

static void test_crash_modes(void **state)
{
	(void)state;
	unsigned seen;

	assert_int_equal(crash_outcomes(FAULTIO_DROP_ALL), 0);
	seen = crash_outcomes(FAULTIO_ORDERED);
	assert_true(seen & (1u << 1) && seen & (1u << 3) && seen & (1u << 7));
	seen = crash_outcomes(FAULTIO_ORDERED | FAULTIO_TORN);
	assert_true(seen & (1u << 8));
	/* Reordering lets C survive without A or B. */
	seen = crash_outcomes(FAULTIO_REORDER);
	assert_true(seen & (1u << 4) && seen & (1u << 5));
	seen = crash_outcomes(FAULTIO_REORDER | FAULTIO_TORN);
	assert_true(seen & (1u << 8));
}

/* A torn write that straddles sectors keeps whole aligned sectors or a
 * prefix, and the same seed always gives the same image. */
static void test_crash_deterministic(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);
	uint8_t data[5000], a[5000], b[5000];
	uint64_t rng = 99;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)rng_next(&rng) | 1;
	assert_int_equal(io->ops->sync_dir(io), 0);
	assert_int_equal(io->ops->pwrite(h, data, sizeof(data), 100),
			 (ssize_t)sizeof(data));
	io->ops->close(h);
	for (uint64_t seed = 0; seed < 50; seed++) {
		faultio *g1 = faultio_crash(f, seed, FAULTIO_TORN);
		faultio *g2 = faultio_crash(f, seed, FAULTIO_TORN);
		ssize_t n1 = faultio_read(g1, "f", a, sizeof(a), 100);
		ssize_t n2 = faultio_read(g2, "f", b, sizeof(b), 100);

		assert_int_equal(n1, n2);
		assert_true(n1 >= 0);
		if (n1 > 0)
			assert_memory_equal(a, b, (size_t)n1);
		for (ssize_t i = 0; i < n1; i++)
			assert_true(a[i] == 0 || a[i] == data[i]);
		faultio_free(g1);
		faultio_free(g2);
	}
	faultio_free(f);
}

/* ---- injected faults --------------------------------------------------- */

static void test_fail_after(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);
	char buf[8];

	faultio_fail_after(f, FAULTIO_OP_WRITE, 2, -ENOSPC, false);
	xwrite(h, f, "a", 0);
	assert_int_equal(io->ops->sync(h), 0);   /* not a WRITE: not counted */
	xwrite(h, f, "b", 1);
	assert_int_equal(io->ops->pwrite(h, "c", 1, 2), -ENOSPC);
	xwrite(h, f, "d", 3);                    /* one-shot */
	assert_int_equal(io->ops->size(h, &(uint64_t){ 0 }), 0);
	assert_string_equal(contents(f, "f"), "ab\0d");

	faultio_fail_after(f, FAULTIO_OP_READ, 0, -EIO, true);
	assert_int_equal(io->ops->pread(h, buf, 1, 0), -EIO);
	assert_int_equal(io->ops->pread(h, buf, 1, 0), -EIO);
	faultio_clear_faults(f);
	assert_int_equal(io->ops->pread(h, buf, 1, 0), 1);

	faultio_fail_after(f, FAULTIO_OP_NAME, 0, -EIO, false);
	assert_int_equal(io->ops->rename(io, "f", "g"), -EIO);
	assert_true(exists(f, "f"));

	struct faultio_stats st;

	faultio_stats(f, &st);
	assert_int_equal(st.failed, 4);
	io->ops->close(h);
	faultio_free(f);
}

/* A failed fsync drops the dirty data for good, as Linux does. */
static void test_failed_sync_loses_data(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);

	assert_int_equal(io->ops->sync_dir(io), 0);
	xwrite(h, f, "aaaa", 0);
	assert_int_equal(io->ops->sync(h), 0);
	xwrite(h, f, "bb", 0);
	faultio_fail_after(f, FAULTIO_OP_SYNC, 0, -EIO, false);
	assert_int_equal(io->ops->sync(h), -EIO);
	xwrite(h, f, "c", 3);
	assert_int_equal(io->ops->sync(h), 0);    /* "succeeds" */
	assert_string_equal(contents(f, "f"), "bbac");
	for (uint64_t seed = 0; seed < 20; seed++) {
		faultio *g = faultio_crash(f, seed, FAULTIO_REORDER);

		assert_string_equal(contents(g, "f"), "aaac");
		faultio_free(g);
	}
	io->ops->close(h);
	faultio_free(f);
}

static void test_freeze(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);   /* op 1 */

	assert_int_equal(faultio_op_count(f), 1);
	assert_int_equal(io->ops->sync_dir(io), 0);   /* op 2 */
	faultio_freeze_after(f, 2);
	xwrite(h, f, "ab", 0);
	assert_false(faultio_frozen(f));
	assert_int_equal(io->ops->sync(h), 0);        /* 2nd: freezes after */
	assert_true(faultio_frozen(f));
	xwrite(h, f, "XY", 0);
	assert_int_equal(io->ops->sync(h), 0);
	io->ops->close(xopen(f, "late", LKV_IO_CREATE));
	assert_int_equal(io->ops->sync_dir(io), 0);
	/* The engine's view goes on ... */
	assert_string_equal(contents(f, "f"), "XY");
	/* ... but every cut is as of the freeze. */
	for (uint64_t seed = 0; seed < 20; seed++) {
		faultio *g = faultio_crash(f, seed, FAULTIO_REORDER);

		assert_string_equal(contents(g, "f"), "ab");
		assert_false(exists(g, "late"));
		faultio_free(g);
	}
	faultio_freeze_after(f, 0);                   /* already frozen */
	faultio *g = faultio_crash(f, 0, FAULTIO_ORDERED);

	assert_string_equal(contents(g, "f"), "ab");
	faultio_free(g);
	io->ops->close(h);

	/* freeze_after(0) freezes at once */
	f = (faultio_free(f), faultio_new());
	io = faultio_io(f);
	h = xopen(f, "f", LKV_IO_CREATE);
	assert_int_equal(io->ops->sync_dir(io), 0);
	faultio_freeze_after(f, 0);
	assert_true(faultio_frozen(f));
	xwrite(h, f, "zz", 0);
	assert_int_equal(io->ops->sync(h), 0);
	g = faultio_crash(f, 0, FAULTIO_ORDERED);
	assert_string_equal(contents(g, "f"), "");
	faultio_free(g);
	io->ops->close(h);
	faultio_free(f);
}

/* freeze_after_ops counts only its classes: here, syncs. */
static void test_freeze_ops(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);

	assert_int_equal(io->ops->sync_dir(io), 0);
	faultio_freeze_after_ops(f, FAULTIO_OP_SYNC, 2);
	xwrite(h, f, "a", 0);
	assert_int_equal(io->ops->sync(h), 0);        /* 1st sync */
	xwrite(h, f, "b", 1);
	xwrite(h, f, "c", 2);
	io->ops->close(xopen(f, "g", LKV_IO_CREATE)); /* a NAME call */
	assert_false(faultio_frozen(f));
	assert_int_equal(io->ops->sync(h), 0);        /* 2nd: freezes after */
	assert_true(faultio_frozen(f));
	xwrite(h, f, "d", 3);
	assert_int_equal(io->ops->sync(h), 0);
	assert_int_equal(io->ops->sync_dir(io), 0);
	/* as of the freeze: "abc" synced, "g" created but not durable */
	for (uint64_t seed = 0; seed < 20; seed++) {
		faultio *g = faultio_crash(f, seed, FAULTIO_REORDER);

		assert_string_equal(contents(g, "f"), "abc");
		faultio_free(g);
	}
	faultio *g = faultio_crash(f, 0, FAULTIO_DROP_ALL);

	assert_string_equal(contents(g, "f"), "abc");
	assert_false(exists(g, "g"));
	faultio_free(g);
	io->ops->close(h);
	faultio_free(f);
}

static void test_corrupt_and_truncate(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	lkv_io *io = faultio_io(f);
	lkv_file *h = xopen(f, "f", LKV_IO_CREATE);

	xwrite(h, f, "abcd", 0);
	assert_int_equal(io->ops->sync(h), 0);
	assert_int_equal(io->ops->sync_dir(io), 0);
	io->ops->close(h);
	assert_int_equal(faultio_corrupt(f, "f", 1, 0x20), 0);
	assert_int_equal(faultio_corrupt(f, "f", 4, 1), -EINVAL);
	assert_int_equal(faultio_corrupt(f, "nope", 0, 1), -ENOENT);
	assert_string_equal(contents(f, "f"), "aBcd");
	assert_int_equal(faultio_truncate_file(f, "f", 2), 0);

	faultio *g = faultio_crash(f, 0, FAULTIO_DROP_ALL);
	uint64_t sz;

	assert_string_equal(contents(g, "f"), "aB");
	assert_int_equal(faultio_file_size(g, "f", &sz), 0);
	assert_int_equal(sz, 2);
	faultio_free(g);
	faultio_free(f);
}

/* A handle left open is reported (and freed) by faultio_free. */
static void test_leak_report(void **state)
{
	(void)state;
	faultio *f = faultio_new();

	(void)xopen(f, "f", LKV_IO_CREATE);
	(void)xopen(f, "f", 0);
	assert_int_equal(faultio_free(f), 2);
}

/* ---- threads ----------------------------------------------------------- */

struct hammer {
	faultio *f;
	int      id;
};

static void *hammer_thread(void *arg)
{
	struct hammer *hm = arg;
	lkv_io *io = faultio_io(hm->f);
	char name[16];
	uint8_t buf[700];
	uint64_t rng = (uint64_t)hm->id;
	lkv_file *h = NULL;

	snprintf(name, sizeof(name), "t%d", hm->id);
	if (io->ops->open(io, name, LKV_IO_CREATE, &h))
		return (void *)1;
	for (int i = 0; i < 2000; i++) {
		uint64_t off = rng_below(&rng, 8) * sizeof(buf);

		memset(buf, (int)(i & 0xff), sizeof(buf));
		if (io->ops->pwrite(h, buf, sizeof(buf), off) != sizeof(buf))
			return (void *)1;
		if (io->ops->pread(h, buf, sizeof(buf), off) != sizeof(buf) ||
		    buf[0] != (uint8_t)i || buf[sizeof(buf) - 1] != (uint8_t)i)
			return (void *)1;
		if (i % 50 == 0 && (io->ops->sync(h) || io->ops->sync_dir(io)))
			return (void *)1;
		if (i % 300 == 0)
			faultio_free(faultio_crash(hm->f, (uint64_t)i,
						   FAULTIO_REORDER |
						   FAULTIO_TORN));
	}
	io->ops->close(h);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	faultio *f = faultio_new();
	pthread_t t[4];
	struct hammer hm[4];

	for (int i = 0; i < 4; i++) {
		hm[i] = (struct hammer){ f, i };
		assert_int_equal(pthread_create(&t[i], NULL, hammer_thread,
						&hm[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(faultio_free(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_io),
		cmocka_unit_test(test_list_rename_over),
		cmocka_unit_test(test_crash_durability),
		cmocka_unit_test(test_crash_namespace_prefix),
		cmocka_unit_test(test_crash_modes),
		cmocka_unit_test(test_crash_deterministic),
		cmocka_unit_test(test_fail_after),
		cmocka_unit_test(test_failed_sync_loses_data),
		cmocka_unit_test(test_freeze),
		cmocka_unit_test(test_freeze_ops),
		cmocka_unit_test(test_corrupt_and_truncate),
		cmocka_unit_test(test_leak_report),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
