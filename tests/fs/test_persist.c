/* SPDX-License-Identifier: MIT */
/*
 * test_persist.c: what survives lfs_unmount + lfs_mount, and the edges of
 * formatting and mounting (fs/lfs.h).
 *
 * A varied tree (nested directories, files of many sizes, a sparse file
 * past 4 GiB, hard links, symlinks, devices, fifos, xattrs and ACLs, odd
 * modes, owners and nanosecond times, renames and removals) is dumped to
 * text: every entry with its offset, every inode's attributes, birth time,
 * data checksum, symlink target and xattrs.  The dump must be identical
 * after a remount, after a read-only mount and after further changes and
 * another remount.  fsync is checked by a child process that fsyncs and
 * _exits without unmounting.  Mounting refuses what is not a filesystem
 * with the errnos lfs.h gives; formatting refuses to overwrite; a
 * read-only mount refuses every write with -EROFS.
 */
#include <dirent.h>
#include <linux/falloc.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "fsutil.h"

/* ---- a text dump of the whole filesystem ----------------------------- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->n : NULL,
				  b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (b->p && b->n + (size_t)n < b->cap) {
			b->n += (size_t)n;
			return;
		}
		b->cap = b->cap ? b->cap * 2 : 1 << 16;
		while (b->cap < b->n + (size_t)n + 1)
			b->cap *= 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
}

/* Checksum of the file's bytes, reading only its data regions (as lseek
 * reports them) so that sparse files of gigabytes cost little. */
static uint64_t data_sum(struct fx *f, uint64_t ino, off_t size)
{
	uint64_t sum = (uint64_t)size;
	size_t cap = 1 << 20;
	uint8_t *buf = xmalloc(cap);
	off_t at = 0;

	while (at < size) {
		off_t d = lfs_lseek(f->fs, ino, at, SEEK_DATA);
		if (d == -ENXIO)
			break;
		assert_true(d >= at);
		off_t h = lfs_lseek(f->fs, ino, d, SEEK_HOLE);
		assert_true(h > d && h <= size);
		for (off_t o = d; o < h;) {
			size_t n = (size_t)(h - o) < cap ? (size_t)(h - o) : cap;
			assert_int_equal(read_at(f, ino, buf, n, o), n);
			/* all-zero data reads like a hole: skip it so that
			 * where the data/hole line falls does not matter */
			size_t i = 0;
			while (i < n && !buf[i])
				i++;
			if (i < n)
				sum = sum * 31 + lkv_checksum(buf, n) +
				      (uint64_t)o;
			o += (off_t)n;
		}
		at = h;
	}
	free(buf);
	return sum;
}

static void dump_xattrs(struct fx *f, uint64_t ino, struct sbuf *b)
{
	char list[8192], *names[256];
	size_t n = 0;
	ssize_t len = lfs_listxattr(f->fs, ino, list, sizeof(list));
	uint8_t *v = xmalloc(LFS_XATTR_SIZE_MAX);

	assert_true(len >= 0);
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		names[n++] = p;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
		     j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = lfs_getxattr(f->fs, ino, names[i], v,
					  LFS_XATTR_SIZE_MAX);
		assert_true(vl >= 0);
		sb_printf(b, "  xattr %s len %zd sum %016" PRIx64 "\n",
			  names[i], vl, lkv_checksum(v, (size_t)vl));
	}
	free(v);
}

static void dump_inode(struct fx *f, uint64_t ino, struct sbuf *b)
{
	struct stat st = st_get(f, ino);
	struct timespec bt;

	assert_ok(lfs_get_btime(f->fs, ino, &bt));
	sb_printf(b, " inode %" PRIu64 " mode 0%o nlink %ju uid %u gid %u "
		  "rdev %ju:%ju size %jd blocks %jd\n"
		  "  atime %jd.%09ld mtime %jd.%09ld ctime %jd.%09ld "
		  "btime %jd.%09ld\n", ino, (unsigned)st.st_mode,
		  (uintmax_t)st.st_nlink, (unsigned)st.st_uid,
		  (unsigned)st.st_gid, (uintmax_t)major(st.st_rdev),
		  (uintmax_t)minor(st.st_rdev), (intmax_t)st.st_size,
		  (intmax_t)st.st_blocks, (intmax_t)st.st_atim.tv_sec,
		  st.st_atim.tv_nsec, (intmax_t)st.st_mtim.tv_sec,
		  st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec,
		  st.st_ctim.tv_nsec, (intmax_t)bt.tv_sec, bt.tv_nsec);
	if (S_ISREG(st.st_mode))
		sb_printf(b, "  data %016" PRIx64 "\n",
			  data_sum(f, ino, st.st_size));
	if (S_ISLNK(st.st_mode)) {
		char t[LFS_SYMLINK_MAX + 1];
		ssize_t n = lfs_readlink(f->fs, ino, t, sizeof(t));
		assert_true(n >= 0);
		sb_printf(b, "  target %.*s\n", (int)n, t);
	}
	dump_xattrs(f, ino, b);
}

static void dump_dir(struct fx *f, uint64_t dir, const char *path,
		     struct sbuf *b)
{
	struct dlist d;

	readdir_all(f, dir, 50, &d);
	sb_printf(b, "dir %s\n", path);
	dump_inode(f, dir, b);
	for (size_t i = 0; i < d.n; i++)
		sb_printf(b, " entry \"%s\" ino %" PRIu64 " type %u next %jd\n",
			  d.e[i].name, d.e[i].ino, d.e[i].type,
			  (intmax_t)d.e[i].next);
	for (size_t i = 0; i < d.n; i++) {
		const struct dent *e = &d.e[i];
		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		if (e->type == DT_DIR) {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->name);
			dump_dir(f, e->ino, sub, b);
		} else {
			sb_printf(b, "file %s/%s\n", path, e->name);
			dump_inode(f, e->ino, b);
		}
	}
	free(d.e);
}

static char *dump_fs(struct fx *f)
{
	struct sbuf b = { 0 };
	struct lfs_info in;

	lfs_get_info(f->fs, &in);
	sb_printf(&b, "info version %u bs %u blob %u comp %d created %ju "
		  "lf %ju label \"%s\" uuid", in.format_version, in.block_size,
		  in.blob_threshold, in.compression, (uintmax_t)in.created_sec,
		  (uintmax_t)in.lost_found_ino, in.label);
	for (int i = 0; i < 16; i++)
		sb_printf(&b, "%02x", in.uuid[i]);
	sb_printf(&b, "\n");
	dump_dir(f, LFS_ROOT_INO, "", &b);
	return b.p;
}

/* Fails showing the first differing line unless a == b. */
static void assert_same_dump(const char *a, const char *b, const char *when)
{
	if (!strcmp(a, b))
		return;
	size_t i = 0, line = 0;
	while (a[i] && a[i] == b[i])
		i++;
	size_t s = i;
	while (s > 0 && a[s - 1] != '\n')
		s--;
	for (size_t k = 0; k < s; k++)
		line += a[k] == '\n';
	fail_msg("%s: dumps differ at line %zu:\n before: %.160s\n after:  "
		 "%.160s", when, line + 1, a + s, b + s);
}

/* ---- building a varied tree ------------------------------------------ */

static void set_ts(struct fx *f, uint64_t ino, time_t a, long an, time_t m,
		   long mn)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_atim = ts_make(a, an);
	st.st_mtim = ts_make(m, mn);
	assert_ok(lfs_setattr(f->fs, &f->cred, ino, &st,
			      LFS_SET_ATIME | LFS_SET_MTIME, NULL));
}

static void build_tree(struct fx *f, uint64_t seed)
{
	struct stat st;
	uint8_t *data = xmalloc(300000);
	char name[64];
	uint64_t rng = seed;

	uint64_t a = mk_dir(f, LFS_ROOT_INO, "a");
	uint64_t b = mk_dir(f, a, "b");
	uint64_t c = mk_dir(f, b, "c");
	size_t sizes[] = { 0, 1, 100, 4095, 40000, 65536, 65537, 300000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "f%zu", sizes[i]);
		uint64_t x = mk_file(f, i % 2 ? a : c, name);
		fill_random(data, sizes[i], seed + i);
		if (sizes[i])
			write_at(f, x, data, sizes[i], 0);
		set_ts(f, x, 1000 + (time_t)i, 1 + (long)i, 2000000000,
		       999999999 - (long)i);
	}
	/* sparse past 4 GiB, then partly punched and truncated */
	uint64_t sp = mk_file(f, b, "sparse");
	write_at(f, sp, data, 70000, (5ll << 30) + 3);
	write_at(f, sp, data + 5, 1000, 12345);
	assert_ok(lfs_fallocate(f->fs, sp, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 12400, 300));
	st.st_size = (5ll << 30) + 50000;
	assert_ok(lfs_setattr(f->fs, &f->cred, sp, &st, LFS_SET_SIZE, NULL));
	/* links, symlinks, specials */
	uint64_t f100 = ino_of(f, c, "f100");
	assert_ok(lfs_link(f->fs, f100, a, "hard", &st));
	lfs_forget(f->fs, f100, 1);
	assert_ok(lfs_link(f->fs, f100, LFS_ROOT_INO, "hard2", &st));
	lfs_forget(f->fs, f100, 1);
	mk_symlink(f, a, "sym", "b/c/f100");
	mk_symlink(f, LFS_ROOT_INO, "dangling", "/no/such/thing");
	mk_node(f, b, "fifo", S_IFIFO | 0600, 0);
	mk_node(f, b, "tty", S_IFCHR | 0620, makedev(4, 1));
	mk_node(f, b, "disk", S_IFBLK | 0660, makedev(259, 65536));
	mk_node(f, b, "sock", S_IFSOCK | 0755, 0);
	/* owners and modes */
	uint64_t o = mk_file(f, a, "owned");
	struct stat ch = { .st_uid = 4242, .st_gid = 2424,
			   .st_mode = S_IFREG | 06755 };
	assert_ok(lfs_setattr(f->fs, &f->cred, o, &ch, LFS_SET_UID |
			      LFS_SET_GID, NULL));
	assert_ok(lfs_setattr(f->fs, &f->cred, o, &ch, LFS_SET_MODE, NULL));
	uint64_t sticky = mk_dir(f, LFS_ROOT_INO, "tmp");
	ch.st_mode = S_IFDIR | 01777;
	assert_ok(lfs_setattr(f->fs, &f->cred, sticky, &ch, LFS_SET_MODE,
			      NULL));
	/* xattrs and ACLs */
	assert_ok(lfs_setxattr(f->fs, o, "user.small", "s", 1, 0));
	assert_ok(lfs_setxattr(f->fs, o, "trusted.t", "", 0, 0));
	fill_random(data, LFS_XATTR_SIZE_MAX, seed + 99);
	assert_ok(lfs_setxattr(f->fs, c, "security.big", data,
			       LFS_XATTR_SIZE_MAX, 0));
	uint8_t acl[64];
	struct acl_ent e[] = {
		{ ACL_USER_OBJ, 7, 0 }, { ACL_USER, 5, 1000 },
		{ ACL_GROUP_OBJ, 5, 0 }, { ACL_MASK, 5, 0 },
		{ ACL_OTHER, 0, 0 } };
	size_t al = acl_encode(acl, e, 5);
	assert_ok(lfs_setxattr(f->fs, b, "system.posix_acl_default", acl, al,
			       0));
	assert_ok(lfs_setxattr(f->fs, b, "system.posix_acl_access", acl, al,
			       0));
	mk_file(f, b, "inherits");
	/* a directory of many names, some removed, some renamed */
	uint64_t many = mk_dir(f, LFS_ROOT_INO, "many");
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "entry-%d-%" PRIu64, i,
			 rng_below(&rng, 1000000));
		uint64_t x = mk_file(f, many, name);
		if (i % 7 == 0)
			write_at(f, x, name, strlen(name), 0);
		if (i % 5 == 0)
			assert_ok(lfs_unlink(f->fs, many, name));
		else if (i % 11 == 0) {
			char to[80];
			snprintf(to, sizeof(to), "renamed-%s", name);
			assert_ok(lfs_rename(f->fs, many, name, a, to, 0));
		}
	}
	assert_ok(lfs_rename(f->fs, a, "f1", b, "f1-moved", 0));
	assert_ok(lfs_rename(f->fs, a, "hard", c, "f0", 0));
	assert_ok(lfs_rename(f->fs, b, "c", LFS_ROOT_INO, "c-up", 0));
	assert_ok(lfs_rename(f->fs, LFS_ROOT_INO, "c-up", LFS_ROOT_INO, "tmp",
			     LFS_RENAME_EXCHANGE));
	mk_dir(f, f->info.lost_found_ino, "empty-in-lf");
	free(data);
}

static void noatime(struct fx *f)
{
	f->mo.atime = LFS_ATIME_NOATIME;
}

static int setup_noatime(void **state)
{
	return fx_setup_with(state, noatime);
}

static void small_noatime(struct fx *f)
{
	f->mo.atime = LFS_ATIME_NOATIME;
	f->fo.block_size = 4096;
	f->fo.blob_threshold = 1024;
	f->fo.label = "small blocks";
}

static int setup_small_noatime(void **state)
{
	return fx_setup_with(state, small_noatime);
}

static void test_persist_tree(void **state)
{
	struct fx *f = *state;

	build_tree(f, 1);
	char *before = dump_fs(f);
	assert_ok(lfs_sync(f->fs));
	char *again = dump_fs(f);
	assert_same_dump(before, again, "dumped twice");
	free(again);

	fx_remount(f);
	char *after = dump_fs(f);
	assert_same_dump(before, after, "after remount");
	free(after);

	/* read-only */
	fx_unmount(f);
	f->mo.read_only = true;
	fx_mount(f);
	after = dump_fs(f);
	assert_same_dump(before, after, "read-only mount");
	free(after);
	fx_unmount(f);
	f->mo.read_only = false;
	fx_mount(f);

	/* more changes on the remounted filesystem, then once more */
	{
		uint64_t a = ino_of(f, LFS_ROOT_INO, "a");
		uint64_t x = mk_file(f, a, "later");
		write_at(f, x, "later data", 10, 100000);
		assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "hard2"));
		assert_ok(lfs_rmdir(f->fs, f->info.lost_found_ino,
				    "empty-in-lf"));
		assert_ok(lfs_removexattr(f->fs, ino_of(f, a, "owned"),
					  "user.small"));
	}
	free(before);
	before = dump_fs(f);
	fx_remount(f);
	after = dump_fs(f);
	assert_same_dump(before, after, "after the second remount");
	free(before);
	free(after);
}

/* ---- fsync ----------------------------------------------------------- */

/* The child mounts, makes changes, fsyncs one file and _exits without
 * unmounting; everything up to the fsync must be there. */
static void test_fsync_durable(void **state)
{
	struct fx *f = *state;
	size_t len = 200000;
	uint8_t *data = xmalloc(len);

	fill_random(data, len, 5);
	fx_unmount(f);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lfs *fs;
		struct stat st;
		f->mo.flush_interval_ms = 3600000;   /* no background flush */
		if (lfs_mount(f->store, &f->mo, &fs))
			_exit(2);
		if (lfs_mkdir(fs, &f->cred, LFS_ROOT_INO, "d", 0755, &st))
			_exit(3);
		uint64_t d = st.st_ino;
		if (lfs_create(fs, &f->cred, d, "f", S_IFREG | 0644,
			       O_CREAT | O_RDWR, &st))
			_exit(4);
		if (lfs_write(fs, st.st_ino, data, len, 0, 0) != (ssize_t)len)
			_exit(5);
		if (lfs_setxattr(fs, st.st_ino, "user.k", "v", 1, 0))
			_exit(6);
		if (lfs_fsync(fs, st.st_ino, false))
			_exit(7);
		if (lfs_fsync(fs, st.st_ino, true))     /* nothing new */
			_exit(8);
		if (lfs_fsyncdir(fs, d))
			_exit(9);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fx_mount(f);
	uint64_t d = ino_of(f, LFS_ROOT_INO, "d");
	uint64_t x = ino_of(f, d, "f");
	assert_content(f, x, data, len);
	assert_rc(lfs_getxattr(f->fs, x, "user.k", NULL, 0), 1);
	assert_ok(lfs_fsync(f->fs, x, false));
	assert_ok(lfs_fsync(f->fs, x, true));
	assert_ok(lfs_fsyncdir(f->fs, d));
	assert_ok(lfs_sync(f->fs));
	free(data);
}

/* ---- format and mount edges ------------------------------------------ */

static void test_format_info(void **state)
{
	struct fx *f = *state;
	struct lfs_info in;
	char why[256] = "";

	f->fo.label = "the label";
	f->fo.root_uid = 1234;
	f->fo.root_gid = 5678;
	time_t t0 = time(NULL);
	assert_ok(lfs_format(f->store, &f->fo, &in, why));
	time_t t1 = time(NULL);
	assert_int_equal(in.block_size, 65536);
	assert_int_equal(in.blob_threshold, 32768);
	assert_int_equal(in.compression, 1);
	assert_string_equal(in.label, "the label");
	assert_true(in.format_version >= 1);
	assert_true(in.created_sec >= (uint64_t)t0 &&
		    in.created_sec <= (uint64_t)t1);
	assert_true(in.lost_found_ino > LFS_ROOT_INO);
	assert_true(in.next_ino > in.lost_found_ino);
	static const uint8_t zero[16];
	assert_true(memcmp(in.uuid, zero, 16) != 0);

	fx_mount(f);
	assert_memory_equal(f->info.uuid, in.uuid, 16);
	assert_string_equal(f->info.label, "the label");
	assert_int_equal(f->info.block_size, 65536);
	assert_int_equal(f->info.created_sec, in.created_sec);
	assert_int_equal(f->info.lost_found_ino, in.lost_found_ino);
	struct stat st = st_get(f, LFS_ROOT_INO);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_nlink, 3);
	st = st_get(f, in.lost_found_ino);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(ino_of(f, LFS_ROOT_INO, "lost+found"),
			 in.lost_found_ino);
	fx_remount(f);
	assert_memory_equal(f->info.uuid, in.uuid, 16);

	/* other block size and threshold */
	struct fx *g = fx_new();
	assert_non_null(g);
	g->fo.block_size = 4096;
	g->fo.blob_threshold = 1024;
	g->fo.compression = 0;
	assert_ok(lfs_format(g->store, &g->fo, &in, NULL));
	assert_int_equal(in.block_size, 4096);
	assert_int_equal(in.blob_threshold, 1024);
	assert_int_equal(in.compression, 0);
	fx_mount(g);
	assert_int_equal(g->info.block_size, 4096);
	assert_true(memcmp(g->info.uuid, f->info.uuid, 16) != 0);
	fx_unmount(g);
	/* the longest label, 63 bytes */
	char label[64];
	memset(label, 'L', 63);
	label[63] = 0;
	g->fo.label = label;
	g->fo.force = true;
	assert_ok(lfs_format(g->store, &g->fo, &in, NULL));
	assert_string_equal(in.label, label);
	fx_mount(g);
	assert_string_equal(g->info.label, label);
	void *gs = g;
	fx_teardown(&gs);
}

static void test_format_refusals(void **state)
{
	struct fx *f = *state;
	char why[256];
	char path[PATH_MAX + 32];
	struct lfs_info in1, in2;

	assert_ok(lfs_format(f->store, &f->fo, &in1, NULL));
	/* over a store */
	why[0] = 0;
	assert_rc(lfs_format(f->store, &f->fo, NULL, why), -EEXIST);
	assert_true(strlen(why) > 0);
	fx_mount(f);
	mk_file(f, LFS_ROOT_INO, "precious");
	fx_unmount(f);
	assert_rc(lfs_format(f->store, &f->fo, NULL, NULL), -EEXIST);
	fx_mount(f);
	assert_memory_equal(f->info.uuid, in1.uuid, 16);
	ino_of(f, LFS_ROOT_INO, "precious");
	fx_unmount(f);

	/* over a directory holding something else */
	snprintf(path, sizeof(path), "%s/other", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/other/notes.txt", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("keep me\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/other", f->dir);
	why[0] = 0;
	assert_rc(lfs_format(path, &f->fo, NULL, why), -ENOTEMPTY);
	assert_true(strlen(why) > 0);
	snprintf(path, sizeof(path), "%s/other/notes.txt", f->dir);
	struct stat hst;
	assert_int_equal(stat(path, &hst), 0);
	assert_int_equal(hst.st_size, 8);

	/* into an empty existing directory, and a missing one */
	snprintf(path, sizeof(path), "%s/empty", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_ok(lfs_format(path, &f->fo, NULL, NULL));
	snprintf(path, sizeof(path), "%s/fresh", f->dir);
	assert_ok(lfs_format(path, &f->fo, NULL, NULL));

	/* force: a new filesystem, the old one gone */
	f->fo.force = true;
	assert_ok(lfs_format(f->store, &f->fo, &in2, NULL));
	assert_true(memcmp(in1.uuid, in2.uuid, 16) != 0);
	fx_mount(f);
	assert_memory_equal(f->info.uuid, in2.uuid, 16);
	assert_rc(lookup_rc(f, LFS_ROOT_INO, "precious"), -ENOENT);
	struct dlist d;
	readdir_all(f, LFS_ROOT_INO, 16, &d);
	assert_int_equal(d.n, 3);                  /* ., .., lost+found */
	assert_true(dlist_find(&d, "lost+found") >= 0);
	free(d.e);
}

static void test_mount_refusals(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32];
	lfs *fs = NULL;

	/* a missing directory; an empty one */
	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_rc(lfs_mount(path, &f->mo, &fs), -ENOENT);
	struct stat hst;
	assert_int_equal(stat(path, &hst), -1);      /* not created */
	snprintf(path, sizeof(path), "%s/empty", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_rc(lfs_mount(path, &f->mo, &fs), -ENOENT);

	/* a larchkv store that was never formatted */
	snprintf(path, sizeof(path), "%s/plainkv", f->dir);
	struct lkv_options ko;
	lkv_options_default(&ko);
	ko.flags = LKV_CREATE;
	ko.flush_interval_ms = 0;
	lkv_store *s;
	assert_ok(lkv_open(path, &ko, &s));
	lkv_tree *t;
	assert_ok(lkv_tree_open(s, "something", &t));
	assert_ok(lkv_put(t, "k", 1, "v", 1, NULL));
	assert_ok(lkv_close(s));
	f->log[0] = 0;
	assert_rc(lfs_mount(path, &f->mo, &fs), -EMEDIUMTYPE);
	assert_true(strlen(f->log) > 0);          /* the reason is logged */
	f->mo.read_only = true;
	assert_rc(lfs_mount(path, &f->mo, &fs), -EMEDIUMTYPE);
	f->mo.read_only = false;

	/* mounted twice */
	assert_ok(lfs_format(f->store, &f->fo, NULL, NULL));
	fx_mount(f);
	assert_rc(lfs_mount(f->store, &f->mo, &fs), -EBUSY);
	f->mo.read_only = true;
	assert_rc(lfs_mount(f->store, &f->mo, &fs), -EBUSY);
	f->mo.read_only = false;
	/* and the first mount still works */
	mk_file(f, LFS_ROOT_INO, "still");
	fx_remount(f);
	ino_of(f, LFS_ROOT_INO, "still");
}

/* Deletes the superblock record through the engine, as fsck leaves it
 * after emptying the record's damaged leaf. */
static void drop_super_record(const char *store)
{
	struct lkv_options ko;
	lkv_store *s;
	lkv_tree *t;
	lkv_options_default(&ko);
	ko.flush_interval_ms = 0;
	assert_ok(lkv_open(store, &ko, &s));
	assert_ok(lkv_tree_open(s, "super", &t));
	assert_ok(lkv_delete(t, "sb", 2, NULL));
	assert_ok(lkv_close(s));
}

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/*
 * The superblock's copy (fs/super.c): made by mkfs, and by the first
 * writable mount of a store made without one; when the record is gone the
 * copy stands in (read-only) or rewrites it (writable), and inode numbers
 * handed out afterwards are above every one used before.
 */
static void test_super_copy(void **state)
{
	struct fx *f = *state;
	struct lfs_info before, after;
	assert_ok(lfs_format(f->store, &f->fo, &before, NULL));
	assert_true(file_exists(f->store, "META") && file_exists(f->store, "META.bak"));
	fx_mount(f);
	uint64_t last = 0;
	for (int i = 0; i < 3000; i++) {       /* a few reservations */
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		last = mk_file(f, LFS_ROOT_INO, name);
	}
	fx_unmount(f);

	drop_super_record(f->store);
	f->mo.read_only = true;
	f->log[0] = 0;
	fx_mount(f);
	assert_non_null(strstr(f->log, "the superblock record is missing; using its copy"));
	assert_memory_equal(f->info.uuid, before.uuid, 16);
	assert_true(f->info.next_ino > last);
	fx_unmount(f);
	f->mo.read_only = false;
	f->log[0] = 0;
	fx_mount(f);
	assert_non_null(strstr(f->log, "rewritten from its copy"));
	assert_true(mk_file(f, LFS_ROOT_INO, "after") > last);
	ino_of(f, LFS_ROOT_INO, "f2999");
	lfs_get_info(f->fs, &after);
	fx_unmount(f);
	f->log[0] = 0;
	fx_mount(f);                            /* the record is back */
	assert_null(strstr(f->log, "copy"));
	fx_unmount(f);

	char path[PATH_MAX + 32];               /* a store made before copies */
	snprintf(path, sizeof(path), "%s/META", f->store);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/META.bak", f->store);
	assert_int_equal(unlink(path), 0);
	fx_mount(f);
	assert_true(file_exists(f->store, "META") && file_exists(f->store, "META.bak"));
	fx_unmount(f);
	drop_super_record(f->store);
	fx_mount(f);
	assert_true(mk_file(f, LFS_ROOT_INO, "again") > after.next_ino - 1024);
}

/* The tree test_read_only and test_remount work on: d/x ("content", a
 * user.k xattr, times 1000), d/s -> x, d/empty, d/y (empty). */
struct ro_tree { uint64_t d, x, s, y; };

static struct ro_tree make_ro_tree(struct fx *f)
{
	struct ro_tree t;

	t.d = mk_dir(f, LFS_ROOT_INO, "d");
	t.x = mk_file(f, t.d, "x");
	write_at(f, t.x, "content", 7, 0);
	assert_ok(lfs_setxattr(f->fs, t.x, "user.k", "v", 1, 0));
	t.s = mk_symlink(f, t.d, "s", "x");
	mk_dir(f, t.d, "empty");
	t.y = mk_file(f, t.d, "y");
	set_times(f, t.x, 1000);
	return t;
}

/* Reads work, with no atime update; every change is refused with -EROFS;
 * fsync and sync succeed. */
static void assert_read_only(struct fx *f, const struct ro_tree *t)
{
	uint64_t d = t->d, x = t->x, y = t->y;
	struct stat st;
	uint8_t buf[64];

	assert_int_equal(ino_of(f, d, "x"), x);
	assert_content(f, x, (const uint8_t *)"content", 7);
	assert_rc(lfs_getxattr(f->fs, x, "user.k", buf, sizeof(buf)), 1);
	assert_rc(lfs_readlink(f->fs, t->s, (char *)buf, sizeof(buf)), 1);
	assert_rc(lfs_listxattr(f->fs, x, NULL, 0), 7);
	struct statvfs sv;
	assert_ok(lfs_statfs(f->fs, &sv));
	assert_true(sv.f_flag & ST_RDONLY);
	assert_ok(lfs_open(f->fs, &f->cred, x, O_RDONLY));
	assert_ok(lfs_opendir(f->fs, d));
	assert_rc(lfs_lseek(f->fs, x, 0, SEEK_DATA), 0);
	assert_ts_equal(st_get(f, x).st_atim, ts_make(1000, 0));

	struct stat a = { .st_mode = S_IFREG | 0600, .st_size = 1 };
	assert_rc(lfs_mknod(f->fs, &f->cred, d, "n", S_IFREG | 0644, 0, &st),
		  -EROFS);
	assert_rc(lfs_mkdir(f->fs, &f->cred, d, "n", 0755, &st), -EROFS);
	assert_rc(lfs_symlink(f->fs, &f->cred, "t", d, "n", &st), -EROFS);
	assert_rc(lfs_create(f->fs, &f->cred, d, "n", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st), -EROFS);
	assert_rc(lfs_link(f->fs, x, d, "n", &st), -EROFS);
	assert_rc(lfs_unlink(f->fs, d, "y"), -EROFS);
	assert_rc(lfs_rmdir(f->fs, d, "empty"), -EROFS);
	assert_rc(lfs_rename(f->fs, d, "y", d, "n", 0), -EROFS);
	assert_rc(lfs_rename(f->fs, d, "x", d, "y", LFS_RENAME_EXCHANGE),
		  -EROFS);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_WRONLY), -EROFS);
	assert_rc(lfs_open(f->fs, &f->cred, x, O_RDWR | O_TRUNC), -EROFS);
	assert_rc(lfs_write(f->fs, x, "z", 1, 0, 0), -EROFS);
	assert_rc(lfs_write(f->fs, x, "z", 1, 0, LFS_WRITE_APPEND), -EROFS);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &a, LFS_SET_MODE, NULL),
		  -EROFS);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &a, LFS_SET_SIZE, NULL),
		  -EROFS);
	assert_rc(lfs_setattr(f->fs, &f->cred, x, &a, LFS_SET_MTIME_NOW,
			      NULL), -EROFS);
	assert_rc(lfs_setxattr(f->fs, x, "user.k", "w", 1, 0), -EROFS);
	assert_rc(lfs_setxattr(f->fs, x, "user.new", "w", 1, 0), -EROFS);
	assert_rc(lfs_removexattr(f->fs, x, "user.k"), -EROFS);
	assert_rc(lfs_fallocate(f->fs, x, 0, 0, 100), -EROFS);
	assert_rc(lfs_fallocate(f->fs, x, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, 0, 2), -EROFS);
	assert_rc(lfs_copy_file_range(f->fs, x, 0, y, 0, 7), -EROFS);
	assert_ok(lfs_fsync(f->fs, x, false));
	assert_ok(lfs_sync(f->fs));
}

/* Nothing of the tree changed. */
static void assert_ro_tree(struct fx *f, const struct ro_tree *t)
{
	uint8_t buf[64];

	assert_content(f, t->x, (const uint8_t *)"content", 7);
	assert_content(f, t->y, (const uint8_t *)"", 0);
	assert_rc(lookup_rc(f, t->d, "n"), -ENOENT);
	assert_int_equal(ino_of(f, t->d, "empty") != 0, 1);
	struct stat st = st_get(f, t->x);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_ts_equal(st.st_mtim, ts_make(1000, 0));
	assert_rc(lfs_getxattr(f->fs, t->x, "user.k", buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'v');
}

static void test_read_only(void **state)
{
	struct fx *f = *state;
	struct ro_tree t = make_ro_tree(f);

	fx_unmount(f);
	f->mo.read_only = true;
	fx_mount(f);
	assert_read_only(f, &t);
	/* a store opened read-only cannot be remounted read-write */
	assert_rc(lfs_remount(f->fs, false), -EROFS);
	assert_ok(lfs_remount(f->fs, true));

	/* nothing changed, as a read-write mount sees it */
	fx_unmount(f);
	f->mo.read_only = false;
	fx_mount(f);
	assert_ro_tree(f, &t);
}

/*
 * lfs_remount: read-only as a read-only mount is, with the store's files
 * complete and left alone (a copy taken meanwhile mounts and holds all);
 * an unlinked file let go of meanwhile is reclaimed when it goes back to
 * read-write, and changes then go through.
 */
static void test_remount(void **state)
{
	struct fx *f = *state;
	struct ro_tree t = make_ro_tree(f);
	struct stat st;

	assert_ok(lfs_create(f->fs, &f->cred, LFS_ROOT_INO, "held", S_IFREG | 0644,
			     O_CREAT | O_RDWR, &st));
	uint64_t held = st.st_ino;
	write_at(f, held, "held", 4, 0);
	assert_ok(lfs_unlink(f->fs, LFS_ROOT_INO, "held"));
	assert_ok(lfs_remount(f->fs, true));
	assert_ok(lfs_remount(f->fs, true));
	assert_read_only(f, &t);
	lfs_forget(f->fs, held, 1);         /* cannot be reclaimed now */
	assert_int_equal(st_get(f, held).st_nlink, 0);

	char copy[PATH_MAX + 32], cmd[3 * PATH_MAX];
	snprintf(copy, sizeof(copy), "%s/copy", f->dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", f->store, copy);
	assert_int_equal(system(cmd), 0);
	lfs *c;
	struct lfs_mount_options mo = f->mo;
	mo.read_only = true;
	assert_ok(lfs_mount(copy, &mo, &c));
	uint8_t buf[8];
	assert_rc(lfs_read(c, t.x, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "content", 7);
	assert_ok(lfs_unmount(c));

	assert_ok(lfs_remount(f->fs, false));
	assert_rc(lfs_getattr(f->fs, held, &st), -ENOENT);
	mk_dir(f, t.d, "later");
	fx_unmount(f);
	fx_mount(f);
	assert_int_equal(ino_of(f, t.d, "later") != 0, 1);
	assert_rc(lookup_rc(f, t.d, "n"), -ENOENT);
	assert_content(f, t.x, (const uint8_t *)"content", 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_persist_tree,
						setup_noatime, fx_teardown),
		cmocka_unit_test_setup_teardown(test_persist_tree,
						setup_small_noatime,
						fx_teardown),
		fx_test(test_fsync_durable),
		fx_test_bare(test_format_info),
		fx_test_bare(test_format_refusals),
		fx_test_bare(test_mount_refusals),
		fx_test_bare(test_super_copy),
		fx_test(test_read_only),
		fx_test(test_remount),
	};
	return cmocka_run_group_tests_name("fs_persist", tests, NULL, NULL);
}
