/* SPDX-License-Identifier: MIT */
/*
 * Bloom filters, one per leaf image, kept in memory for every leaf (and in
 * the location table on disk) so that a lookup of a missing key in an
 * evicted leaf usually reads nothing.
 *
 * Hashing: h = XXH3-64(key); probes i = 0..k-1 test bit (h1 + i*h2) mod nbits
 * with h1 = low 32 bits, h2 = high 32 bits | 1 (Kirsch-Mitzenmacher).
 * Encoded as: u32 nbits (a multiple of 8, 0 = no filter), u8 k, nbits/8 bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BLOOM_MAX_BITS (1u << 26)

static void probes(const void *k, size_t kl, uint32_t *h1, uint32_t *h2)
{
	uint64_t h = lkv_checksum(k, kl);
	*h1 = (uint32_t)h;
	*h2 = (uint32_t)(h >> 32) | 1;
}

/* Adds the key whose XXH3-64 is h (a delta's keys come as hashes). */
void bloom_add_hash(struct bloom *b, uint64_t h)
{
	uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1;
	for (unsigned i = 0; i < b->k && b->nbits; i++) {
		uint32_t bit = (h1 + i * h2) % b->nbits;
		b->bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

static void bloom_add(struct bloom *b, const void *k, size_t kl)
{
	bloom_add_hash(b, lkv_checksum(k, kl));
}

bool bloom_may_contain(const struct bloom *b, const void *k, size_t kl)
{
	if (b->nbits == 0)
		return true;
	uint32_t h1, h2;
	probes(k, kl, &h1, &h2);
	for (unsigned i = 0; i < b->k; i++) {
		uint32_t bit = (h1 + i * h2) % b->nbits;
		if (!(b->bits[bit / 8] & (1u << (bit % 8))))
			return false;
	}
	return true;
}

void bloom_free(struct bloom *b)
{
	free(b->bits);
	*b = (struct bloom){ 0 };
}

/*
 * Builds the filter of a raw leaf body (leaf.c's format, already known
 * valid).  On allocation failure the filter is empty: correct, just slower.
 */
void bloom_build(struct bloom *b, const uint8_t *raw, size_t len, unsigned bits_per_key)
{
	struct rd r = rd_init(raw, len);
	rd_u32(&r);
	rd_u64(&r);
	uint32_t n = rd_u32(&r);
	bloom_free(b);
	if (!bits_per_key || r.bad)
		return;
	uint64_t nbits = ((uint64_t)n * bits_per_key + 63) / 64 * 64;
	if (nbits < 64)
		nbits = 64;
	if (nbits > BLOOM_MAX_BITS)
		nbits = BLOOM_MAX_BITS;
	b->bits = calloc(nbits / 8, 1);
	if (!b->bits)
		return;
	b->nbits = (uint32_t)nbits;
	b->k = bits_per_key * 69 / 100;       /* ln 2 * bits per key */
	if (b->k < 1)
		b->k = 1;
	if (b->k > 16)
		b->k = 16;
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		size_t kl, vl;
		rd_u8(&r);
		kl = rd_varint(&r);
		vl = rd_varint(&r);
		const uint8_t *k = rd_take(&r, kl);
		rd_take(&r, vl);
		if (!r.bad)
			bloom_add(b, k, kl);
	}
	if (r.bad)
		bloom_free(b);
}

int bloom_copy(struct bloom *dst, const struct bloom *src)
{
	*dst = (struct bloom){ 0 };
	if (!src->nbits)
		return 0;
	dst->bits = malloc(src->nbits / 8);
	if (!dst->bits)
		return -ENOMEM;
	memcpy(dst->bits, src->bits, src->nbits / 8);
	dst->nbits = src->nbits;
	dst->k = src->k;
	return 0;
}

void bloom_encode(const struct bloom *b, struct buf *out)
{
	buf_u32(out, b->nbits);
	buf_u8(out, b->k);
	buf_add(out, b->bits, b->nbits / 8);
}

int bloom_decode(struct bloom *b, struct rd *r)
{
	*b = (struct bloom){ 0 };
	uint32_t nbits = rd_u32(r);
	uint8_t k = rd_u8(r);
	if (r->bad || nbits % 8 || nbits > BLOOM_MAX_BITS || (nbits && (k < 1 || k > 16)))
		return -EUCLEAN;
	const uint8_t *p = rd_take(r, nbits / 8);
	if (!p)
		return -EUCLEAN;
	if (!nbits)
		return 0;
	b->bits = malloc(nbits / 8);
	if (!b->bits)
		return -ENOMEM;
	memcpy(b->bits, p, nbits / 8);
	b->nbits = nbits;
	b->k = k;
	return 0;
}
