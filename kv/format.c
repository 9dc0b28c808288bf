/* SPDX-License-Identifier: MIT */
/*
 * FORMAT: the store's identity and format version, written once when the
 * store is created and read first at every open.
 *
 * FORMAT (48 bytes):
 *   0  "LARCHKV\0"   8  u32 format version (1)   12 u32 flags (0)
 *   16 uuid[16]      32 u64 creation time (Unix seconds)
 *   40 u64 XXH3-64 of bytes [0, 40)
 *
 * A FORMAT is valid iff it is exactly 48 bytes, starts with the magic and
 * its checksum matches; a valid FORMAT of another version is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define FORMAT_MAGIC   "LARCHKV"
#define FORMAT_VERSION 1
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

/* Writes the FORMAT of a new store with a fresh uuid (into s->uuid). */
int format_create(lkv_store *s)
{
	uint8_t f[FORMAT_LEN] = FORMAT_MAGIC;
	char name[FILE_NAME_MAX];
	put_u32(f + 8, FORMAT_VERSION);
	new_uuid(s->uuid);
	memcpy(f + 16, s->uuid, 16);
	put_u64(f + 32, (uint64_t)time(NULL));
	put_u64(f + 40, lkv_checksum(f, 40));
	file_name(name, FILE_FORMAT, 0);
	return file_write_whole(s->io, name, f, sizeof(f));
}

/* Reads and verifies FORMAT into s->uuid.  -ENOENT: none; -EUCLEAN:
 * damaged (logged); -EPROTONOSUPPORT: another version (logged). */
int format_read(lkv_store *s)
{
	lkv_file *f;
	uint8_t b[FORMAT_LEN];
	char name[FILE_NAME_MAX];
	file_name(name, FILE_FORMAT, 0);
	int err = s->io->ops->open(s->io, name, LKV_IO_RDONLY, &f);
	if (err)
		return err;
	ssize_t n = s->io->ops->pread(f, b, sizeof(b), 0);
	s->io->ops->close(f);
	if (n < 0)
		return (int)n;
	if (n != FORMAT_LEN || memcmp(b, FORMAT_MAGIC, 8) ||
	    get_u64(b + 40) != lkv_checksum(b, 40)) {
		store_log(s, LKV_LOG_ERR, "%s is damaged or not a larchkv format file", name);
		return -EUCLEAN;
	}
	if (get_u32(b + 8) != FORMAT_VERSION) {
		store_log(s, LKV_LOG_ERR, "format version %" PRIu32 " is not supported "
			  "(this build reads %d)", get_u32(b + 8), FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	memcpy(s->uuid, b + 16, 16);
	return 0;
}
