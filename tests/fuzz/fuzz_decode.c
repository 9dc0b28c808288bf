/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for every decoder of on-disk bytes.  The first input
 * byte picks the decoder, the rest is its input:
 *   0 record framing (header parse + checksum + decompress)
 *   1 leaf body      2 commit body      3 snapshot body      4 bloom filter
 * Decoders must reject garbage with an error; any crash, leak or sanitizer
 * report is a bug.  Built with -Dfuzz=true (clang); corpus_main.c replays
 * the corpus through the same function in every ordinary test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_record(const uint8_t *p, size_t n)
{
	struct rec_hdr h;
	uint8_t *raw;
	if (n < REC_HDR || record_parse_header(p, &h) || n - REC_HDR < h.stored_len)
		return;
	if (record_open(p, &h, &raw) == 0)
		free(raw);
}

static void fuzz_leaf(const uint8_t *p, size_t n)
{
	if (n < 12)
		return;
	uint8_t *raw = malloc(n);
	memcpy(raw, p, n);
	struct entries *d;
	if (entries_decode(raw, n, get_u32(p), get_u64(p + 4), &d) == 0) {
		struct blob_ref r;
		for (uint32_t i = 0; i < d->n; i++)
			if (d->e[i].flags & ENT_BLOB)
				blob_ref_decode(d->e[i].v, d->e[i].vl, &r);
		struct buf b = { 0 };
		entries_encode(d, get_u32(p), get_u64(p + 4), &b);
		if (b.len != n || memcmp(b.p, p, n))
			abort();      /* decode then encode must give the same bytes */
		buf_free(&b);
		entries_free(d);
	} else {
		free(raw);
	}
	struct bloom f = { 0 };
	bloom_build(&f, p, n, 10);
	bloom_free(&f);
}

static void fuzz_tables(const uint8_t *p, size_t n, bool snapshot)
{
	struct loctable lt;
	loctable_init(&lt);
	if (snapshot)
		snapshot_decode(&lt, p, n);
	else
		commit_apply(&lt, p, n, 1, 1, NULL, NULL);
	loctable_free(&lt);
}

static void fuzz_bloom(const uint8_t *p, size_t n)
{
	struct rd r = rd_init(p, n);
	struct bloom b;
	if (bloom_decode(&b, &r) == 0) {
		bloom_may_contain(&b, p, n);
		bloom_free(&b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 5) {
	case 0: fuzz_record(p, n); break;
	case 1: fuzz_leaf(p, n); break;
	case 2: fuzz_tables(p, n, false); break;
	case 3: fuzz_tables(p, n, true); break;
	case 4: fuzz_bloom(p, n); break;
	}
	return 0;
}
