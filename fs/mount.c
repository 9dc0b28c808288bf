/* SPDX-License-Identifier: MIT */
/*
 * Mounting and unmounting, and the calls about the mounted filesystem as
 * a whole (sync, statfs, its store).
 *
 * This is the top of the core: lfs_mount sets up every module's state in
 * a new struct lfs, opens the store with the engine settings the
 * superblock asks for, sets the features the options ask for, reclaims
 * the orphans a crash left and finishes the collapses and inserts it
 * interrupted (shift.c); lfs_unmount
 * reclaims the orphans nobody references any more and closes the store,
 * which flushes it.  lfs_remount switches between read-write and
 * read-only (the store frozen, lkv_freeze) while mounted.  Nothing in the
 * core calls back into this file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "internal.h"

#define DEFAULT_FLUSH_MS 5000

/* ---- options ---- */

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
	ko.flags = (fs->store_ro ? LKV_READONLY : 0) | (fs->opt.salvage ? LKV_SALVAGE : 0);
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
	lkv_tree *t[TREES];
	err = trees_open(fs->s, t);
	if (err)
		return err == -ENOENT ? -EMEDIUMTYPE : err;
	fs->t_super = t[TREE_SUPER];
	fs->t_inodes = t[TREE_INODES];
	fs->t_dirents = t[TREE_DIRENTS];
	fs->t_extents = t[TREE_EXTENTS];
	fs->t_xattrs = t[TREE_XATTRS];
	fs->t_orphans = t[TREE_ORPHANS];
	return 0;
}

/* Whether two superblocks agree but for next_ino. */
static bool same_super(const struct lfs_info *a, const struct lfs_info *b)
{
	struct lfs_info x = *a, y = *b;
	uint8_t p[SB_LEN], q[SB_LEN];
	x.next_ino = y.next_ino = 0;
	sb_encode(&x, p);
	sb_encode(&y, q);
	return !memcmp(p, q, SB_LEN);
}

/* With a good record: a writable mount writes the copy when it is missing
 * (a store made before copies), damaged, different or behind. */
static int keep_copy(lfs *fs, int cerr, const struct lfs_info *copy)
{
	fs->copy_bound = cerr ? 0 : copy->next_ino;
	if (fs->store_ro || (!cerr && same_super(copy, &fs->info) &&
		       copy->next_ino >= fs->info.next_ino))
		return 0;
	uint64_t bound = fs->info.next_ino + SB_COPY_STEP;
	int err = sb_copy_put(fs->s, &fs->info, bound);
	if (err)
		return err;
	fs->copy_bound = bound;
	if (cerr != -ENOENT)
		lfs_log(fs, LKV_LOG_WARN, "the superblock's copy was %s; rewritten",
			cerr ? "damaged" : "out of date");
	return 0;
}

/*
 * The record is missing (err -ENOENT: its leaf was emptied), undecodable
 * (-EUCLEAN) or unreadable (-EIO) and the copy is good: the copy stands in,
 * its bound as next_ino.  A writable mount rewrites the record, when its
 * leaf can be written; an unreadable leaf is fsck's to empty first, so
 * only fsck (salvage) and read-only mounts go on then.
 */
static int from_copy(lfs *fs, int err, const struct lfs_info *copy)
{
	const char *what = err == -ENOENT ? "missing" : err == -EIO ? "unreadable" : "damaged";
	fs->info = *copy;
	fs->copy_bound = copy->next_ino;
	fs->super_from_copy = true;
	if (err == -EIO && !fs->store_ro && !fs->opt.salvage) {
		lfs_log(fs, LKV_LOG_ERR, "the superblock record is unreadable (its copy is "
			"good); run fsck.larchfs -y");
		return -EUCLEAN;
	}
	if (fs->store_ro || err == -EIO) {
		lfs_log(fs, LKV_LOG_WARN, "the superblock record is %s; using its copy", what);
		return 0;
	}
	int werr = sb_put(fs->t_super, &fs->info);
	if (werr)
		return werr;
	fs->super_from_copy = false;
	lfs_log(fs, LKV_LOG_WARN, "the superblock record was %s; rewritten from its copy",
		what);
	return 0;
}

/* Reads the superblock record, or its copy where the record is missing or
 * damaged (super.c).  -EMEDIUMTYPE when there is neither (not formatted),
 * -EUCLEAN or -EIO when the record is bad and there is no copy. */
static int read_super(lfs *fs)
{
	uint8_t rec[SB_LEN + 1];
	size_t len;
	struct lfs_info copy;
	int cerr = sb_copy_get(fs->s, &copy);
	int err = lkv_get(fs->t_super, SB_KEY, SB_KEY_LEN, rec, sizeof(rec), &len);
	if (!err && !sb_decode(rec, len, &fs->info))
		err = -EUCLEAN;
	if (!err)
		return keep_copy(fs, cerr, &copy);
	if (err != -ENOENT && err != -EIO && err != -EUCLEAN)
		return err;
	if (!cerr)
		return from_copy(fs, err, &copy);
	if (err == -ENOENT) {
		lfs_log(fs, LKV_LOG_ERR, "no larchfs superblock (not formatted)");
		return -EMEDIUMTYPE;
	}
	lfs_log(fs, LKV_LOG_ERR, "the superblock record is %s and has no copy",
		err == -EIO ? "unreadable" : "damaged");
	return err;
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

/* The mount option open_checks: the superblock says LFS_FEAT_OPEN_CHECKS
 * from now on, so that every later mount checks opens too (the flags it
 * lets be set would not be kept otherwise).  The record goes first, then,
 * once durable, its copy, as the allocator writes them.  A read-only mount
 * can set no flag, so it leaves the store as it is. */
static int set_open_checks(lfs *fs)
{
	if (!fs->opt.open_checks || fs->ro || (fs->info.features & LFS_FEAT_OPEN_CHECKS))
		return 0;
	if (!format_has_iflags(fs->info.format_version)) {
		lfs_log(fs, LKV_LOG_ERR, "format version %u has no inode flags to check "
			"opens for (version %d on: mkfs.larchfs)", fs->info.format_version,
			SB_VERSION_IFLAGS);
		return -EOPNOTSUPP;
	}
	fs->info.features |= LFS_FEAT_OPEN_CHECKS;
	int err = sb_put(fs->t_super, &fs->info);
	if (!err)
		err = lkv_flush(fs->s, 0);
	if (!err)
		err = sb_copy_put(fs->s, &fs->info, fs->copy_bound);
	if (!err)
		lfs_log(fs, LKV_LOG_INFO, "opens are checked from now on (immutable and "
			"append-only files)");
	return err;
}

/* ---- mount and unmount ---- */

static void lfs_free(lfs *fs)
{
	inocounts_free(&fs->refs);
	inocounts_free(&fs->writers);
	locks_free(fs);
	ialloc_free(fs);
	pthread_mutex_destroy(&fs->remount_mu);
	free(fs->dir);
	free(fs);
}

/* A new handle for the store in dir, with the options and the modules'
 * state set up, and nothing opened yet; NULL when out of memory. */
static lfs *lfs_new(const char *dir, const struct lfs_mount_options *o)
{
	lfs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	if (o)
		fs->opt = *o;
	else
		lfs_mount_options_default(&fs->opt);
	if (!fs->opt.log)
		fs->opt.log = lfs_log_stderr;
	fs->store_ro = fs->opt.read_only;
	atomic_init(&fs->ro, fs->store_ro);
	pthread_mutex_init(&fs->remount_mu, NULL);
	now(&fs->mounted_at);
	ialloc_init(fs);
	locks_init(fs);
	inocounts_init(&fs->refs);
	inocounts_init(&fs->writers);
	fs->dir = strdup(dir);
	if (!fs->dir) {
		lfs_free(fs);
		return NULL;
	}
	return fs;
}

int lfs_mount(const char *dir, const struct lfs_mount_options *o, lfs **out)
{
	lfs *fs = lfs_new(dir, o);
	if (!fs)
		return -ENOMEM;
	int err = mount_store(fs);
	if (!err)
		err = set_open_checks(fs);
	if (!err) {
		ialloc_start(fs);
		if (!fs->store_ro)
			err = orphan_reclaim_all(fs);
		if (!err && !fs->store_ro)
			err = shift_resume_all(fs);
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
	lkv_close_begin(fs->s);     /* an open elsewhere waits for us now */
	int err = fs->ro ? 0 : orphan_reclaim_all(fs);
	int cerr = lkv_close(fs->s);
	if (!err)
		err = cerr;
	lfs_free(fs);
	return err;
}

/* ---- the filesystem as a whole ---- */

lkv_store *lfs_store(lfs *fs)
{
	return fs->s;
}

/* Read-only: later changes fail with -EROFS, then the store is frozen.
 * Back to read-write: thawed, then changes go through, and the orphans the
 * kernel let go of meanwhile (their forget could not reclaim them) go. */
int lfs_remount(lfs *fs, bool read_only)
{
	if (fs->store_ro)
		return read_only ? 0 : -EROFS;
	pthread_mutex_lock(&fs->remount_mu);
	int err;
	if (read_only) {
		atomic_store(&fs->ro, true);
		err = lkv_freeze(fs->s);
		if (err)
			atomic_store(&fs->ro, false);
	} else {
		err = lkv_thaw(fs->s);
		if (!err) {
			atomic_store(&fs->ro, false);
			int rerr = orphan_reclaim_unheld(fs);
			if (rerr)
				lfs_log(fs, LKV_LOG_ERR, "after the remount: unlinked files "
					"were not reclaimed (%s); the next mount does it",
					strerror(-rerr));
		}
	}
	pthread_mutex_unlock(&fs->remount_mu);
	return err;
}

int lfs_sync(lfs *fs)
{
	return fs->ro ? 0 : lkv_flush(fs->s, 0);
}

int lfs_statfs(lfs *fs, struct statvfs *sv)
{
	struct statvfs host;
	if (statvfs(fs->dir, &host))
		memset(&host, 0, sizeof(host));
	uint64_t used = lkv_tree_count(fs->t_inodes);   /* constant time */
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
	sv->f_files = (fsfilcnt_t)(ffree + used);
	sv->f_ffree = sv->f_favail = (fsfilcnt_t)ffree;
	sv->f_namemax = LFS_NAME_MAX;
	sv->f_fsid = le64_get(fs->info.uuid) ^ le64_get(fs->info.uuid + 8);
	if (fs->ro)
		sv->f_flag |= ST_RDONLY;
	return 0;
}
