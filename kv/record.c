/* SPDX-License-Identifier: MIT */
/*
 * Records: the framing of everything the engine appends to a log file
 * (leaf images, leaf deltas, commit records) and of a snapshot file.
 *
 * A record is a 32-byte header followed by `stored_len` body bytes:
 *
 *   0   u32  magic 0x5256_4b4c ("LKVR" in file order)
 *   4   u8   type: 1 leaf image, 2 commit, 3 snapshot, 4 leaf delta,
 *            5 delta snapshot (format 4)
 *   5   u8   codec: 0 raw, 1 zstd
 *   6   u16  layout of the body: 0 as formats 1 and 2 wrote it, 3 as
 *            format 3 writes it (commit and snapshot bodies that name
 *            chains of delta records, commit.c and snapshot.c; delta
 *            records exist only in layout 3).  A reader decodes a body
 *            by its record's layout, so a store upgraded to format 3
 *            replays the commits written before.
 *   8   u32  stored_len: body bytes on disk
 *   12  u32  raw_len: body bytes after decompression (== stored_len if raw)
 *   16  u64  epoch the record belongs to
 *   24  u64  XXH3-64 of header bytes [0, 24) followed by the stored body
 *
 * A record is valid iff the magic, type, codec and layout are known, the
 * lengths are within limits, and the checksum matches.  Anything else (a torn write,
 * zeroes past the end of a log, a flipped bit) is not a record.  The body is
 * compressed only when that saves at least 1/8 of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define REC_MAGIC 0x52564b4cu
#define REC_MAX   (LKV_VALUE_MAX + (64u << 20))   /* a leaf may hold one max value */

static uint64_t record_sum(const uint8_t *hdr, const uint8_t *body, size_t len)
{
	return checksum2(hdr, 24, body, len);
}

/*
 * Appends a record holding `raw` to out, compressing it with cctx at
 * `level` when that pays (level 0: never).  *csum gets its checksum.
 */
int record_append(struct buf *out, uint8_t type, uint64_t epoch, const void *raw,
		  size_t raw_len, ZSTD_CCtx *cctx, int level, uint64_t *csum)
{
	if (raw_len > REC_MAX)
		return -EFBIG;
	size_t start = out->len;
	size_t bound = level ? ZSTD_compressBound(raw_len) : raw_len;
	if (!buf_reserve(out, REC_HDR + bound))
		return -ENOMEM;
	uint8_t *hdr = out->p + start, *body = hdr + REC_HDR;
	size_t stored = raw_len;
	uint8_t codec = 0;
	if (level && raw_len >= 64) {
		size_t z = ZSTD_compressCCtx(cctx, body, bound, raw, raw_len, level);
		if (!ZSTD_isError(z) && z < raw_len - raw_len / 8) {
			stored = z;
			codec = 1;
		}
	}
	if (!codec)
		memcpy(body, raw, raw_len);
	put_u32(hdr, REC_MAGIC);
	hdr[4] = type;
	hdr[5] = codec;
	put_u16(hdr + 6, REC_LAYOUT);
	put_u32(hdr + 8, (uint32_t)stored);
	put_u32(hdr + 12, (uint32_t)raw_len);
	put_u64(hdr + 16, epoch);
	*csum = record_sum(hdr, body, stored);
	put_u64(hdr + 24, *csum);
	out->len = start + REC_HDR + stored;
	return 0;
}

/* Parses a header; -EUCLEAN when it cannot be one (no checksum check yet). */
int record_parse_header(const uint8_t *p, struct rec_hdr *h)
{
	if (get_u32(p) != REC_MAGIC)
		return -EUCLEAN;
	h->type = p[4];
	h->codec = p[5];
	h->stored_len = get_u32(p + 8);
	h->raw_len = get_u32(p + 12);
	h->layout = get_u16(p + 6);
	h->epoch = get_u64(p + 16);
	h->csum = get_u64(p + 24);
	if (h->type < REC_LEAF || h->type > REC_SNAPDELTA || h->codec > 1 ||
	    (h->layout != 0 && h->layout != REC_LAYOUT) ||
	    ((h->type == REC_DELTA || h->type == REC_SNAPDELTA) && h->layout != REC_LAYOUT) ||
	    h->stored_len > REC_MAX || h->raw_len > REC_MAX ||
	    (h->codec == 0 && h->stored_len != h->raw_len))
		return -EUCLEAN;
	return 0;
}

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p) { ZSTD_freeDCtx(p); }
static void dctx_init(void) { pthread_key_create(&dctx_key, dctx_free); }

/* A decompression context per thread, freed at thread exit. */
static ZSTD_DCtx *thread_dctx(void)
{
	pthread_once(&dctx_once, dctx_init);
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (!d) {
		d = ZSTD_createDCtx();
		if (d)
			pthread_setspecific(dctx_key, d);
	}
	return d;
}

/*
 * Verifies a whole record (header followed by body in one buffer) and
 * returns its raw body, malloc'd, in *raw.  -EIO: checksum mismatch;
 * -EUCLEAN: the checksum matched but the body does not decompress.
 */
int record_open(const uint8_t *rec, const struct rec_hdr *h, uint8_t **raw)
{
	const uint8_t *body = rec + REC_HDR;
	if (record_sum(rec, body, h->stored_len) != h->csum)
		return -EIO;
	uint8_t *out = malloc(h->raw_len ? h->raw_len : 1);
	if (!out)
		return -ENOMEM;
	if (h->codec == 0) {
		memcpy(out, body, h->raw_len);
	} else {
		ZSTD_DCtx *d = thread_dctx();
		size_t n = d ? ZSTD_decompressDCtx(d, out, h->raw_len, body, h->stored_len) : 0;
		if (!d || ZSTD_isError(n) || n != h->raw_len) {
			free(out);
			return d ? -EUCLEAN : -ENOMEM;
		}
	}
	*raw = out;
	return 0;
}

/*
 * Reads one whole record at off of an open file of `size` bytes into *rec
 * (malloc'd, header included) and verifies its checksum.  -ENODATA when
 * the bytes there are not a whole valid record (the end of a log); an I/O
 * error as such.
 */
int record_read(lkv_store *s, lkv_file *f, uint64_t off, uint64_t size,
		       struct rec_hdr *h, uint8_t **rec)
{
	uint8_t hdr[REC_HDR];
	*rec = NULL;
	if (size < off + REC_HDR)
		return -ENODATA;
	ssize_t n = s->io->ops->pread(f, hdr, REC_HDR, off);
	if (n < 0)
		return (int)n;
	if (n != REC_HDR || record_parse_header(hdr, h) ||
	    size - off - REC_HDR < h->stored_len)
		return -ENODATA;
	uint8_t *p = malloc(REC_HDR + (size_t)h->stored_len);
	if (!p)
		return -ENOMEM;
	memcpy(p, hdr, REC_HDR);
	n = s->io->ops->pread(f, p + REC_HDR, h->stored_len, off + REC_HDR);
	if (n != (ssize_t)h->stored_len || checksum2(p, 24, p + REC_HDR, h->stored_len) != h->csum) {
		free(p);
		return n < 0 ? (int)n : -ENODATA;
	}
	STAT_ADD(s, st_bread, REC_HDR + (uint64_t)h->stored_len);
	*rec = p;
	return 0;
}
