/* SPDX-License-Identifier: MIT */
/*
 * The one checksum of every on-disk structure: XXH3-64, seed 0, through
 * xxhash's run-time dispatch (AVX-512 / AVX2 / SSE2, picked on first use).
 */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#include <xxh_x86dispatch.h>

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
