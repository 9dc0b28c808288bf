/* SPDX-License-Identifier: MIT */
/*
 * META: a small record of the store's user, kept outside the log and the
 * trees, in two files (META and META.bak), so that what the user cannot
 * lose with any one damaged region of the disk (larchfs: a copy of its
 * superblock) survives.  It is written rarely and synchronously:
 * lkv_meta_write returns when both copies are durable.
 *
 * Each file (48 + N bytes):
 *   0  "LKVMETA\0"   8  u32 format version (1)   12 u32 N, payload length
 *   16 uuid[16] of the store   32 u64 sequence (one more at every write)
 *   40 payload (N bytes, at most LKV_META_MAX)
 *   40+N u64 XXH3-64 of bytes [0, 40+N)
 * A copy is valid iff its length is 48 + N, the magic, version and checksum
 * match and the uuid is the store's.  Of two valid copies the one with the
 * higher sequence is the record (a crash between the two writes of an
 * update leaves one older); the other copy, missing, damaged or older, is
 * rewritten from it at a writable open.  A write puts META.bak first, then
 * META; once META.bak is written the new record is the store's, even if
 * writing META then fails (the error is returned, the open repairs it).  Neither copy valid: the store has no record (-ENOENT for the
 * user, who must then rebuild what it kept there).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define META_MAGIC   "LKVMETA"
#define META_VERSION 1
#define META_HDR     40
#define META_PRIMARY 0
#define META_BACKUP  1

struct meta_copy {
	int err;                  /* 0 valid, -ENOENT, -EUCLEAN, an I/O error */
	uint64_t seq;
	size_t len;
	uint8_t p[LKV_META_MAX];
};

static const char *copy_name(uint64_t which)
{
	return which == META_PRIMARY ? "META" : "META.bak";
}

/* Reads and verifies one copy into *c (c->err says how it went). */
static void read_copy(lkv_store *s, uint64_t which, struct meta_copy *c)
{
	uint8_t *b = malloc(META_HDR + LKV_META_MAX + 8);
	char name[FILE_NAME_MAX];
	lkv_file *f = NULL;
	uint64_t size = 0;
	ssize_t n = 0;
	file_name(name, FILE_META, which);
	c->err = b ? s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f) : -ENOMEM;
	if (!c->err)
		c->err = s->io->ops->size(f, &size);
	if (!c->err && (size < META_HDR + 8 || size > META_HDR + LKV_META_MAX + 8))
		c->err = -EUCLEAN;
	if (!c->err && (n = s->io->ops->pread(f, b, size, 0)) != (ssize_t)size)
		c->err = n < 0 ? (int)n : -EUCLEAN;
	if (f)
		s->io->ops->close(f);
	if (!c->err) {
		size_t len = get_u32(b + 12);
		if (memcmp(b, META_MAGIC, 8) || get_u32(b + 8) != META_VERSION ||
		    size != META_HDR + len + 8 || memcmp(b + 16, s->uuid, 16) ||
		    get_u64(b + META_HDR + len) != lkv_checksum(b, META_HDR + len))
			c->err = -EUCLEAN;
		else {
			c->seq = get_u64(b + 32);
			c->len = len;
			memcpy(c->p, b + META_HDR, len);
		}
	}
	free(b);
}

static int write_copy(lkv_store *s, uint64_t which, uint64_t seq, const void *p, size_t len)
{
	uint8_t *b = calloc(1, META_HDR + len + 8);
	char name[FILE_NAME_MAX];
	if (!b)
		return -ENOMEM;
	memcpy(b, META_MAGIC, 8);
	put_u32(b + 8, META_VERSION);
	put_u32(b + 12, (uint32_t)len);
	memcpy(b + 16, s->uuid, 16);
	put_u64(b + 32, seq);
	memcpy(b + META_HDR, p, len);
	put_u64(b + META_HDR + len, lkv_checksum(b, META_HDR + len));
	file_name(name, FILE_META, which);
	int err = file_write_whole(s->io, name, b, META_HDR + len + 8);
	free(b);
	return err;
}

/* Rewrites the copy that is not the record's newest, at a writable open. */
static void repair(lkv_store *s, uint64_t which, const struct meta_copy *bad)
{
	if (s->ro)
		return;
	int err = write_copy(s, which, s->meta_seq, s->meta, s->meta_len);
	if (err)
		store_log(s, LKV_LOG_WARN, "cannot rewrite %s: %s", copy_name(which),
			  strerror(-err));
	else if (bad->err == -EUCLEAN)
		store_log(s, LKV_LOG_WARN, "%s was damaged; rewritten from %s", copy_name(which),
			  copy_name(!which));
}

/*
 * Loads the record at open (after the identity, whose uuid it checks),
 * repairing a bad copy.  A store without one is fine; an I/O error fails
 * the open.
 */
int meta_load(lkv_store *s)
{
	struct meta_copy *c = malloc(2 * sizeof(*c));
	if (!c)
		return -ENOMEM;
	read_copy(s, META_PRIMARY, &c[0]);
	read_copy(s, META_BACKUP, &c[1]);
	int err = 0;
	for (int i = 0; i < 2 && !err; i++)
		if (c[i].err && c[i].err != -ENOENT && c[i].err != -EUCLEAN)
			err = c[i].err;
	if (!err && (!c[0].err || !c[1].err)) {
		int best = c[0].err || (!c[1].err && c[1].seq > c[0].seq);
		s->meta = malloc(c[best].len ? c[best].len : 1);
		err = s->meta ? 0 : -ENOMEM;
		if (!err) {
			memcpy(s->meta, c[best].p, c[best].len);
			s->meta_len = c[best].len;
			s->meta_seq = c[best].seq;
			s->has_meta = true;
			if (c[!best].err || c[!best].seq != c[best].seq)
				repair(s, !best, &c[!best]);
		}
	}
	free(c);
	return err;
}

int lkv_meta_read(lkv_store *s, void *buf, size_t cap, size_t *len)
{
	pthread_mutex_lock(&s->meta_mu);
	int err = s->has_meta ? 0 : -ENOENT;
	if (!err) {
		memcpy(buf, s->meta, s->meta_len < cap ? s->meta_len : cap);
		*len = s->meta_len;
	}
	pthread_mutex_unlock(&s->meta_mu);
	return err;
}

int lkv_meta_write(lkv_store *s, const void *p, size_t len)
{
	if (s->ro)
		return -EROFS;
	if (len > LKV_META_MAX)
		return -EINVAL;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	int err = change_begin(s);
	if (err) {
		free(copy);
		return err;
	}
	memcpy(copy, p, len);
	pthread_mutex_lock(&s->meta_mu);
	uint64_t seq = s->meta_seq + 1;
	err = write_copy(s, META_BACKUP, seq, p, len);
	if (!err) {               /* the newest valid copy: the record now */
		free(s->meta);
		s->meta = copy;
		s->meta_len = len;
		s->meta_seq = seq;
		s->has_meta = true;
		copy = NULL;
		err = write_copy(s, META_PRIMARY, seq, p, len);
	}
	pthread_mutex_unlock(&s->meta_mu);
	change_end(s);
	free(copy);
	if (err)
		store_log(s, LKV_LOG_ERR, "writing META failed: %s", strerror(-err));
	return err;
}
