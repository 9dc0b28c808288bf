/* SPDX-License-Identifier: MIT */
/*
 * firsterr.h: a thread's first error.  The worker threads of the crash and
 * concurrency tests cannot fail the test themselves (cmocka's failure
 * jumps out of the thread that reports it), so each keeps the first
 * contract violation it sees in its own buffer, and the main thread fails
 * the test with it after joining them.  Only the first is kept: what goes
 * wrong afterwards usually follows from it.  Header-only.
 */
#ifndef LARCH_FIRSTERR_H
#define LARCH_FIRSTERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the message into err (cap bytes) unless err already holds one. */
static inline void first_error(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void first_error(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

#endif
