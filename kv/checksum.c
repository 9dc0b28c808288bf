/* SPDX-License-Identifier: MIT */
/*
 * The one checksum of every on-disk structure: XXH3-64, seed 0, through
 * xxhash's run-time dispatch (AVX-512 / AVX2 / SSE2, picked on first use).
 */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#include <xxh_x86dispatch.h>

#include <errno.h>
#include <stdlib.h>

#include "internal.h"

uint64_t lkv_checksum(const void *p, size_t n)
{
	return XXH3_64bits_dispatch(p, n);
}

/* The checksum of a followed by b, without joining them. */
uint64_t checksum2(const void *a, size_t al, const void *b, size_t bl)
{
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update_dispatch(&st, a, al);
	XXH3_64bits_update_dispatch(&st, b, bl);
	return XXH3_64bits_digest(&st);
}

/*
 * The checksum of bytes [off, off + len) of an open file, read in chunks
 * (a blob range, blob.c and recovery.c).  -EIO when the file is shorter;
 * -ENOMEM; a read error as such.
 */
int checksum_range(lkv_io *io, lkv_file *f, uint64_t off, uint64_t len, uint64_t *out)
{
	enum { CHUNK = 256u << 10 };
	uint8_t *buf = malloc(len < CHUNK ? (len ? len : 1) : CHUNK);
	XXH3_state_t *st = XXH3_createState();
	int err = buf && st ? 0 : -ENOMEM;
	if (!err)
		XXH3_64bits_reset(st);
	for (uint64_t at = 0; !err && at < len;) {
		size_t n = len - at < CHUNK ? (size_t)(len - at) : CHUNK;
		ssize_t got = io->ops->pread(f, buf, n, off + at);
		if (got != (ssize_t)n)
			err = got < 0 ? (int)got : -EIO;
		else
			XXH3_64bits_update_dispatch(st, buf, n);
		at += n;
	}
	if (!err)
		*out = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	free(buf);
	return err;
}
