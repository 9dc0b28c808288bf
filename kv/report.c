/* SPDX-License-Identifier: MIT */
/*
 * What the engine tells its user, and the one state that ends its writes.
 *
 * Messages: every message names the store directory first, then what is
 * involved (file, offset, leaf) and the cause; they go to the sink the
 * options name (stderr by default).
 *
 * Failure: the first error that leaves the store unable to make more
 * changes durable (a batch applied in part, a write whose outcome is not
 * known) is recorded in s->failed; from then on every change is refused
 * with it, reads go on, and the store reopens to its last durable epoch.
 * Errors the flush can retry (a full disk) do not fail the store.
 *
 * Assertions (LKV_ASSERT, internal.h) report here: a broken invariant is a
 * bug, never bad input, and stops the process in builds that check them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void store_log_stderr(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "larchkv: %s\n", msg);
}

void store_log(lkv_store *s, int level, const char *fmt, ...)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "%s: ", s->dir);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	s->o.log(s->o.log_arg, level, msg);
}

/* Records the first write error; every later change is refused with it. */
int store_fail(lkv_store *s, int err)
{
	int none = 0;
	atomic_compare_exchange_strong(&s->failed, &none, err);
	return err;
}

void lkv_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "larchkv: %s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}
