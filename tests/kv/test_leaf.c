/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the leaf format and in-memory leaf operations (kv/leaf.c),
 * the record framing (kv/record.c) and bloom filters (kv/bloom.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

static struct entries *filled(int n)
{
	struct entries *d = entries_new();
	char k[32], v[64];
	for (int i = n - 1; i >= 0; i--) {
		int kl = snprintf(k, sizeof(k), "k%06d", i);
		int vl = snprintf(v, sizeof(v), "value %d", i);
		assert_int_equal(entries_put(d, k, kl, v, vl, 0), 0);
	}
	return d;
}

static void test_put_search_delete(void **state)
{
	(void)state;
	struct entries *d = filled(100);
	assert_int_equal(d->n, 100);
	for (uint32_t i = 1; i < d->n; i++)
		assert_true(keycmp(d->e[i - 1].k, d->e[i - 1].kl, d->e[i].k, d->e[i].kl) < 0);
	bool found;
	uint32_t i = entries_search(d, "k000050", 7, &found);
	assert_true(found);
	assert_memory_equal(d->e[i].v, "value 50", 8);
	entries_search(d, "k000050x", 8, &found);
	assert_false(found);
	/* replace keeps one entry */
	assert_int_equal(entries_put(d, "k000050", 7, "new", 3, 0), 0);
	assert_int_equal(d->n, 100);
	i = entries_search(d, "k000050", 7, &found);
	assert_int_equal(d->e[i].vl, 3);
	assert_true(entries_del(d, "k000050", 7));
	assert_false(entries_del(d, "k000050", 7));
	assert_int_equal(d->n, 99);
	entries_free(d);
}

static void test_encode_decode_roundtrip(void **state)
{
	(void)state;
	struct entries *d = filled(300);
	assert_int_equal(entries_put(d, "", 0, "empty key", 9, 0), 0);
	assert_int_equal(entries_put(d, "zzz", 3, "", 0, 0), 0);
	struct buf b = { 0 };
	assert_int_equal(entries_encode(d, 7, 42, &b), 0);
	assert_int_equal(b.len, d->bytes);
	uint8_t *raw = malloc(b.len);
	memcpy(raw, b.p, b.len);
	struct entries *e;
	assert_int_equal(entries_decode(raw, b.len, 7, 42, &e), 0);
	assert_int_equal(e->n, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		assert_int_equal(e->e[i].kl, d->e[i].kl);
		assert_int_equal(e->e[i].vl, d->e[i].vl);
		assert_memory_equal(e->e[i].k, d->e[i].k, d->e[i].kl);
		assert_memory_equal(e->e[i].v, d->e[i].v, d->e[i].vl);
	}
	/* decoded entries can be changed like any other */
	assert_int_equal(entries_put(e, "k000001", 7, "x", 1, 0), 0);
	assert_true(entries_del(e, "k000002", 7));
	entries_free(e);
	/* the wrong leaf id or tree id is refused */
	raw = malloc(b.len);
	memcpy(raw, b.p, b.len);
	assert_int_equal(entries_decode(raw, b.len, 7, 43, &e), -EUCLEAN);
	assert_int_equal(entries_decode(raw, b.len, 8, 42, &e), -EUCLEAN);
	free(raw);
	buf_free(&b);
	entries_free(d);
}

/* Every truncation and many byte flips of a valid body decode cleanly to
 * an error or to a valid leaf; never a crash or an out-of-bounds read. */
static void test_decode_garbage(void **state)
{
	(void)state;
	struct entries *d = filled(50);
	struct buf b = { 0 };
	assert_int_equal(entries_encode(d, 1, 1, &b), 0);
	for (size_t cut = 0; cut < b.len; cut++) {
		uint8_t *raw = malloc(cut ? cut : 1);
		memcpy(raw, b.p, cut);
		struct entries *e;
		assert_int_equal(entries_decode(raw, cut, 1, 1, &e), -EUCLEAN);
		free(raw);
	}
	uint64_t seed = 1;
	for (int round = 0; round < 2000; round++) {
		uint8_t *raw = malloc(b.len);
		memcpy(raw, b.p, b.len);
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		raw[(seed >> 33) % b.len] ^= (uint8_t)(seed >> 13) | 1;
		struct entries *e;
		if (entries_decode(raw, b.len, 1, 1, &e) == 0)
			entries_free(e);      /* still a valid leaf: owns raw */
		else
			free(raw);
	}
	buf_free(&b);
	entries_free(d);
}

static void test_split_absorb(void **state)
{
	(void)state;
	struct entries *d = filled(1000), *r;
	size_t total = d->bytes;
	assert_int_equal(entries_split(d, (total - 16) / 2, &r), 0);
	assert_true(d->n > 0 && r->n > 0);
	assert_int_equal(d->n + r->n, 1000);
	assert_true(keycmp(d->e[d->n - 1].k, d->e[d->n - 1].kl, r->e[0].k, r->e[0].kl) < 0);
	assert_int_equal(d->bytes + r->bytes - 16, total);
	assert_true(d->bytes < total * 6 / 10 && r->bytes < total * 6 / 10);
	assert_int_equal(entries_absorb(d, r), 0);
	assert_int_equal(d->n, 1000);
	assert_int_equal(d->bytes, total);
	entries_free(r);
	/* absorbing into a leaf whose entry array is exactly full must grow
	 * it (a merge once wrote past the end: caught under ASan) */
	struct entries *a = entries_new(), *b = filled(5);
	char k[8];
	for (int i = 0; i < 16; i++) {
		sprintf(k, "a%02d", i);
		assert_int_equal(entries_put(a, k, 3, "x", 1, 0), 0);
	}
	assert_int_equal(a->n, a->cap);
	assert_int_equal(entries_absorb(a, b), 0);
	assert_int_equal(a->n, 21);
	assert_memory_equal(a->e[20].k, "k000004", 7);
	entries_free(a);
	entries_free(b);
	struct entries *one = filled(1);
	assert_int_equal(entries_split(one, 0, &r), -EINVAL);
	entries_free(one);
	entries_free(d);
}

static void test_record_roundtrip_and_corruption(void **state)
{
	(void)state;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	uint8_t raw[5000];
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i % 7);       /* compressible */
	for (int level = 0; level <= 3; level += 3) {
		struct buf b = { 0 };
		uint64_t csum;
		assert_int_equal(record_append(&b, REC_LEAF, 9, raw, sizeof(raw), cctx, level,
					       &csum), 0);
		struct rec_hdr h;
		assert_int_equal(record_parse_header(b.p, &h), 0);
		assert_int_equal(h.codec, level ? 1 : 0);
		assert_int_equal(h.epoch, 9);
		assert_int_equal(h.csum, csum);
		assert_int_equal(b.len, REC_HDR + h.stored_len);
		uint8_t *out;
		assert_int_equal(record_open(b.p, &h, &out), 0);
		assert_memory_equal(out, raw, sizeof(raw));
		free(out);
		/* any flipped body byte is caught by the checksum */
		for (size_t i = REC_HDR; i < b.len; i += 7) {
			b.p[i] ^= 0x40;
			assert_int_equal(record_open(b.p, &h, &out), -EIO);
			b.p[i] ^= 0x40;
		}
		/* a flipped header byte: not a header, or a checksum mismatch */
		for (size_t i = 0; i < 24; i++) {
			b.p[i] ^= 0x01;
			struct rec_hdr h2;
			if (record_parse_header(b.p, &h2) == 0 && h2.stored_len == h.stored_len)
				assert_int_equal(record_open(b.p, &h2, &out), -EIO);
			b.p[i] ^= 0x01;
		}
		buf_free(&b);
	}
	ZSTD_freeCCtx(cctx);
}

static void test_bloom(void **state)
{
	(void)state;
	struct entries *d = filled(500);
	struct buf b = { 0 };
	assert_int_equal(entries_encode(d, 1, 1, &b), 0);
	struct bloom f = { 0 };
	bloom_build(&f, b.p, b.len, 10);
	assert_true(f.nbits >= 5000);
	for (uint32_t i = 0; i < d->n; i++)
		assert_true(bloom_may_contain(&f, d->e[i].k, d->e[i].kl));
	int fp = 0;
	char k[32];
	for (int i = 0; i < 10000; i++) {
		int kl = snprintf(k, sizeof(k), "absent%d", i);
		fp += bloom_may_contain(&f, k, kl);
	}
	assert_true(fp < 300);           /* ~1% expected at 10 bits per key */
	struct buf enc = { 0 };
	bloom_encode(&f, &enc);
	struct rd r = rd_init(enc.p, enc.len);
	struct bloom g;
	assert_int_equal(bloom_decode(&g, &r), 0);
	assert_int_equal(g.nbits, f.nbits);
	assert_memory_equal(g.bits, f.bits, f.nbits / 8);
	struct bloom none = { 0 };
	assert_true(bloom_may_contain(&none, "x", 1));
	/* a copy shares the bits, and outlives the filter it was made from */
	struct bloom c;
	bool shared;
	bloom_mem(&g, &shared);
	assert_false(shared);
	bloom_copy(&c, &g);
	assert_ptr_equal(c.bits, g.bits);
	assert_true(bloom_mem(&g, &shared) >= g.nbits / 8);
	assert_true(shared);
	bloom_free(&g);
	bloom_mem(&c, &shared);
	assert_false(shared);
	for (uint32_t i = 0; i < d->n; i++)
		assert_true(bloom_may_contain(&c, d->e[i].k, d->e[i].kl));
	bloom_free(&c);
	bloom_free(&f);
	buf_free(&enc);
	buf_free(&b);
	entries_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_search_delete),
		cmocka_unit_test(test_encode_decode_roundtrip),
		cmocka_unit_test(test_decode_garbage),
		cmocka_unit_test(test_split_absorb),
		cmocka_unit_test(test_record_roundtrip_and_corruption),
		cmocka_unit_test(test_bloom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
