/* SPDX-License-Identifier: MIT */
/*
 * Byte encoding used by every on-disk format of the engine: little-endian
 * fixed-width integers, LEB128 varints, and a growable output buffer.
 *
 * Decoding goes through `struct rd`, a bounded reader: every get checks the
 * remaining length and sets `rd.bad` instead of reading past the end, so a
 * decoder fed garbage fails cleanly (callers turn rd.bad into -EUCLEAN/-EIO).
 */
#ifndef LKV_CODEC_H
#define LKV_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- fixed-width little-endian ---- */

static inline void put_u16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static inline uint32_t get_u32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p)
{
	return get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- key prefixes ----
 * The first 16 bytes of a key (zero-padded) as two big-endian integers,
 * kept beside key pointers so that binary searches compare integers and
 * touch the key itself only on a tie between keys longer than 16 bytes. */
struct key16 { uint64_t hi, lo; };

static inline struct key16 key16_of(const void *k, size_t kl)
{
	uint8_t b[16] = { 0 };
	if (kl)                 /* k may be NULL for the empty key */
		memcpy(b, k, kl < 16 ? kl : 16);
	return (struct key16){ get_be64(b), get_be64(b + 8) };
}

/* ---- growable output buffer ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;             /* an allocation failed; contents are incomplete */
};

bool buf_reserve(struct buf *b, size_t extra);
void buf_free(struct buf *b);

static inline void buf_add(struct buf *b, const void *src, size_t n)
{
	if (n == 0 || !buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, src, n);
	b->len += n;
}
static inline void buf_u8(struct buf *b, uint8_t v) { buf_add(b, &v, 1); }
static inline void buf_u32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	put_u32(t, v);
	buf_add(b, t, 4);
}
static inline void buf_u64(struct buf *b, uint64_t v)
{
	uint8_t t[8];
	put_u64(t, v);
	buf_add(b, t, 8);
}
static inline void buf_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	int n = 0;
	while (v >= 0x80) {
		t[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	buf_add(b, t, n);
}
/* A varint length followed by the bytes. */
static inline void buf_bytes(struct buf *b, const void *p, size_t n)
{
	buf_varint(b, n);
	buf_add(b, p, n);
}

/* ---- bounded reader ---- */

struct rd {
	const uint8_t *p, *end;
	bool bad;             /* a read ran past the end or was malformed */
};

static inline struct rd rd_init(const void *p, size_t n)
{
	/* p may be NULL when n is 0: no arithmetic on it then */
	return (struct rd){ .p = p, .end = n ? (const uint8_t *)p + n : p, .bad = false };
}
static inline size_t rd_left(const struct rd *r) { return r->end - r->p; }
static inline bool rd_need(struct rd *r, size_t n)
{
	if (r->bad || rd_left(r) < n) {
		r->bad = true;
		return false;
	}
	return true;
}
static inline uint8_t rd_u8(struct rd *r)
{
	return rd_need(r, 1) ? *r->p++ : 0;
}
static inline uint32_t rd_u32(struct rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	uint32_t v = get_u32(r->p);
	r->p += 4;
	return v;
}
static inline uint64_t rd_u64(struct rd *r)
{
	if (!rd_need(r, 8))
		return 0;
	uint64_t v = get_u64(r->p);
	r->p += 8;
	return v;
}
static inline uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (!rd_need(r, 1))
			return 0;
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			/* only the shortest encoding is valid, so that decoding
			 * and re-encoding always give the same bytes */
			if ((c == 0 && shift) || (shift == 63 && c > 1))
				break;
			return v;
		}
	}
	r->bad = true;
	return 0;
}
/* Returns a pointer to n bytes inside the input, or NULL (and bad). */
static inline const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (!rd_need(r, n))
		return NULL;
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}
/* A varint length (at most max) followed by the bytes. */
static inline const uint8_t *rd_bytes(struct rd *r, size_t max, size_t *n)
{
	uint64_t len = rd_varint(r);
	if (len > max) {
		r->bad = true;
		return NULL;
	}
	*n = (size_t)len;
	return rd_take(r, *n);
}

#endif
