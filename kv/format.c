/* SPDX-License-Identifier: MIT */
/*
 * FORMAT: the store's identity and format version, read first at every
 * open.  It is kept twice, in FORMAT and FORMAT.bak (two files, so that no
 * single damaged region of the disk holds both), with the same 48 bytes:
 *
 *   0  "LARCHKV\0"   8  u32 format version   12 u32 flags (0)
 *   16 uuid[16]      32 u64 creation time (Unix seconds)
 *   40 u64 XXH3-64 of bytes [0, 40)
 *
 * A copy is valid iff it is exactly 48 bytes, starts with the magic and its
 * checksum matches.  FORMAT is read first: when it is valid it is the
 * identity, and a missing, damaged or different FORMAT.bak is rewritten
 * from it.  When FORMAT is missing or damaged, a valid FORMAT.bak is the
 * identity and FORMAT is rewritten from it (logged).  Rewriting happens
 * only in a writable open; a read-only one uses the good copy as it is.
 * Both copies damaged: the store cannot be opened (-EUCLEAN).  A valid copy
 * of another version is refused (-EPROTONOSUPPORT).  Stores made before
 * the backup existed get it at their first writable open.
 *
 * Creation writes FORMAT.bak, then FORMAT (each whole: temporary name,
 * sync, rename, directory sync), so a store with a FORMAT always has both.
 *
 * Versions: 1, the first; 2, commits end with the digests of recent
 * commits (digest.c); 3, leaves are chains of a full image and delta
 * records (delta.c), and commits and snapshots name those chains and the
 * blob ranges synced with them (records of layout 3, record.c); 4,
 * snapshots of the location table may be deltas on an older one
 * (snapshot.c).  This build reads all four: a store of an older version
 * is upgraded at its first writable open (both copies rewritten before
 * any commit is written; its records stay as they are, read by their
 * layout, and its leaves take the new form as they are rewritten), and an
 * older build
 * then refuses it, naming the version, instead of misreading its commits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define FORMAT_MAGIC   "LARCHKV"
#define FORMAT_VERSION 4         /* what this build writes */
#define FORMAT_VERSION_MIN 1     /* the oldest it reads */
#define FORMAT_LEN     48

static void new_uuid(uint8_t u[16])
{
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(u, 1, 16, f) != 16) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t a = lkv_checksum(&ts, sizeof(ts)), b = lkv_checksum(&a, 8);
		memcpy(u, &a, 8);
		memcpy(u + 8, &b, 8);
	}
	if (f)
		fclose(f);
	u[6] = (u[6] & 0x0f) | 0x40;    /* RFC 4122 version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;
}

static int write_copy(lkv_store *s, uint64_t which, const uint8_t f[FORMAT_LEN])
{
	char name[FILE_NAME_MAX];
	file_name(name, FILE_FORMAT, which);
	return file_write_whole(s->io, name, f, FORMAT_LEN);
}

/* Writes the FORMAT of a new store with a fresh uuid (into s->uuid). */
int format_create(lkv_store *s)
{
	uint8_t f[FORMAT_LEN] = FORMAT_MAGIC;
	put_u32(f + 8, FORMAT_VERSION);
	s->format_version = FORMAT_VERSION;
	new_uuid(s->uuid);
	memcpy(f + 16, s->uuid, 16);
	put_u64(f + 32, (uint64_t)time(NULL));
	put_u64(f + 40, lkv_checksum(f, 40));
	int err = write_copy(s, FORMAT_BACKUP, f);
	return err ? err : write_copy(s, FORMAT_PRIMARY, f);
}

/* Reads one copy: 0 valid, -ENOENT missing, -EUCLEAN damaged, or an I/O
 * error. */
static int read_copy(lkv_store *s, uint64_t which, uint8_t b[FORMAT_LEN])
{
	char name[FILE_NAME_MAX];
	lkv_file *f;
	file_name(name, FILE_FORMAT, which);
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	uint64_t size = 0;
	err = s->io->ops->size(f, &size);
	ssize_t n = err ? 0 : s->io->ops->pread(f, b, FORMAT_LEN, 0);
	s->io->ops->close(f);
	if (err || n < 0)
		return err ? err : (int)n;
	if (size != FORMAT_LEN || n != FORMAT_LEN || memcmp(b, FORMAT_MAGIC, 8) ||
	    get_u64(b + 40) != lkv_checksum(b, 40))
		return -EUCLEAN;
	return 0;
}

static const char *copy_name(uint64_t which)
{
	return which == FORMAT_PRIMARY ? "FORMAT" : "FORMAT.bak";
}

/* Rewrites copy `which` from the good one `b` when the store is writable. */
static void repair_copy(lkv_store *s, uint64_t which, int why, const uint8_t b[FORMAT_LEN])
{
	if (s->ro)
		return;
	int err = write_copy(s, which, b);
	int level = why == -ENOENT && which == FORMAT_BACKUP ? LKV_LOG_INFO : LKV_LOG_WARN;
	if (err)
		store_log(s, LKV_LOG_WARN, "cannot rewrite %s: %s", copy_name(which),
			  strerror(-err));
	else
		store_log(s, level, "%s was %s; rewritten from %s", copy_name(which),
			  why == -ENOENT ? "missing" : why == -EUCLEAN ? "damaged" : "different",
			  copy_name(which == FORMAT_PRIMARY ? FORMAT_BACKUP : FORMAT_PRIMARY));
}

/* Rewrites both copies of an older version's FORMAT as this version's. */
static int upgrade(lkv_store *s, uint8_t f[FORMAT_LEN])
{
	uint32_t was = get_u32(f + 8);
	put_u32(f + 8, FORMAT_VERSION);
	put_u64(f + 40, lkv_checksum(f, 40));
	int err = write_copy(s, FORMAT_BACKUP, f);
	if (!err)
		err = write_copy(s, FORMAT_PRIMARY, f);
	if (err) {
		store_log(s, LKV_LOG_ERR, "cannot upgrade the store from format %" PRIu32
			  ": %s", was, strerror(-err));
		return err;
	}
	s->format_version = FORMAT_VERSION;
	store_log(s, LKV_LOG_INFO, "store upgraded from format %" PRIu32 " to %d", was,
		  FORMAT_VERSION);
	return 0;
}

/*
 * Reads the store's identity into s->uuid, repairing a bad copy (see the
 * header).  -ENOENT: neither copy exists; -EUCLEAN: both damaged (logged);
 * -EPROTONOSUPPORT: another version (logged).
 */
int format_read(lkv_store *s)
{
	uint8_t a[FORMAT_LEN], b[FORMAT_LEN];
	int ea = read_copy(s, FORMAT_PRIMARY, a), eb = read_copy(s, FORMAT_BACKUP, b);
	if (ea && ea != -ENOENT && ea != -EUCLEAN)
		return ea;                      /* an I/O error: decide nothing */
	if (ea && eb && eb != -ENOENT && eb != -EUCLEAN)
		return eb;
	if (ea && eb) {
		if (ea == -ENOENT && eb == -ENOENT)
			return -ENOENT;
		store_log(s, LKV_LOG_ERR, "FORMAT and FORMAT.bak are both %s: this is not "
			  "a larchkv store or its identity is lost",
			  ea == eb ? (ea == -ENOENT ? "missing" : "damaged") : "missing or damaged");
		return -EUCLEAN;
	}
	uint8_t *good = ea ? b : a;
	uint32_t version = get_u32(good + 8);
	if (version < FORMAT_VERSION_MIN || version > FORMAT_VERSION) {
		store_log(s, LKV_LOG_ERR, "format version %" PRIu32 " is not supported "
			  "(this build reads %d to %d)", version, FORMAT_VERSION_MIN,
			  FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (ea)
		repair_copy(s, FORMAT_PRIMARY, ea, b);
	else if (eb || memcmp(a, b, FORMAT_LEN))
		repair_copy(s, FORMAT_BACKUP, eb ? eb : -EEXIST, a);
	memcpy(s->uuid, good + 16, 16);
	s->format_version = version;
	return version < FORMAT_VERSION && !s->ro ? upgrade(s, good) : 0;
}
