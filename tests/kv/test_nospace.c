/* SPDX-License-Identifier: MIT */
/*
 * A disk that fills up under the store (another program took the space):
 * a flush that fails for space keeps its changes and is retried, the store
 * stays writable, nothing reported durable is lost, and a power cut while
 * flushes fail opens to an epoch boundary.  Other errors still fail the
 * store.  Runs on faultio (tests/support), which injects the errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "faultio.h"
#include "larchkv.h"

struct fx {
	faultio *f;
	struct lkv_options o;
	lkv_store *s;
	lkv_tree *t;
	char log[8192];
};

static void capture(void *arg, int level, const char *msg)
{
	struct fx *x = arg;
	(void)level;
	size_t n = strlen(x->log);
	snprintf(x->log + n, sizeof(x->log) - n, "%s\n", msg);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	x->f = faultio_new();
	lkv_options_default(&x->o);
	x->o.flags = LKV_CREATE;
	x->o.flush_interval_ms = 0;
	x->o.io = faultio_io(x->f);
	x->o.log = capture;
	x->o.log_arg = x;
	assert_int_equal(lkv_open("nospace", &x->o, &x->s), 0);
	assert_int_equal(lkv_tree_open(x->s, "main", &x->t), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	if (x->s)
		lkv_close(x->s);
	faultio_free(x->f);
	free(x);
	return 0;
}

static void put(lkv_tree *t, int i, int ver, uint64_t *epoch)
{
	char k[32], v[64];
	int kl = snprintf(k, sizeof(k), "key%06d", i);
	int vl = snprintf(v, sizeof(v), "value-%d-%d", i, ver);
	assert_int_equal(lkv_put(t, k, kl, v, vl, epoch), 0);
}

/* The version of key i in t, or -1 when absent. */
static int version(lkv_tree *t, int i)
{
	char k[32], buf[64];
	size_t vl;
	int kl = snprintf(k, sizeof(k), "key%06d", i), at, ver;
	int err = lkv_get(t, k, kl, buf, sizeof(buf) - 1, &vl);
	if (err == -ENOENT)
		return -1;
	assert_int_equal(err, 0);
	buf[vl] = 0;
	assert_int_equal(sscanf(buf, "value-%d-%d", &at, &ver), 2);
	assert_int_equal(at, i);
	return ver;
}

/* Opens the store a power cut now would leave (nothing unsynced kept). */
static lkv_store *crash_open(struct fx *x, faultio **img, lkv_tree **t)
{
	struct lkv_options o = x->o;
	lkv_store *s;
	*img = faultio_crash(x->f, 1, FAULTIO_DROP_ALL);
	o.flags = 0;
	o.io = faultio_io(*img);
	assert_int_equal(lkv_open("nospace", &o, &s), 0);
	assert_int_equal(lkv_tree_open(s, "main", t), 0);
	return s;
}

static void crash_close(lkv_store *s, faultio *img)
{
	assert_int_equal(lkv_close(s), 0);
	faultio_free(img);
}

/*
 * Writes fail with ENOSPC for a while: flushes fail and say so, changes go
 * on being accepted and read back, a power cut meanwhile recovers the last
 * durable state, and once space returns one flush makes all of it durable.
 */
static void test_flush_retried_after_space_returns(void **state)
{
	struct fx *x = *state;
	struct lkv_stats st;
	for (int i = 0; i < 100; i++)
		put(x->t, i, 1, NULL);
	assert_int_equal(lkv_flush(x->s, 0), 0);
	uint64_t durable = lkv_epoch_durable(x->s);

	faultio_fail_after(x->f, FAULTIO_OP_WRITE | FAULTIO_OP_NAME, 0, -ENOSPC, true);
	for (int round = 2; round < 6; round++) {
		for (int i = 0; i < 100; i += round)
			put(x->t, i, round, NULL);
		assert_int_equal(lkv_flush(x->s, 0), -ENOSPC);
	}
	assert_int_equal(lkv_epoch_durable(x->s), durable);
	lkv_stats(x->s, &st);
	assert_int_equal(st.flush_stalled, -ENOSPC);
	assert_true(st.flush_errors >= 4);
	assert_non_null(strstr(x->log, "are kept in memory and the flush is retried"));
	assert_null(strstr(strstr(x->log, "is retried") + 1, "is retried"));   /* once */
	for (int i = 0; i < 100; i++)        /* readers see every change */
		assert_int_equal(version(x->t, i), i % 5 == 0 ? 5 : i % 4 == 0 ? 4 :
				 i % 3 == 0 ? 3 : i % 2 == 0 ? 2 : 1);

	faultio *img;
	lkv_tree *ct;
	lkv_store *c = crash_open(x, &img, &ct);
	for (int i = 0; i < 100; i++)        /* the last durable state, whole */
		assert_int_equal(version(ct, i), 1);
	crash_close(c, img);

	faultio_clear_faults(x->f);
	assert_int_equal(lkv_flush(x->s, 0), 0);
	assert_true(lkv_epoch_durable(x->s) > durable);
	lkv_stats(x->s, &st);
	assert_int_equal(st.flush_stalled, 0);
	assert_non_null(strstr(x->log, "flushes work again"));
	c = crash_open(x, &img, &ct);
	for (int i = 0; i < 100; i++)
		assert_int_equal(version(ct, i), version(x->t, i));
	crash_close(c, img);
}

/* A log sync that fails for space, after its records were written, is
 * retried too: the failed flush's bytes are cut and written again. */
static void test_failed_log_sync_retried(void **state)
{
	struct fx *x = *state;
	for (int i = 0; i < 50; i++)
		put(x->t, i, 1, NULL);
	assert_int_equal(lkv_flush(x->s, 0), 0);
	for (int i = 0; i < 50; i++)
		put(x->t, i, 2, NULL);
	/* the flush syncs no segment (no blobs), so its first sync is the log's;
	 * every sync fails meanwhile (the log-zeroing helper's too: it may sync
	 * first, and its failure costs nothing) */
	faultio_fail_after(x->f, FAULTIO_OP_SYNC, 0, -ENOSPC, true);
	assert_int_equal(lkv_flush(x->s, 0), -ENOSPC);
	faultio_clear_faults(x->f);
	put(x->t, 0, 3, NULL);
	assert_int_equal(lkv_flush(x->s, 0), 0);
	faultio *img;
	lkv_tree *ct;
	lkv_store *c = crash_open(x, &img, &ct);
	assert_int_equal(version(ct, 0), 3);
	for (int i = 1; i < 50; i++)
		assert_int_equal(version(ct, i), 2);
	crash_close(c, img);
}

/* With the background flusher, the kept changes become durable by
 * themselves soon after space returns (retries pause at most 5 s). */
static void test_background_retry(void **state)
{
	struct fx *x = *state;
	assert_int_equal(lkv_close(x->s), 0);
	x->o.flags = 0;
	x->o.flush_interval_ms = 60000;          /* only the retry can do it */
	assert_int_equal(lkv_open("nospace", &x->o, &x->s), 0);
	assert_int_equal(lkv_tree_open(x->s, "main", &x->t), 0);
	faultio_fail_after(x->f, FAULTIO_OP_WRITE | FAULTIO_OP_NAME, 0, -ENOSPC, true);
	uint64_t e;
	put(x->t, 7, 1, &e);
	assert_int_equal(lkv_flush(x->s, 0), -ENOSPC);
	faultio_clear_faults(x->f);
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	for (int i = 0; i < 500 && lkv_epoch_durable(x->s) < e; i++)   /* 10 s */
		nanosleep(&tick, NULL);
	assert_true(lkv_epoch_durable(x->s) >= e);
}

/* An I/O error is not a full disk: the store fails and says so. */
static void test_io_error_still_fails(void **state)
{
	struct fx *x = *state;
	put(x->t, 1, 1, NULL);
	faultio_fail_after(x->f, FAULTIO_OP_WRITE, 0, -EIO, true);
	assert_int_equal(lkv_flush(x->s, 0), -EIO);
	faultio_clear_faults(x->f);
	char k[] = "other";
	assert_int_equal(lkv_put(x->t, k, 5, "v", 1, NULL), -EIO);
	assert_non_null(strstr(x->log, "accepts no more changes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flush_retried_after_space_returns, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_log_sync_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_error_still_fails, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
