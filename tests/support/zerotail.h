/* SPDX-License-Identifier: MIT */
/*
 * zerotail.h: where the zeros at the end of a file begin.  A live store's
 * current log file ends in zeros that the engine writes ahead of its
 * flushes (kv/logzero.c); tests that look for the last records, or check
 * that zeros are there, use this.  Header-only.
 */
#ifndef LARCH_ZEROTAIL_H
#define LARCH_ZEROTAIL_H

#include <stdio.h>

/* The offset just past the last nonzero byte of path; *size (may be NULL)
 * gets the file's size.  -1 when the file cannot be read. */
static inline long zero_tail_at(const char *path, long *size)
{
	FILE *f = fopen(path, "rb");
	long end = 0, at = 0;
	int c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		if (at++, c)
			end = at;
	fclose(f);
	if (size)
		*size = at;
	return end;
}

#endif
