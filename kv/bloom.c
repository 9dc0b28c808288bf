/* SPDX-License-Identifier: MIT */
/*
 * Bloom filters, one per leaf image, kept in memory for every leaf (and in
 * the location table on disk) so that a lookup of a missing key in an
 * evicted leaf usually reads nothing.
 *
 * Hashing: h = XXH3-64(key); probes i = 0..k-1 test bit (h1 + i*h2) mod nbits
 * with h1 = low 32 bits, h2 = high 32 bits | 1 (Kirsch-Mitzenmacher).
 * Encoded as: u32 nbits (a multiple of 8, 0 = no filter), u8 k, nbits/8 bytes.
 *
 * A filter's bits never change once built or decoded, so copies share
 * them: the bits follow a reference count in one allocation, bloom_copy
 * takes a reference and bloom_free drops one.  A leaf in the index and its
 * entry in the location table (which snapshots write) hold the same bits:
 * one copy in memory where there were two, about 130 bytes a leaf.
 *
 * A delta record adds its keys to its leaf's filter (bloom_add_hashes):
 * shared bits are copied first and the copy changed, never the bits that
 * others hold (a reader of the leaf's filter holds the tree's lock, the
 * table's writer flush_mu, so changing shared bits in place would race);
 * the leaf then shares the table's new bits again (flush.c).
 */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BLOOM_MAX_BITS (1u << 26)

struct shared_bits {
	atomic_uint refs;
	uint32_t pad;             /* the bits start 8-byte aligned */
	uint8_t bits[];
};

static struct shared_bits *shared_of(const uint8_t *bits)
{
	return (struct shared_bits *)(uintptr_t)(bits - offsetof(struct shared_bits, bits));
}

/* n zeroed bytes of bits with one reference, or NULL. */
static uint8_t *bits_new(size_t n)
{
	struct shared_bits *sb = calloc(1, sizeof(*sb) + n);
	if (!sb)
		return NULL;
	atomic_init(&sb->refs, 1);
	return sb->bits;
}

static void probes(const void *k, size_t kl, uint32_t *h1, uint32_t *h2)
{
	uint64_t h = lkv_checksum(k, kl);
	*h1 = (uint32_t)h;
	*h2 = (uint32_t)(h >> 32) | 1;
}

/* Adds the key whose XXH3-64 is h to bits that b alone holds. */
static void bloom_add_hash(struct bloom *b, uint64_t h)
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

/*
 * Adds the keys whose XXH3-64 are h[0..n) (a delta's keys come as hashes)
 * to b, first copying bits that another filter shares.  Without memory
 * for the copy b becomes no filter: correct, just slower.  The caller
 * keeps anyone from taking a reference to b meanwhile (flush_mu for the
 * table's filters, the tree's write lock for a leaf's).
 */
void bloom_add_hashes(struct bloom *b, const uint64_t *h, size_t n)
{
	if (!b->bits || !n)
		return;
	if (atomic_load(&shared_of(b->bits)->refs) > 1) {
		uint8_t *bits = bits_new(b->nbits / 8);
		if (!bits) {
			bloom_free(b);
			return;
		}
		memcpy(bits, b->bits, b->nbits / 8);
		struct bloom own = { .bits = bits, .nbits = b->nbits, .k = b->k };
		bloom_free(b);
		*b = own;
	}
	for (size_t i = 0; i < n; i++)
		bloom_add_hash(b, h[i]);
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
	if (b->bits && atomic_fetch_sub(&shared_of(b->bits)->refs, 1) == 1)
		free(shared_of(b->bits));
	*b = (struct bloom){ 0 };
}

size_t bloom_mem(const struct bloom *b, bool *shared)
{
	if (!b->bits) {
		*shared = false;
		return 0;
	}
	*shared = atomic_load(&shared_of(b->bits)->refs) > 1;
	return malloc_usable_size(shared_of(b->bits));
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
	b->bits = bits_new(nbits / 8);
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

void bloom_copy(struct bloom *dst, const struct bloom *src)
{
	*dst = *src;
	if (src->bits)
		atomic_fetch_add(&shared_of(src->bits)->refs, 1);
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
	b->bits = bits_new(nbits / 8);
	if (!b->bits)
		return -ENOMEM;
	memcpy(b->bits, p, nbits / 8);
	b->nbits = nbits;
	b->k = k;
	return 0;
}
