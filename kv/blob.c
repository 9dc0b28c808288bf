/* SPDX-License-Identifier: MIT */
/*
 * Blob segments: where values of blob_threshold bytes and more live.  A
 * leaf keeps a small reference instead of the value (an entry with
 * ENT_BLOB).
 *
 * A segment file (<8 digits>.blob) is an append-only run of blob records:
 *
 *   0   u32  magic "LKVB"
 *   4   u8   codec: 0 raw, 1 zstd
 *   5   u8   block shift: blocks of 1 << shift stored bytes (raw); 0 (zstd:
 *            the stored bytes are one block)
 *   6   u16  key length
 *   8   u32  tree id
 *   12  u32  stored length (data bytes on disk)
 *   16  u32  raw length (value bytes)
 *   20  u32  0
 *   24  u64  XXH3-64 of bytes [0, 24), the key and the block table
 *   32  key
 *       block table: one u64 XXH3-64 per data block
 *       data
 *
 * A reference (the value bytes of an ENT_BLOB entry, 31 bytes):
 *   u32 segment, u64 offset of the record, u32 record length, u32 raw
 *   length, u8 codec, u16 key length, u64 the record's header checksum.
 *
 * Reading a value verifies the header checksum (and that it is the one the
 * reference names) and the checksum of every block it reads.  An
 * uncompressed value is read in part by reading only the blocks it
 * overlaps.  The key is stored so that GC can ask the tree whether a record
 * is still referenced (gc.c).
 *
 * Writers append with pwrite at offsets reserved under blob_mu, outside
 * every tree lock; the flush syncs every segment written since the last
 * flush (and the directory, for a new one) before the commit that
 * references them is durable, or together with it (blob_plan, below), so
 * a durable reference always has durable bytes.
 *
 * A segment is "held" while an append to it waits for the batch that will
 * reference it (the segment may have rolled over and the reference exist
 * nowhere yet), and while a reader works from a reference it copied out of
 * a leaf (the key may be overwritten meanwhile): blob_hold/blob_done.  GC
 * never deletes a held segment.  Readers take the hold under the tree lock,
 * while their reference is still current, so it is in place before the
 * segment can become dead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BLOB_MAGIC 0x42564b4cu      /* "LKVB" */
#define BLOB_HDR   32u
#define BLOB_SHIFT 14               /* 16 KiB blocks */

/* ---- references ---- */

void blob_ref_encode(const struct blob_ref *r, uint8_t out[BLOB_REF_LEN])
{
	put_u32(out, r->seg);
	put_u64(out + 4, r->off);
	put_u32(out + 12, r->len);
	put_u32(out + 16, r->raw_len);
	out[20] = r->codec;
	put_u16(out + 21, r->klen);
	put_u64(out + 23, r->csum);
}

int blob_ref_decode(const uint8_t *p, size_t n, struct blob_ref *r)
{
	if (n != BLOB_REF_LEN)
		return -EUCLEAN;
	r->seg = get_u32(p);
	r->off = get_u64(p + 4);
	r->len = get_u32(p + 12);
	r->raw_len = get_u32(p + 16);
	r->codec = p[20];
	r->klen = get_u16(p + 21);
	r->csum = get_u64(p + 23);
	if (!r->seg || r->codec > 1 || r->klen > LKV_KEY_MAX || r->raw_len > LKV_VALUE_MAX ||
	    r->len < BLOB_HDR + r->klen)
		return -EUCLEAN;
	return 0;
}

static uint32_t nblocks(uint32_t stored, uint8_t codec)
{
	if (codec)
		return 1;
	return (stored + (1u << BLOB_SHIFT) - 1) >> BLOB_SHIFT;
}

/* ---- writing ---- */

/* Whether zstd is worth trying: compress a sample and see. */
static bool worth_compressing(ZSTD_CCtx *c, const void *v, size_t vl, int level)
{
	uint8_t out[4200];
	size_t n = vl < 4096 ? vl : 4096;
	size_t z = ZSTD_compressCCtx(c, out, sizeof(out), v, n, level);
	return !ZSTD_isError(z) && z < n * 3 / 4;
}

/*
 * Builds the head of the record of value v for key k of tree tree_id
 * (header, key, block table) in *head.  The data to write after it is the
 * value itself, or its zstd frame in *z (malloc'd) when that saves a
 * quarter; *data and *stored say which.  Fills in everything of *r but
 * the segment and offset.
 */
static int blob_build(lkv_store *s, ZSTD_CCtx *c, uint32_t tree_id, const void *k, size_t kl,
		      const void *v, size_t vl, struct buf *head, uint8_t **z,
		      const uint8_t **data, size_t *stored, struct blob_ref *r)
{
	uint8_t codec = 0;
	*z = NULL;
	*data = v;
	*stored = vl;
	if (s->o.compression_level && worth_compressing(c, v, vl, s->o.compression_level)) {
		size_t bound = ZSTD_compressBound(vl);
		if (!(*z = malloc(bound)))
			return -ENOMEM;
		size_t n = ZSTD_compressCCtx(c, *z, bound, v, vl, s->o.compression_level);
		if (!ZSTD_isError(n) && n < vl - vl / 4) {
			codec = 1;
			*data = *z;
			*stored = n;
		}
	}
	uint32_t nb = nblocks(*stored, codec);
	size_t hl = BLOB_HDR + kl + 8 * (size_t)nb, len = hl + *stored;
	if (len > UINT32_MAX)
		return -EFBIG;
	if (!buf_reserve(head, hl))
		return -ENOMEM;
	uint8_t *h = head->p;
	put_u32(h, BLOB_MAGIC);
	h[4] = codec;
	h[5] = codec ? 0 : BLOB_SHIFT;
	put_u16(h + 6, kl);
	put_u32(h + 8, tree_id);
	put_u32(h + 12, *stored);
	put_u32(h + 16, vl);
	put_u32(h + 20, 0);
	memcpy(h + BLOB_HDR, k, kl);
	uint8_t *tab = h + BLOB_HDR + kl;
	for (uint32_t i = 0; i < nb; i++) {
		size_t at = codec ? 0 : (size_t)i << BLOB_SHIFT;
		size_t n = codec ? *stored : *stored - at < (1u << BLOB_SHIFT) ? *stored - at
									    : (1u << BLOB_SHIFT);
		put_u64(tab + 8 * i, lkv_checksum(*data + at, n));
	}
	uint64_t csum = checksum2(h, 24, h + BLOB_HDR, kl + 8 * (size_t)nb);
	put_u64(h + 24, csum);
	head->len = hl;
	*r = (struct blob_ref){ .len = len, .raw_len = vl, .codec = codec, .klen = kl,
				.csum = csum };
	return 0;
}

/* Stops appending to the current segment; it is synced (and its handle
 * closed) by the next flush (blob_plan).  Caller holds blob_mu. */
static int seg_retire(lkv_store *s)
{
	if (!s->seg)
		return 0;
	void *v = realloc(s->seg_unsynced, (s->nseg_unsynced + 1) * sizeof(*s->seg_unsynced));
	if (!v)
		return -ENOMEM;
	s->seg_unsynced = v;
	s->seg_unsynced[s->nseg_unsynced++] = (struct retired){ s->seg, s->seg_no, s->seg_end,
								 s->seg_synced };
	s->seg = NULL;
	return 0;
}

/* Opens a new segment for appending.  Caller holds blob_mu. */
static int seg_roll(lkv_store *s)
{
	char name[FILE_NAME_MAX];
	int err = seg_retire(s);
	if (err)
		return err;
	uint32_t no = s->seg_no + 1;   /* numbers are never reused */
	file_name(name, FILE_BLOB, no);
	err = s->io->ops->open(s->io, name, LKV_IO_CREATE, &s->seg);
	if (err)
		return err;
	s->seg_no = no;
	s->seg_end = 0;
	s->seg_synced = 0;
	s->seg_new = true;
	return 0;
}

/* Counts appends pending on segment seg.  Caller holds blob_mu. */
static int pending_add(lkv_store *s, uint32_t seg, int n)
{
	for (size_t i = 0; i < s->nseg_pending; i++) {
		if (s->seg_pending[i].seg != seg)
			continue;
		s->seg_pending[i].n += n;
		LKV_ASSERT(s->seg_pending[i].n >= 0);
		if (!s->seg_pending[i].n)
			s->seg_pending[i] = s->seg_pending[--s->nseg_pending];
		return 0;
	}
	LKV_ASSERT(n > 0);
	void *v = realloc(s->seg_pending, (s->nseg_pending + 1) * sizeof(*s->seg_pending));
	if (!v)
		return -ENOMEM;
	s->seg_pending = v;
	s->seg_pending[s->nseg_pending++] = (struct seg_count){ .seg = seg, .n = n };
	return 0;
}

/* Reserves len bytes at the end of the current segment. */
static int seg_reserve(lkv_store *s, size_t len, uint32_t *no, uint64_t *off, lkv_file **f)
{
	pthread_mutex_lock(&s->blob_mu);
	int err = 0;
	if (!s->seg || s->seg_end + len > s->o.blob_segment_bytes)
		if (!s->seg || s->seg_end > 0)
			err = seg_roll(s);
	if (!err) {
		*no = s->seg_no;
		*off = s->seg_end;
		*f = s->seg;
		s->seg_end += len;
		atomic_fetch_add(&s->blob_disk, len);
		s->seg_writers++;
		s->seg_dirty = true;
		err = pending_add(s, *no, 1);
	}
	pthread_mutex_unlock(&s->blob_mu);
	return err;
}

/* Holds segment seg against deletion (see above); -ENOMEM if it cannot. */
int blob_hold(lkv_store *s, uint32_t seg)
{
	pthread_mutex_lock(&s->blob_mu);
	int err = pending_add(s, seg, 1);
	pthread_mutex_unlock(&s->blob_mu);
	return err;
}

/* Releases one hold (or one append's pending state) on segment seg. */
void blob_done(lkv_store *s, uint32_t seg)
{
	pthread_mutex_lock(&s->blob_mu);
	pending_add(s, seg, -1);
	pthread_mutex_unlock(&s->blob_mu);
}

/* Whether segment seg is held. */
bool blob_pending(lkv_store *s, uint32_t seg)
{
	bool any = false;
	pthread_mutex_lock(&s->blob_mu);
	for (size_t i = 0; i < s->nseg_pending && !any; i++)
		any = s->seg_pending[i].seg == seg;
	pthread_mutex_unlock(&s->blob_mu);
	return any;
}

/* Stops appending to the current segment (GC can then empty it); the
 * next append starts a new one. */
void blob_seal(lkv_store *s)
{
	pthread_mutex_lock(&s->blob_mu);
	if (s->seg && s->seg_end)
		seg_retire(s);         /* on -ENOMEM it simply stays current */
	pthread_mutex_unlock(&s->blob_mu);
}

static void seg_release(lkv_store *s)
{
	pthread_mutex_lock(&s->blob_mu);
	if (--s->seg_writers == 0)
		pthread_cond_broadcast(&s->blob_cv);
	pthread_mutex_unlock(&s->blob_mu);
}

static int write_all(lkv_store *s, lkv_file *f, const void *p, size_t len, uint64_t off)
{
	ssize_t n = len ? s->io->ops->pwrite(f, p, len, off) : 0;
	return n == (ssize_t)len ? 0 : n < 0 ? (int)n : -EIO;
}

/*
 * Starts the device on each WRITEBACK_CHUNK of a segment as appends fill
 * it, so that the flush's sync waits for the tail only, not for everything
 * written since the last flush.  [off, off + len) was just written.
 */
#define WRITEBACK_CHUNK (8u << 20)

static void start_writeback(lkv_store *s, lkv_file *f, uint64_t off, size_t len)
{
	uint64_t first = off / WRITEBACK_CHUNK, last = (off + len) / WRITEBACK_CHUNK;
	if (s->io->ops->writeback && last > first)
		s->io->ops->writeback(f, first * WRITEBACK_CHUNK,
				      (last - first) * WRITEBACK_CHUNK);
}

/*
 * Appends a record, given as its head and its data (two writes into one
 * reserved range: the value is never copied into a record buffer), to the
 * current segment; sets r->seg and r->off.
 */
static int blob_append(lkv_store *s, const void *head, size_t hl, const void *data,
		       size_t dl, struct blob_ref *r)
{
	lkv_file *f;
	int err = seg_reserve(s, hl + dl, &r->seg, &r->off, &f);
	if (err)
		return err;
	err = write_all(s, f, head, hl, r->off);
	if (!err)
		err = write_all(s, f, data, dl, r->off + hl);
	if (!err)
		start_writeback(s, f, r->off, hl + dl);
	seg_release(s);
	if (err) {
		/* nothing may follow the hole this leaves (GC walks records
		 * in order and stops at it): append elsewhere from now on */
		pthread_mutex_lock(&s->blob_mu);
		if (s->seg == f)
			seg_retire(s);
		pending_add(s, r->seg, -1);
		pthread_mutex_unlock(&s->blob_mu);
		return err;
	}
	STAT_ADD(s, st_bwritten, hl + dl);
	STAT_ADD(s, st_blob_written, hl + dl);
	return 0;
}

static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;
static void cctx_free(void *p) { ZSTD_freeCCtx(p); }
static void cctx_init(void) { pthread_key_create(&cctx_key, cctx_free); }

/* A compression context per writer thread, freed at thread exit. */
static ZSTD_CCtx *thread_cctx(void)
{
	pthread_once(&cctx_once, cctx_init);
	ZSTD_CCtx *c = pthread_getspecific(cctx_key);
	if (!c && (c = ZSTD_createCCtx()))
		pthread_setspecific(cctx_key, c);
	return c;
}

/*
 * Writes value v of key k (tree tree_id) as a blob and returns its
 * reference.  The bytes are not durable until the next flush syncs them.
 */
int blob_write(lkv_store *s, uint32_t tree_id, const void *k, size_t kl, const void *v,
	       size_t vl, struct blob_ref *r)
{
	struct buf head = { 0 };
	uint8_t *z = NULL;
	const uint8_t *data;
	size_t stored;
	ZSTD_CCtx *c = thread_cctx();
	int err = c ? blob_build(s, c, tree_id, k, kl, v, vl, &head, &z, &data, &stored, r)
		    : -ENOMEM;
	if (!err)
		err = blob_append(s, head.p, head.len, data, stored, r);
	if (!err)
		STAT_ADD(s, st_blob_raw, vl);
	buf_free(&head);
	free(z);
	return err;
}

/* Copies an existing, verified record into the current segment (GC). */
int blob_copy(lkv_store *s, const uint8_t *rec, size_t len, const struct blob_ref *old,
	      struct blob_ref *r)
{
	*r = *old;
	return blob_append(s, rec, len, NULL, 0, r);
}

/*
 * Syncing for a flush.  Before it writes a commit that references blobs,
 * a flush makes every blob written so far durable: the current segment
 * and any rolled-over ones, and the directory after a new segment.  It
 * waits for appends in flight (they belong to the epoch being flushed or
 * a later one; the earlier ones must be complete), then syncs without
 * blob_mu, so that writers of the next epoch append while the disk works:
 * what they add is synced by the next flush.
 *
 * Two ways (BLOB_TOGETHER_MAX): when the epoch's unsynced blob bytes are
 * few (an fsync that wrote a block), the segments are synced together
 * with the log, at once, and the commit lists the ranges it relies on
 * with their checksums (commit.c, recovery.c): one device flush instead of
 * two in a row.  When they are many (a bulk load), the segments are
 * synced first, as a second flush costs little beside theirs, and
 * recovery need not read them back to judge the last commit.
 */
#define BLOB_TOGETHER_MAX (4u << 20)

/*
 * Takes stock of what the flush must sync (blob_plan_files), waiting for
 * appends in flight.  In the ordered way (p->together false) it syncs it
 * now; else it computes the ranges, read back from the page cache, for
 * the commit.  Returns 0 or the error of a sync (the store must fail:
 * the kernel may have dropped the pages).  The caller ends it with
 * blob_plan_end.  Called by the flush only (holding flush_mu).
 */
int blob_plan(lkv_store *s, struct blob_plan *p)
{
	*p = (struct blob_plan){ 0 };
	pthread_mutex_lock(&s->blob_mu);
	while (s->seg_writers)
		pthread_cond_wait(&s->blob_cv, &s->blob_mu);
	size_t n = s->nseg_unsynced;           /* later retirees go after these */
	p->v = malloc((n ? n : 1) * sizeof(*p->v));
	if (!p->v) {
		pthread_mutex_unlock(&s->blob_mu);
		return -ENOMEM;
	}
	if (n)
		memcpy(p->v, s->seg_unsynced, n * sizeof(*p->v));
	p->n = n;
	p->cur = s->seg_dirty ? s->seg : NULL;
	p->cur_end = s->seg_end;
	uint32_t cur_no = s->seg_no;
	uint64_t cur_from = s->seg_synced;
	p->dir = s->seg_new;
	s->seg_dirty = s->seg_new = false;
	pthread_mutex_unlock(&s->blob_mu);

	uint64_t total = p->cur ? p->cur_end - cur_from : 0;
	for (size_t i = 0; i < n; i++)
		total += p->v[i].size - p->v[i].synced;
	p->together = total && total <= BLOB_TOGETHER_MAX;
	if (p->together && !(p->ranges = calloc(n + 1, sizeof(*p->ranges))))
		return -ENOMEM;
	for (size_t i = 0; p->together && i <= n; i++) {
		lkv_file *f = i < n ? p->v[i].f : p->cur;
		uint64_t from = i < n ? p->v[i].synced : cur_from;
		uint64_t to = i < n ? p->v[i].size : p->cur_end;
		struct blob_range *r = &p->ranges[p->nranges];
		if (!f || to == from)
			continue;
		*r = (struct blob_range){ .seg = i < n ? p->v[i].no : cur_no, .off = from,
					  .len = (uint32_t)(to - from) };
		/* a failed append may have left less than reserved: order it */
		p->together = !checksum_range(s->io, f, from, r->len, &r->csum);
		p->nranges++;
	}
	if (p->together)
		return 0;
	free(p->ranges);
	p->ranges = NULL;
	p->nranges = 0;
	int err = 0;
	for (size_t i = 0; i < n && !err; i++)
		err = s->io->ops->sync(p->v[i].f);
	if (!err && p->cur)
		err = s->io->ops->sync(p->cur);
	if (!err && p->dir)
		err = s->io->ops->sync_dir(s->io);
	return err;
}

/* The segment files to sync with the log (p->together), into f (room
 * for p->n + 1); returns their count. */
size_t blob_plan_files(const struct blob_plan *p, lkv_file **f)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].size > p->v[i].synced)
			f[k++] = p->v[i].f;
	if (p->cur)
		f[k++] = p->cur;
	return k;
}

/*
 * Ends a blob_plan: with `synced`, what it named is durable (its sizes
 * are recorded for GC, rolled-over segments closed); without, it is
 * synced again by the next flush.
 */
void blob_plan_end(lkv_store *s, struct blob_plan *p, bool synced)
{
	for (size_t i = 0; synced && i < p->n; i++) {
		struct lt_file *f = loctable_seg(&s->lt, p->v[i].no);
		if (f)
			f->size = p->v[i].size;    /* else GC does not see it yet */
	}
	pthread_mutex_lock(&s->blob_mu);
	if (!synced) {
		s->seg_dirty = s->seg_dirty || p->cur;
		s->seg_new = s->seg_new || p->dir;
	} else {
		for (size_t i = 0; i < p->n; i++)
			s->io->ops->close(p->v[i].f);
		s->nseg_unsynced -= p->n;
		if (p->n && s->nseg_unsynced)
			memmove(s->seg_unsynced, s->seg_unsynced + p->n,
				s->nseg_unsynced * sizeof(*s->seg_unsynced));
		/* the current segment may have rolled over meanwhile */
		if (p->cur && s->seg == p->cur && s->seg_synced < p->cur_end)
			s->seg_synced = p->cur_end;
		for (size_t i = 0; p->cur && i < s->nseg_unsynced; i++)
			if (s->seg_unsynced[i].f == p->cur && s->seg_unsynced[i].synced < p->cur_end)
				s->seg_unsynced[i].synced = p->cur_end;
	}
	pthread_mutex_unlock(&s->blob_mu);
	free(p->v);
	free(p->ranges);
	*p = (struct blob_plan){ 0 };
}

/* Whether a range a commit lists reads back with its checksum (recovery:
 * the segment and the bytes are there, durable). */
bool blob_range_ok(lkv_store *s, const struct blob_range *r)
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	uint64_t csum = 0;
	file_name(name, FILE_BLOB, r->seg);
	if (s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f))
		return false;
	int err = checksum_range(s->io, f, r->off, r->len, &csum);
	s->io->ops->close(f);
	return !err && csum == r->csum;
}

/* The segment being appended (GC leaves it alone) and its end. */
uint32_t blob_current(lkv_store *s, uint64_t *end)
{
	pthread_mutex_lock(&s->blob_mu);
	uint32_t no = s->seg ? s->seg_no : 0;
	if (end)
		*end = s->seg_end;
	pthread_mutex_unlock(&s->blob_mu);
	return no;
}

/* ---- reading ---- */

/* Counts and logs a blob whose bytes are wrong; returns -EIO. */
static int blob_fail(lkv_store *s, const struct blob_ref *r, const char *what)
{
	char name[FILE_NAME_MAX];
	file_name(name, FILE_BLOB, r->seg);
	STAT_ADD(s, st_csum, 1);
	store_log(s, LKV_LOG_ERR, "blob at %s offset %" PRIu64 ": %s", name, r->off, what);
	return -EIO;
}

/*
 * Logs a blob that cannot be read at all (its segment gone or an I/O
 * error) once the caller knows it did not just move; returns -EIO.
 */
int blob_unreadable(lkv_store *s, const struct blob_ref *r)
{
	char name[FILE_NAME_MAX];
	file_name(name, FILE_BLOB, r->seg);
	store_log(s, LKV_LOG_ERR, "blob at %s offset %" PRIu64 ": cannot be read", name, r->off);
	return -EIO;
}

/* Parses and verifies a record header against its reference; `head` holds
 * the header, key and block table. */
static int head_check(lkv_store *s, const struct blob_ref *r, const uint8_t *head,
		      uint32_t *stored)
{
	if (get_u32(head) != BLOB_MAGIC || head[4] != r->codec ||
	    head[5] != (r->codec ? 0 : BLOB_SHIFT) || get_u16(head + 6) != r->klen ||
	    get_u32(head + 16) != r->raw_len || get_u64(head + 24) != r->csum)
		return blob_fail(s, r, "not the record its reference names");
	*stored = get_u32(head + 12);
	size_t table = 8 * (size_t)nblocks(*stored, r->codec);
	if ((uint64_t)BLOB_HDR + r->klen + table + *stored != r->len ||
	    (!r->codec && *stored != r->raw_len))
		return blob_fail(s, r, "inconsistent lengths");
	if (checksum2(head, 24, head + BLOB_HDR, r->klen + table) != r->csum)
		return blob_fail(s, r, "header checksum mismatch");
	return 0;
}

/* Reads a whole record into *rec (malloc'd) and verifies all of it. */
int blob_read_record(lkv_store *s, const struct blob_ref *r, uint8_t **rec)
{
	uint8_t *p = malloc(r->len);
	if (!p)
		return -ENOMEM;
	uint32_t stored = 0;
	int err = store_read_at(s, FILE_BLOB, r->seg, r->off, p, r->len) ? -ESTALE : 0;
	if (!err)
		err = head_check(s, r, p, &stored);
	const uint8_t *tab = p + BLOB_HDR + r->klen;
	const uint8_t *data = tab + 8 * (size_t)nblocks(stored, r->codec);
	for (uint32_t i = 0; !err && i < nblocks(stored, r->codec); i++) {
		size_t at = (size_t)i << BLOB_SHIFT, n = r->codec ? stored : stored - at;
		if (!r->codec && n > (1u << BLOB_SHIFT))
			n = 1u << BLOB_SHIFT;
		if (lkv_checksum(data + (r->codec ? 0 : at), n) != get_u64(tab + 8 * i))
			err = blob_fail(s, r, "data checksum mismatch");
	}
	if (err) {
		free(p);
		return err;
	}
	STAT_ADD(s, st_blob_read, r->len);
	*rec = p;
	return 0;
}

static int read_compressed(lkv_store *s, const struct blob_ref *r, uint64_t off, void *buf,
			   size_t len)
{
	uint8_t *rec, *raw = NULL;
	int err = blob_read_record(s, r, &rec);
	if (err)
		return err;
	uint32_t stored = get_u32(rec + 12);
	const uint8_t *data = rec + r->len - stored;
	raw = malloc(r->raw_len ? r->raw_len : 1);
	size_t n = raw ? ZSTD_decompress(raw, r->raw_len, data, stored) : 0;
	if (!raw)
		err = -ENOMEM;
	else if (ZSTD_isError(n) || n != r->raw_len)
		err = blob_fail(s, r, "does not decompress");
	else
		memcpy(buf, raw + off, len);
	free(raw);
	free(rec);
	return err;
}

/*
 * Copies bytes [off, off + len) of the value that r references into buf
 * (the caller keeps the range within the value).  An uncompressed value is
 * read and verified only in the blocks the range overlaps.  -EIO (logged,
 * counted): the bytes are wrong; -ESTALE (not logged): the record could
 * not be read, maybe because GC moved it and deleted its segment — the
 * caller looks the key up again, and calls blob_unreadable if it did not
 * move.
 */
int blob_read(lkv_store *s, const struct blob_ref *r, uint64_t off, void *buf, size_t len)
{
	if (r->codec)
		return read_compressed(s, r, off, buf, len);
	if (len == 0)
		return 0;
	uint32_t nb = nblocks(r->raw_len, 0), stored = 0;
	size_t headlen = BLOB_HDR + r->klen + 8 * (size_t)nb;
	uint32_t first = off >> BLOB_SHIFT, last = (off + len - 1) >> BLOB_SHIFT;
	uint64_t from = (uint64_t)first << BLOB_SHIFT;
	uint64_t to = (uint64_t)(last + 1) << BLOB_SHIFT;
	if (to > r->raw_len)
		to = r->raw_len;
	uint8_t *head = malloc(headlen), *data = malloc(to - from);
	int err = head && data ? 0 : -ENOMEM;
	if (!err && store_read_at(s, FILE_BLOB, r->seg, r->off, head, headlen))
		err = -ESTALE;
	if (!err)
		err = head_check(s, r, head, &stored);
	if (!err && store_read_at(s, FILE_BLOB, r->seg, r->off + headlen + from, data,
				  to - from))
		err = -ESTALE;
	for (uint32_t i = first; !err && i <= last; i++) {
		size_t at = ((size_t)i << BLOB_SHIFT) - from;
		size_t n = (uint64_t)(i + 1) << BLOB_SHIFT > r->raw_len ?
			r->raw_len - ((size_t)i << BLOB_SHIFT) : 1u << BLOB_SHIFT;
		if (lkv_checksum(data + at, n) != get_u64(head + BLOB_HDR + r->klen + 8 * i))
			err = blob_fail(s, r, "data checksum mismatch");
	}
	if (!err) {
		memcpy(buf, data + (off - from), len);
		STAT_ADD(s, st_blob_read, headlen + (to - from));
	}
	free(head);
	free(data);
	return err;
}

/* ---- GC support: walking a segment ---- */

/*
 * Reads the record at *off of segment `no` (size `size`): its tree id, key
 * and reference.  Returns 0 and advances *off, or -ENODATA at the end or at
 * bytes that are not a record (a torn append).
 */
int blob_next(lkv_store *s, uint32_t no, uint64_t size, uint64_t *off, uint32_t *tree_id,
	      uint8_t key[LKV_KEY_MAX], struct blob_ref *r)
{
	uint8_t h[BLOB_HDR];
	if (*off + BLOB_HDR > size ||
	    store_read_at(s, FILE_BLOB, no, *off, h, BLOB_HDR) || get_u32(h) != BLOB_MAGIC)
		return -ENODATA;
	uint8_t codec = h[4];
	uint16_t kl = get_u16(h + 6);
	uint32_t stored = get_u32(h + 12);
	uint64_t len = BLOB_HDR + kl + 8 * (uint64_t)nblocks(stored, codec) + stored;
	if (codec > 1 || kl > LKV_KEY_MAX || *off + len > size ||
	    store_read_at(s, FILE_BLOB, no, *off + BLOB_HDR, key, kl))
		return -ENODATA;
	*r = (struct blob_ref){ .seg = no, .off = *off, .len = (uint32_t)len,
		.raw_len = get_u32(h + 16), .codec = codec, .klen = kl, .csum = get_u64(h + 24) };
	*tree_id = get_u32(h + 8);
	*off += len;
	return 0;
}
