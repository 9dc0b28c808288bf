/* SPDX-License-Identifier: MIT */
/* The growable output buffer of codec.h. */
#include <stdlib.h>

#include "codec.h"

/* Makes room for `extra` more bytes; false (and b->oom) when out of memory. */
bool buf_reserve(struct buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->len + extra <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){ 0 };
}
