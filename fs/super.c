/* SPDX-License-Identifier: MIT */
/*
 * The superblock, formatting, mounting and statfs.
 *
 * Superblock: key "sb" in tree `super`, one record (136 bytes, LE):
 *    0  u8[8]  magic "LARCHFS1"
 *    8  u32    format version: 2; a store of version 1 is mounted and
 *              checked as it is, and never gets version 2's sub-block
 *              writes (patch.c), which version 1's tools do not know
 *   12  u32    block size: file data is cut into blocks of this size
 *   16  u32    blob threshold handed to the engine
 *   20  i32    default zstd level
 *   24  u8[16] uuid (the engine store's)
 *   40  u8[64] label, NUL-padded
 *  104  u64    creation time, seconds
 *  112  u64    next_ino: every inode number below it may be in use
 *  120  u64    lost+found's inode number
 *  128  u64    feature bits (none yet)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

#define SB_MAGIC       "LARCHFS1"
#define SB_VERSION     2        /* what mkfs writes */
#define SB_VERSION_MIN 1        /* the oldest still read */
#define SB_LEN         136
#define SB_KEY         "sb"
#define FIRST_INO      16       /* numbers below are the format's own */
#define LOST_FOUND_INO 2
#define DEFAULT_BLOCK  (64u << 10)
#define DEFAULT_BLOB   (32u << 10)
#define DEFAULT_FLUSH_MS 5000

static const char *tree_names[] = { "super", "inodes", "dirents", "extents",
				    "xattrs", "orphans" };

/* ---- the superblock record ---- */

static void sb_encode(const struct lfs_info *i, uint8_t *p)
{
	memset(p, 0, SB_LEN);
	memcpy(p, SB_MAGIC, 8);
	le32_put(p + 8, i->format_version);
	le32_put(p + 12, i->block_size);
	le32_put(p + 16, i->blob_threshold);
	le32_put(p + 20, (uint32_t)i->compression);
	memcpy(p + 24, i->uuid, 16);
	memcpy(p + 40, i->label, strnlen(i->label, 63));
	le64_put(p + 104, i->created_sec);
	le64_put(p + 112, i->next_ino);
	le64_put(p + 120, i->lost_found_ino);
}

static bool sb_decode(const uint8_t *p, size_t len, struct lfs_info *i)
{
	if (len != SB_LEN || memcmp(p, SB_MAGIC, 8))
		return false;
	memset(i, 0, sizeof(*i));
	i->format_version = le32_get(p + 8);
	i->block_size = le32_get(p + 12);
	i->blob_threshold = le32_get(p + 16);
	i->compression = (int32_t)le32_get(p + 20);
	memcpy(i->uuid, p + 24, 16);
	memcpy(i->label, p + 40, 63);
	i->created_sec = le64_get(p + 104);
	i->next_ino = le64_get(p + 112);
	i->lost_found_ino = le64_get(p + 120);
	return i->format_version >= SB_VERSION_MIN && i->format_version <= SB_VERSION &&
	       i->block_size >= 4096 &&
	       i->block_size <= (1u << 20) && !(i->block_size & (i->block_size - 1)) &&
	       i->next_ino >= FIRST_INO && le64_get(p + 128) == 0;
}

int sb_put(lkv_tree *t, const struct lfs_info *i)
{
	uint8_t rec[SB_LEN];
	sb_encode(i, rec);
	return lkv_put(t, SB_KEY, 2, rec, sizeof(rec), NULL);
}

/* ---- formatting ---- */

void lfs_format_options_default(struct lfs_format_options *o)
{
	*o = (struct lfs_format_options){ .block_size = DEFAULT_BLOCK,
					  .blob_threshold = DEFAULT_BLOB,
					  .compression = 1 };
}

static bool is_store_file(const char *n)
{
	size_t l = strlen(n);
	return !strcmp(n, "FORMAT") || !strcmp(n, "FORMAT.tmp") || !strcmp(n, "LOCK") ||
	       !strncmp(n, "snap-", 5) || (l == 12 && !strcmp(n + 8, ".log")) ||
	       (l == 13 && !strcmp(n + 8, ".blob"));
}

/* Looks at what dir holds: 1 a store, 0 nothing, -ENOTEMPTY other files
 * (the first named in why), or a negative errno. */
static int survey(const char *dir, bool *has_foreign, char *why)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int store = 0;
	*has_foreign = false;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!strcmp(e->d_name, "FORMAT"))
			store = 1;
		else if (!is_store_file(e->d_name) && !*has_foreign) {
			*has_foreign = true;
			if (why)
				snprintf(why, 256, "%s is not empty (it holds '%.100s'); a store "
					 "goes in an empty directory, or over an old store",
					 dir, e->d_name);
		}
	}
	closedir(d);
	return store;
}

/* Deletes the files of an old store in dir, under its lock. */
static int wipe_store(const char *dir, char *why)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int lfd = openat(dfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB)) {
		int err = lfd < 0 ? -errno : -EBUSY;
		if (why)
			snprintf(why, 256, "%s is in use (mounted?)", dir);
		if (lfd >= 0)
			close(lfd);
		close(dfd);
		return err;
	}
	DIR *d = fdopendir(dup(dfd));
	int err = d ? 0 : -errno;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (is_store_file(e->d_name) && strcmp(e->d_name, "LOCK") &&
		    unlinkat(dfd, e->d_name, 0) && !err)
			err = -errno;
	if (d)
		closedir(d);
	close(lfd);      /* releases the lock; lkv_open takes it again */
	close(dfd);
	return err;
}

static int make_root(lkv_store *s, lkv_tree *t[], const struct lfs_format_options *o)
{
	struct inode root, lf;
	inode_init(&root, LFS_ROOT_INO, S_IFDIR | 0755, o->root_uid, o->root_gid);
	inode_init(&lf, LOST_FOUND_INO, S_IFDIR | 0700, o->root_uid, o->root_gid);
	root.parent = LFS_ROOT_INO;
	root.nlink = 3;
	root.size = 1;
	lf.parent = LFS_ROOT_INO;
	/* a throwaway fs handle: the record helpers only need the trees */
	struct lfs fake = { .s = s, .t_inodes = t[1], .t_dirents = t[2] };
	lkv_batch *b = lkv_batch_new(s);
	if (!b)
		return -ENOMEM;
	struct dirent_val dv = { .ino = LOST_FOUND_INO, .type = mode_to_dtype(S_IFDIR) };
	int err = inode_put(&fake, b, &root);
	if (!err)
		err = inode_put(&fake, b, &lf);
	if (!err)
		err = dirent_put(&fake, b, LFS_ROOT_INO, "lost+found", &dv);
	if (!err)
		err = lkv_batch_commit(b, NULL);
	lkv_batch_free(b);
	return err;
}

static int format_store(const char *dir, const struct lfs_format_options *o,
			struct lfs_info *info)
{
	struct lkv_options ko;
	lkv_options_default(&ko);
	ko.flags = LKV_CREATE;
	ko.io = o->io;
	ko.flush_interval_ms = 0;
	ko.gc_interval_ms = 0;
	lkv_store *s;
	int err = lkv_open(dir, &ko, &s);
	if (err)
		return err;
	lkv_tree *t[6];
	for (int i = 0; i < 6 && !err; i++)
		err = lkv_tree_open(s, tree_names[i], &t[i]);
	struct lfs_info i = { .format_version = SB_VERSION, .block_size = o->block_size,
			      .blob_threshold = o->blob_threshold,
			      .compression = o->compression,
			      .created_sec = (uint64_t)time(NULL), .next_ino = FIRST_INO,
			      .lost_found_ino = LOST_FOUND_INO };
	lkv_uuid(s, i.uuid);
	if (o->label)
		snprintf(i.label, sizeof(i.label), "%s", o->label);
	if (!err)
		err = sb_put(t[0], &i);
	if (!err)
		err = make_root(s, t, o);
	if (!err)
		err = lkv_flush(s, 0);
	int cerr = lkv_close(s);
	if (!err)
		err = cerr;
	if (!err && info)
		*info = i;
	return err;
}

int lfs_format(const char *dir, const struct lfs_format_options *opt,
	       struct lfs_info *info, char *why)
{
	struct lfs_format_options o;
	lfs_format_options_default(&o);
	if (opt) {
		o = *opt;
		if (!o.block_size)
			o.block_size = DEFAULT_BLOCK;
		if (!o.blob_threshold)
			o.blob_threshold = DEFAULT_BLOB;
		if (o.compression < 0)
			o.compression = 1;
	}
	if (o.block_size < 4096 || o.block_size > (1u << 20) ||
	    (o.block_size & (o.block_size - 1)) || o.blob_threshold < 64 ||
	    o.compression > 22 || (o.label && strlen(o.label) > 63)) {
		if (why)
			snprintf(why, 256, "bad format options");
		return -EINVAL;
	}
	if (why)
		why[0] = 0;
	if (o.io)
		return format_store(dir, &o, info);
	bool foreign = false;
	int st = survey(dir, &foreign, why);
	if (st < 0)
		return st;
	if (st == 1 && !o.force) {
		if (why)
			snprintf(why, 256, "%s already holds a store (force replaces it)", dir);
		return -EEXIST;
	}
	if (foreign)
		return -ENOTEMPTY;      /* never: force replaces stores, not files */
	if (st == 0 && mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (st == 1) {
		int err = wipe_store(dir, why);
		if (err)
			return err;
	}
	return format_store(dir, &o, info);
}

/* ---- mounting ---- */

void lfs_mount_options_default(struct lfs_mount_options *o)
{
	*o = (struct lfs_mount_options){ .flush_interval_ms = DEFAULT_FLUSH_MS,
					 .compression = -1,
					 .atime = LFS_ATIME_RELATIME };
}

static int open_store(lfs *fs, const struct lfs_info *sb)
{
	struct lkv_options ko;
	lkv_options_default(&ko);
	ko.flags = (fs->ro ? LKV_READONLY : 0) | (fs->opt.salvage ? LKV_SALVAGE : 0);
	if (fs->opt.cache_bytes)
		ko.cache_bytes = fs->opt.cache_bytes;
	ko.flush_interval_ms = fs->opt.flush_interval_ms ? fs->opt.flush_interval_ms
							 : DEFAULT_FLUSH_MS;
	if (fs->opt.compression >= 0)
		ko.compression_level = fs->opt.compression;
	else if (sb)
		ko.compression_level = sb->compression;
	if (sb)
		ko.blob_threshold = sb->blob_threshold;
	ko.io = fs->opt.io;
	space_tune(fs, &ko);
	ko.log = fs->opt.log;
	ko.log_arg = fs->opt.log_arg;
	int err = lkv_open(fs->dir, &ko, &fs->s);
	if (err)
		return err;
	lkv_tree **t[] = { &fs->t_super, &fs->t_inodes, &fs->t_dirents, &fs->t_extents,
			   &fs->t_xattrs, &fs->t_orphans };
	for (int i = 0; i < 6 && !err; i++)
		err = lkv_tree_open(fs->s, tree_names[i], t[i]);
	return err == -ENOENT ? -EMEDIUMTYPE : err;
}

/* -EMEDIUMTYPE when there is no superblock, -EUCLEAN when it is bad. */
static int read_super(lfs *fs)
{
	uint8_t rec[SB_LEN + 1];
	size_t len;
	int err = lkv_get(fs->t_super, SB_KEY, 2, rec, sizeof(rec), &len);
	if (err == -ENOENT) {
		lfs_log(fs, LKV_LOG_ERR, "no larchfs superblock (not formatted)");
		return -EMEDIUMTYPE;
	}
	if (err)
		return err;
	if (!sb_decode(rec, len, &fs->info)) {
		lfs_log(fs, LKV_LOG_ERR, "bad superblock");
		return -EUCLEAN;
	}
	return 0;
}

/* Opens the store and reads the superblock; reopens the store when the
 * superblock asks for engine settings other than the ones it was opened
 * with (the engine takes them at open only). */
static int mount_store(lfs *fs)
{
	int err = open_store(fs, NULL);
	if (!err)
		err = read_super(fs);
	if (err)
		return err;
	struct lkv_options d;
	lkv_options_default(&d);
	bool comp_ok = fs->opt.compression >= 0 || fs->info.compression == d.compression_level;
	if (fs->info.blob_threshold == d.blob_threshold && comp_ok)
		return 0;
	lkv_close(fs->s);
	fs->s = NULL;
	return open_store(fs, &fs->info);
}

static void lfs_free(lfs *fs)
{
	refs_free(fs);
	locks_free(fs);
	ialloc_free(fs);
	free(fs->dir);
	free(fs);
}

int lfs_mount(const char *dir, const struct lfs_mount_options *o, lfs **out)
{
	lfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	if (o)
		fs->opt = *o;
	else
		lfs_mount_options_default(&fs->opt);
	if (!fs->opt.log)
		fs->opt.log = lfs_log_stderr;
	fs->ro = fs->opt.read_only;
	atomic_init(&fs->inodes_used, -1);
	now(&fs->mounted_at);
	fs->dir = strdup(dir);
	int err = fs->dir ? 0 : -ENOMEM;
	ialloc_init(fs);
	if (!err)
		err = locks_init(fs);
	if (!err)
		err = refs_init(fs);
	if (!err)
		err = mount_store(fs);
	if (!err) {
		ialloc_start(fs);
		if (!fs->ro)
			err = orphan_reclaim_all(fs);
	}
	if (err) {
		if (fs->s)
			lkv_close(fs->s);
		lfs_free(fs);
		return err;
	}
	*out = fs;
	return 0;
}

int lfs_unmount(lfs *fs)
{
	int err = fs->ro ? 0 : orphan_reclaim_all(fs);
	int cerr = lkv_close(fs->s);
	if (!err)
		err = cerr;
	lfs_free(fs);
	return err;
}

lkv_store *lfs_store(lfs *fs)
{
	return fs->s;
}

int lfs_sync(lfs *fs)
{
	return fs->ro ? 0 : lkv_flush(fs->s, 0);
}

/* ---- statfs ---- */

static long long count_inodes(lfs *fs)
{
	lkv_iter *it;
	long long n = 0;
	if (lkv_iter_open(fs->t_inodes, NULL, 0, NULL, 0, 0, &it))
		return 0;
	const void *k;
	size_t kl, vl;
	while (lkv_iter_next_len(it, &k, &kl, &vl) > 0)
		n++;
	lkv_iter_close(it);
	return n;
}

int lfs_statfs(lfs *fs, struct statvfs *sv)
{
	struct statvfs host;
	if (statvfs(fs->dir, &host))
		memset(&host, 0, sizeof(host));
	long long used = atomic_load(&fs->inodes_used);
	if (used < 0) {
		long long n = count_inodes(fs), unset = -1;
		atomic_compare_exchange_strong(&fs->inodes_used, &unset, n);
		used = atomic_load(&fs->inodes_used);
	}
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = fs->info.block_size;
	sv->f_frsize = host.f_frsize ? host.f_frsize : 4096;
	/* the reserve is not free for anyone (space.c) */
	uint64_t keep = sv->f_frsize ? space_reserve(fs) / sv->f_frsize : 0;
	sv->f_blocks = host.f_blocks;
	sv->f_bfree = host.f_bfree > keep ? host.f_bfree - keep : 0;
	sv->f_bavail = host.f_bavail > keep ? host.f_bavail - keep : 0;
	/* every inode is a 104-byte record plus keys: count a free inode per
	 * 256 free bytes */
	uint64_t ffree = (uint64_t)sv->f_bavail * sv->f_frsize / 256;
	sv->f_files = (fsfilcnt_t)(ffree + (uint64_t)used);
	sv->f_ffree = sv->f_favail = (fsfilcnt_t)ffree;
	sv->f_namemax = LFS_NAME_MAX;
	sv->f_fsid = le64_get(fs->info.uuid) ^ le64_get(fs->info.uuid + 8);
	if (fs->ro)
		sv->f_flag |= ST_RDONLY;
	return 0;
}
