/* SPDX-License-Identifier: MIT */
/*
 * test_txn.c: transactions (fs/txn.c) keep their contract: every inode a
 * transaction changes is locked and noted for fsync, so one that cannot
 * be (one past TXN_MAX_INODES) is refused as the bug it is, never dropped.  Looks
 * inside the core (fs/internal.h).
 */
#include "fsutil.h"
#include "internal.h"

/* Adds inodes 1..TXN_MAX_INODES to a new transaction t. */
static void fill(struct fx *f, struct txn *t)
{
	assert_ok(txn_begin(f->fs, t));
	for (uint64_t ino = 1; ino <= TXN_MAX_INODES; ino++)
		assert_ok(txn_add(t, ino));
}

static struct txn full;

static int add_one_too_many(struct fx *f)
{
	int err = txn_add(&full, TXN_MAX_INODES + 1);
	return err == -E2BIG && strstr(f->log, "more than") ? 0 : -1;
}

static void test_one_inode_too_many(void **state)
{
	struct fx *f = *state;

	fill(f, &full);
	fx_expect_bug(f, add_one_too_many);
	assert_int_equal(full.nino, TXN_MAX_INODES);
	txn_end(&full);
}

static void test_duplicates(void **state)
{
	struct fx *f = *state;
	struct txn t;

	fill(f, &t);
	for (uint64_t ino = TXN_MAX_INODES; ino >= 1; ino--)
		assert_ok(txn_add(&t, ino));
	assert_int_equal(t.nino, TXN_MAX_INODES);
	txn_lock(&t);
	assert_ok(txn_commit(&t));
	txn_end(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_one_inode_too_many),
		fx_test(test_duplicates),
	};
	return cmocka_run_group_tests_name("fs_txn", tests, NULL, NULL);
}
