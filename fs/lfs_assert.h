/* SPDX-License-Identifier: MIT */
/*
 * LFS_ASSERT(expr): a debug check of a precondition or invariant of the
 * code itself ("the caller holds the inode's lock", "before txn_lock").
 * It is on unless NDEBUG is defined: our builds are debugoptimized, so it
 * is on in the tests and the sanitizer build, and -Db_ndebug=true turns
 * it off (expr is then not evaluated).  A false expr prints
 * "larchfs: FILE:LINE: assertion failed: EXPR" to stderr and aborts.
 *
 * Assertions are for bugs only.  Bad input, a damaged store and I/O
 * errors are negative errnos, never an abort.  Where a bug would damage
 * data if the code went on, it also returns an error, so that a build
 * without assertions refuses the operation instead.
 */
#ifndef LARCHFS_LFS_ASSERT_H
#define LARCHFS_LFS_ASSERT_H

#ifdef NDEBUG
#define LFS_ASSERT(expr) ((void)sizeof(expr))
#else
#include <stdio.h>
#include <stdlib.h>

#define LFS_ASSERT(expr) \
	((expr) ? (void)0 : lfs_assert_failed(__FILE__, __LINE__, #expr))

static inline _Noreturn void lfs_assert_failed(const char *file, int line,
					       const char *expr)
{
	fprintf(stderr, "larchfs: %s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}
#endif

#endif
