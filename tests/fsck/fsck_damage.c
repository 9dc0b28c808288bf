/* SPDX-License-Identifier: MIT */
/*
 * fsck_damage: the tests' tool for building larchfs stores and damaging
 * them in precise ways (the scripts in tests/fsck).  It drives the filesystem core
 * (fs/internal.h) for content and structure, and reads the engine's
 * internals (kv/internal.h) only to find where on disk a live leaf, blob
 * or commit record lies.  Every command exits 0 on success, 1 on failure
 * (with a message), 2 on usage.
 *
 *   populate STORE SEED N MANIFEST   a random workload of about N operations
 *                                    (files of 0..300 KB so that some blocks
 *                                    are blobs, dirs, symlinks, hard links,
 *                                    renames, unlinks, truncates, xattrs),
 *                                    then MANIFEST lists what is there
 *   manifest STORE MANIFEST          lists what is there now
 *   verify STORE MANIFEST [-x PATH] [-h PATH:BLOCK] [-m OLD=NEW] [-i LO-HI]
 *                                    every manifest entry reads back exact,
 *                                    except paths -x skips (and what lies
 *                                    below them) and files whose inode
 *                                    number lies in [LO, HI) (-i); -h: that
 *                                    block must now be a hole (zeros); -m:
 *                                    look for paths under OLD under NEW
 *   many STORE N [SIZE]              N files of SIZE bytes (default 0), 1000
 *                                    per directory
 *   write STORE PATH SIZE SEED       a file of SIZE pseudo-random bytes
 *   mkdir STORE PATH                 a directory
 *   ino STORE PATH                   prints PATH's inode number
 *   flip-leaf STORE PATH [TREE]      flips a byte in the body of the live
 *                                    leaf of TREE (extents: default, inodes,
 *                                    dirents, super, orphans) that holds
 *                                    PATH's block 0, inode, or entry (super:
 *                                    the superblock record; orphans: the
 *                                    first leaf, PATH unused); prints the
 *                                    range of inode numbers its keys start
 *                                    with
 *   flip-blob STORE PATH BLOCK       flips a data byte of that block's blob
 *   cut-segment STORE PATH BLOCK     truncates the blob segment holding that
 *                                    block in the middle of its record
 *   crash-write STORE                writes, flushes twice, exits uncleanly
 *   flip-commit STORE                flips a byte in the body of the last
 *                                    but one commit record of the newest log
 *   drop-inode STORE PATH            deletes PATH's inode record
 *   set-nlink STORE PATH N           sets PATH's link count
 *   set-size STORE PATH N            sets PATH's size field (record only)
 *   unlink-entry STORE PATH          removes PATH's entry (and what its
 *                                    directory counts of it): unreferenced
 *   cycle STORE A B                  /A and /A/B (directories) become a
 *                                    cycle that the root does not reach
 *   add-orphan STORE PATH            records PATH's inode as an orphan (and
 *                                    flushes once more: the record is not
 *                                    in the last flush)
 *   orphan-open STORE PATH           unlinks PATH while holding a reference,
 *                                    syncs and exits uncleanly
 *   bad-record STORE PATH            replaces PATH's inode record with junk
 *   put-block STORE PATH BLOCK LEN   stores LEN bytes as block BLOCK of PATH
 *                                    (size and stored left alone)
 *   bad-patch STORE PATH BLOCK       gives that block sub-block writes that
 *                                    reach past the block's end
 *   bad-type STORE PATH              gives PATH's entry a wrong file type
 *   bad-hash STORE PATH              moves PATH's entry under a wrong hash
 *   raw-xattr STORE PATH NAME VALUE  stores an xattr without any check
 *   low-next-ino STORE               the superblock's next_ino drops to 1040
 *   hold STORE SECONDS               keeps the store mounted read-write
 *   records STORE MANIFEST           where records lie, one "FILE OFFSET
 *                                    KIND [live]" line each: every record
 *                                    of the log and snapshot files (leaf,
 *                                    delta, commit, snapshot; a leaf image
 *                                    or a delta of a chain the table
 *                                    points to is live) and the blob
 *                                    record of every blob block of the
 *                                    manifest's files (blob live)
 *   scribble STORE FILE OFF LEN SEED overwrites LEN bytes of store file
 *                                    FILE from OFF with pseudo-random bytes
 *                                    from SEED, clipped to the file's end
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fs/internal.h"
#include "../../kv/internal.h"
#include "../support/testrng.h"

#define MAX_PATH 4096

static const struct lfs_cred root_cred = { .uid = 0, .gid = 0, .umask = 022 };

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fsck_damage: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void ok(int err, const char *what)
{
	if (err < 0)
		die("%s: %s", what, strerror(-err));
}

static lfs *mount_fs(const char *store, bool ro)
{
	struct lfs_mount_options o;
	lfs_mount_options_default(&o);
	o.read_only = ro;
	lfs *fs;
	ok(lfs_mount(store, &o, &fs), store);
	return fs;
}

/* ---- paths ---- */

/* Resolves PATH to (parent, last name, ino); -errno when missing. */
static int resolve(lfs *fs, const char *path, uint64_t *parent, char *last, uint64_t *ino)
{
	char buf[MAX_PATH];
	snprintf(buf, sizeof(buf), "%s", path);
	uint64_t cur = LFS_ROOT_INO, up = LFS_ROOT_INO;
	char *save = NULL;
	if (last)
		last[0] = 0;
	for (char *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		struct dirent_val d;
		int err = dirent_get(fs, cur, p, &d);
		if (err)
			return err;
		up = cur;
		cur = d.ino;
		if (last)
			snprintf(last, LFS_NAME_MAX + 1, "%s", p);
	}
	if (parent)
		*parent = up;
	*ino = cur;
	return 0;
}

static uint64_t ino_of(lfs *fs, const char *path)
{
	uint64_t ino;
	ok(resolve(fs, path, NULL, NULL, &ino), path);
	return ino;
}

/* ---- content ---- */

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next(&s);
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

static void write_file(lfs *fs, uint64_t ino, size_t size, uint64_t seed, off_t off)
{
	uint8_t *p = malloc(size ? size : 1);
	fill(p, size, seed);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < (1u << 20) ? size - done : (1u << 20);
		ssize_t w = lfs_write(fs, ino, p + done, n, off + (off_t)done, 0);
		if (w < 0)
			ok((int)w, "write");
		done += (size_t)w;
	}
	free(p);
}

static int make_file(lfs *fs, uint64_t dir, const char *name, size_t size, uint64_t seed,
		     uint64_t *ino)
{
	struct stat st;
	int err = lfs_create(fs, &root_cred, dir, name, 0644, O_EXCL, &st);
	if (err)
		return err;
	lfs_forget(fs, st.st_ino, 1);
	write_file(fs, st.st_ino, size, seed, 0);
	if (ino)
		*ino = st.st_ino;
	return 0;
}

/* ---- populate: a random workload ---- */

struct pop {
	lfs *fs;
	uint64_t rng;
	uint64_t dirs[256];
	size_t ndirs;
	uint64_t files[4096];     /* may be stale: operations tolerate that */
	size_t nfiles;
	unsigned seq;
};

static void pick_name(struct pop *p, char *name)
{
	snprintf(name, 32, "n%u", p->seq++);
}

static uint64_t any_dir(struct pop *p)
{
	return p->dirs[rng_below(&p->rng, p->ndirs)];
}

/* Finds an existing entry of a random directory: 0 when it has none. */
struct first_arg { char name[LFS_NAME_MAX + 1]; uint64_t ino; unsigned type; unsigned skip; };

static int first_cb(void *arg, const char *name, size_t len, uint64_t ino, unsigned type,
		    off_t next, bool group_start)
{
	struct first_arg *a = arg;
	(void)next;
	(void)group_start;
	if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "lost+found"))
		return 0;
	memcpy(a->name, name, len);
	a->name[len] = 0;
	a->ino = ino;
	a->type = type;
	return a->skip-- ? 0 : 1;
}

static bool any_entry(struct pop *p, uint64_t *dir, struct first_arg *a)
{
	*dir = any_dir(p);
	a->ino = 0;
	a->skip = (unsigned)rng_below(&p->rng, 8);
	lfs_readdir(p->fs, *dir, 0, first_cb, a);
	return a->ino != 0;
}

static void pop_step(struct pop *p)
{
	char name[32];
	struct stat st;
	uint64_t dir, ino;
	struct first_arg a;
	unsigned op = (unsigned)rng_below(&p->rng, 100);
	pick_name(p, name);
	if (op < 40) {
		size_t size = rng_chance(&p->rng, 1, 4) ? (size_t)rng_below(&p->rng, 300000)
							: (size_t)rng_below(&p->rng, 5000);
		if (!make_file(p->fs, any_dir(p), name, size, rng_next(&p->rng), &ino) &&
		    p->nfiles < 4096)
			p->files[p->nfiles++] = ino;
	} else if (op < 50 && p->ndirs < 256) {
		if (!lfs_mkdir(p->fs, &root_cred, any_dir(p), name, 0755, &st)) {
			lfs_forget(p->fs, st.st_ino, 1);
			p->dirs[p->ndirs++] = st.st_ino;
		}
	} else if (op < 55) {
		char target[64];
		snprintf(target, sizeof(target), "target-%u", (unsigned)rng_below(&p->rng, 1000));
		if (!lfs_symlink(p->fs, &root_cred, target, any_dir(p), name, &st))
			lfs_forget(p->fs, st.st_ino, 1);
	} else if (op < 62 && p->nfiles) {
		ino = p->files[rng_below(&p->rng, p->nfiles)];
		if (!lfs_link(p->fs, ino, any_dir(p), name, &st))
			lfs_forget(p->fs, ino, 1);
	} else if (op < 72) {
		if (any_entry(p, &dir, &a))
			lfs_rename(p->fs, dir, a.name, any_dir(p), name, 0);
	} else if (op < 82) {
		if (any_entry(p, &dir, &a) && a.type != DT_DIR)
			lfs_unlink(p->fs, dir, a.name);
	} else if (op < 88 && p->nfiles) {
		ino = p->files[rng_below(&p->rng, p->nfiles)];
		struct stat s = { .st_size = (off_t)rng_below(&p->rng, 200000) };
		lfs_setattr(p->fs, &root_cred, ino, &s, LFS_SET_SIZE, NULL);
	} else if (op < 94 && p->nfiles) {
		ino = p->files[rng_below(&p->rng, p->nfiles)];
		size_t n = (size_t)rng_below(&p->rng, rng_chance(&p->rng, 1, 2) ? 100000 : 8192);
		uint8_t *b = malloc(n + 1);
		fill(b, n, rng_next(&p->rng));
		lfs_write(p->fs, ino, b, n, (off_t)rng_below(&p->rng, 200000), 0);
		free(b);
	} else if (op < 97 && p->nfiles) {
		ino = p->files[rng_below(&p->rng, p->nfiles)];
		char v[64];
		snprintf(v, sizeof(v), "value-%u", p->seq);
		lfs_setxattr(p->fs, ino, "user.test", v, strlen(v), 0);
	} else if (p->nfiles) {
		/* an ACL with a named user (so it is stored), on a file or a dir */
		static const uint16_t ents[][2] = { { 0x01, 6 }, { 0x02, 4 }, { 0x04, 4 },
						    { 0x10, 4 }, { 0x20, 4 } };
		uint8_t acl[4 + 5 * 8] = { 2, 0, 0, 0 };
		for (int i = 0; i < 5; i++) {
			uint8_t *e = acl + 4 + 8 * i;
			e[0] = (uint8_t)ents[i][0];
			e[1] = 0;
			e[2] = (uint8_t)ents[i][1];
			e[3] = 0;
			le32_put(e + 4, ents[i][0] == 0x02 ? 1000 : 0);
		}
		bool dir = rng_chance(&p->rng, 1, 2) && p->ndirs > 1;
		ino = dir ? p->dirs[1 + rng_below(&p->rng, p->ndirs - 1)]
			  : p->files[rng_below(&p->rng, p->nfiles)];
		lfs_setxattr(p->fs, ino, dir ? "system.posix_acl_default"
					     : "system.posix_acl_access", acl, sizeof(acl), 0);
	}
}

/* ---- the manifest ---- */

#define MBLOCK (64u << 10)        /* per-block hashes: the default block size */

struct list_arg { char (*names)[LFS_NAME_MAX + 1]; uint64_t *inos; unsigned *types;
		  size_t n, cap; };

static int list_cb(void *arg, const char *name, size_t len, uint64_t ino, unsigned type,
		   off_t next, bool group_start)
{
	struct list_arg *l = arg;
	(void)next;
	(void)group_start;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->names = realloc(l->names, l->cap * sizeof(*l->names));
		l->inos = realloc(l->inos, l->cap * sizeof(*l->inos));
		l->types = realloc(l->types, l->cap * sizeof(*l->types));
	}
	memcpy(l->names[l->n], name, len);
	l->names[l->n][len] = 0;
	l->inos[l->n] = ino;
	l->types[l->n++] = type;
	return 0;
}

static void list_dir(lfs *fs, uint64_t dir, struct list_arg *l)
{
	memset(l, 0, sizeof(*l));
	ok(lfs_readdir(fs, dir, 0, list_cb, l), "readdir");
}

static uint8_t *read_all(lfs *fs, uint64_t ino, size_t *size)
{
	struct stat st;
	ok(lfs_getattr(fs, ino, &st), "getattr");
	*size = (size_t)st.st_size;
	uint8_t *p = malloc(*size + 1);
	for (size_t done = 0; done < *size;) {
		ssize_t n = lfs_read(fs, ino, p + done, *size - done, (off_t)done);
		if (n <= 0)
			die("inode %" PRIu64 ": read at %zu: %s", ino, done,
			    n ? strerror((int)-n) : "EOF");
		done += (size_t)n;
	}
	return p;
}

static void manifest_dir(lfs *fs, uint64_t dir, const char *path, FILE *out)
{
	struct list_arg l;
	list_dir(fs, dir, &l);
	for (size_t i = 0; i < l.n; i++) {
		char sub[MAX_PATH];
		snprintf(sub, sizeof(sub), "%s/%s", path, l.names[i]);
		if (l.types[i] == DT_DIR) {
			fprintf(out, "d %s\n", sub);
			manifest_dir(fs, l.inos[i], sub, out);
		} else if (l.types[i] == DT_LNK) {
			char t[LFS_SYMLINK_MAX + 1];
			ssize_t n = lfs_readlink(fs, l.inos[i], t, sizeof(t) - 1);
			ok((int)n, "readlink");
			t[n] = 0;
			fprintf(out, "l %s %s\n", t, sub);
		} else {
			size_t size;
			uint8_t *p = read_all(fs, l.inos[i], &size);
			size_t nb = (size + MBLOCK - 1) / MBLOCK;
			fprintf(out, "f %zu %zu", size, nb);
			for (size_t b = 0; b < nb; b++) {
				size_t n = size - b * MBLOCK < MBLOCK ? size - b * MBLOCK : MBLOCK;
				fprintf(out, " %016" PRIx64, lkv_checksum(p + b * MBLOCK, n));
			}
			fprintf(out, " %s\n", sub);
			free(p);
		}
	}
	free(l.names);
	free(l.inos);
	free(l.types);
}

static int cmd_populate(const char *store, uint64_t seed, unsigned n, const char *manifest)
{
	struct pop p = { .fs = mount_fs(store, false), .rng = seed };
	p.dirs[p.ndirs++] = LFS_ROOT_INO;
	for (unsigned i = 0; i < n; i++)
		pop_step(&p);
	FILE *out = fopen(manifest, "w");
	if (!out)
		die("%s: %s", manifest, strerror(errno));
	manifest_dir(p.fs, LFS_ROOT_INO, "", out);
	fclose(out);
	ok(lfs_unmount(p.fs), "unmount");
	return 0;
}

/* ---- verify ---- */

struct vopts {
	const char *skip[16];
	size_t nskip;
	struct { char path[MAX_PATH]; uint64_t block; } hole[16];
	size_t nhole;
	struct { char from[MAX_PATH], to[MAX_PATH]; } map[16];
	size_t nmap;
	uint64_t ino_lo, ino_hi;      /* files to skip: [lo, hi) */
};

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

static void mapped(const struct vopts *o, const char *path, char *out)
{
	for (size_t i = 0; i < o->nmap; i++)
		if (under(path, o->map[i].from)) {
			snprintf(out, MAX_PATH, "%s%s", o->map[i].to, path + strlen(o->map[i].from));
			return;
		}
	snprintf(out, MAX_PATH, "%s", path);
}

static bool is_hole(const struct vopts *o, const char *path, uint64_t block)
{
	for (size_t i = 0; i < o->nhole; i++)
		if (o->hole[i].block == block && !strcmp(o->hole[i].path, path))
			return true;
	return false;
}

static int verify_file(lfs *fs, const struct vopts *o, char *line, const char *path,
		       const char *where)
{
	size_t size, nb, got;
	int off = 0;
	if (sscanf(line, "f %zu %zu %n", &size, &nb, &off) != 2)
		die("bad manifest line: %s", line);
	uint64_t ino;
	if (resolve(fs, where, NULL, NULL, &ino)) {
		fprintf(stderr, "MISSING %s\n", where);
		return 1;
	}
	if (ino >= o->ino_lo && ino < o->ino_hi)
		return 0;       /* its data was in the damaged range */
	uint8_t *p = read_all(fs, ino, &got);
	int bad = 0;
	if (got != size) {
		fprintf(stderr, "SIZE %s: %zu, want %zu\n", where, got, size);
		bad = 1;
	}
	char *h = line + off;
	for (size_t b = 0; b < nb && !bad; b++) {
		uint64_t want = strtoull(h, &h, 16);
		size_t n = size - b * MBLOCK < MBLOCK ? size - b * MBLOCK : MBLOCK;
		if (is_hole(o, path, b)) {
			for (size_t i = 0; i < n && !bad; i++)
				if (p[b * MBLOCK + i]) {
					fprintf(stderr, "NOT A HOLE %s block %zu\n", where, b);
					bad = 1;
				}
		} else if (lkv_checksum(p + b * MBLOCK, n) != want) {
			fprintf(stderr, "DATA %s block %zu differs\n", where, b);
			bad = 1;
		}
	}
	free(p);
	return bad;
}

static int cmd_verify(const char *store, const char *manifest, int argc, char **argv)
{
	struct vopts o = { 0 };
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-x") && i + 1 < argc && o.nskip < 16) {
			o.skip[o.nskip++] = argv[++i];
		} else if (!strcmp(argv[i], "-h") && i + 1 < argc && o.nhole < 16) {
			char *c = strrchr(argv[++i], ':');
			if (!c)
				die("-h PATH:BLOCK");
			snprintf(o.hole[o.nhole].path, MAX_PATH, "%.*s", (int)(c - argv[i]), argv[i]);
			o.hole[o.nhole++].block = strtoull(c + 1, NULL, 10);
		} else if (!strcmp(argv[i], "-m") && i + 1 < argc && o.nmap < 16) {
			char *e = strchr(argv[++i], '=');
			if (!e)
				die("-m OLD=NEW");
			snprintf(o.map[o.nmap].from, MAX_PATH, "%.*s", (int)(e - argv[i]), argv[i]);
			snprintf(o.map[o.nmap++].to, MAX_PATH, "%s", e + 1);
		} else if (!strcmp(argv[i], "-i") && i + 1 < argc) {
			char *e;
			o.ino_lo = strtoull(argv[++i], &e, 10);
			o.ino_hi = strtoull(e + (*e == '-'), NULL, 10);
		} else {
			die("verify: bad option %s", argv[i]);
		}
	}
	lfs *fs = mount_fs(store, true);
	FILE *in = fopen(manifest, "r");
	if (!in)
		die("%s: %s", manifest, strerror(errno));
	char line[65536];
	unsigned checked = 0, bad = 0;
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = 0;
		char *path = strrchr(line, ' ') + 1, where[MAX_PATH];
		bool skip = false;
		for (size_t i = 0; i < o.nskip; i++)
			skip |= under(path, o.skip[i]);
		if (skip)
			continue;
		mapped(&o, path, where);
		uint64_t ino;
		checked++;
		if (line[0] == 'f') {
			bad += verify_file(fs, &o, line, path, where);
		} else if (resolve(fs, where, NULL, NULL, &ino)) {
			fprintf(stderr, "MISSING %s\n", where);
			bad++;
		} else if (line[0] == 'l') {
			char t[LFS_SYMLINK_MAX + 1], want[LFS_SYMLINK_MAX + 1];
			ssize_t n = lfs_readlink(fs, ino, t, sizeof(t) - 1);
			sscanf(line, "l %4095s", want);
			if (n < 0 || (t[n] = 0, strcmp(t, want))) {
				fprintf(stderr, "SYMLINK %s\n", where);
				bad++;
			}
		}
	}
	fclose(in);
	lfs_unmount(fs);
	printf("verified %u entries, %u bad\n", checked, bad);
	return bad ? 1 : 0;
}

/* ---- many ---- */

static int cmd_many(const char *store, unsigned long n, size_t size)
{
	lfs *fs = mount_fs(store, false);
	uint64_t dir = 0;
	char name[32];
	for (unsigned long i = 0; i < n; i++) {
		struct stat st;
		if (i % 1000 == 0) {
			snprintf(name, sizeof(name), "d%lu", i / 1000);
			ok(lfs_mkdir(fs, &root_cred, LFS_ROOT_INO, name, 0755, &st), "mkdir");
			lfs_forget(fs, st.st_ino, 1);
			dir = st.st_ino;
		}
		snprintf(name, sizeof(name), "f%lu", i);
		ok(lfs_mknod(fs, &root_cred, dir, name, S_IFREG | 0644, 0, &st), "mknod");
		lfs_forget(fs, st.st_ino, 1);
		if (size)
			write_file(fs, st.st_ino, size, i, 0);
	}
	ok(lfs_unmount(fs), "unmount");
	return 0;
}

/* ---- damage through the engine's internals ---- */

static void flip_at(const char *store, const char *file, uint64_t off)
{
	char path[MAX_PATH];
	snprintf(path, sizeof(path), "%s/%s", store, file);
	int fd = open(path, O_RDWR);
	uint8_t b;
	if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1)
		die("%s: cannot read offset %" PRIu64, path, off);
	b ^= 0x5a;
	if (pwrite(fd, &b, 1, (off_t)off) != 1 || fsync(fd))
		die("%s: cannot write", path);
	close(fd);
	printf("flipped %s offset %" PRIu64 "\n", file, off);
}

static int cmd_flip_leaf(const char *store, const char *path, const char *tree)
{
	lfs *fs = mount_fs(store, true);
	uint8_t k[DIRENT_KEY_MAX];
	size_t kl = EXTENT_KEY_LEN;
	uint64_t parent, ino;
	char name[LFS_NAME_MAX + 1];
	ok(resolve(fs, path, &parent, name, &ino), path);
	struct lkv_tree *t = fs->t_extents;
	extent_key(k, ino, 0);
	if (!strcmp(tree, "inodes")) {
		t = fs->t_inodes;
		kl = INO_KEY_LEN;
	} else if (!strcmp(tree, "dirents")) {
		t = fs->t_dirents;
		kl = dirent_key(k, parent, name);
	} else if (!strcmp(tree, "super")) {
		t = fs->t_super;
		kl = SB_KEY_LEN;
		memcpy(k, SB_KEY, kl);
	} else if (!strcmp(tree, "orphans")) {
		t = fs->t_orphans;       /* its first leaf; PATH is not used */
		kl = INO_KEY_LEN;
		ino_key(k, 0);
	} else if (strcmp(tree, "extents")) {
		die("flip-leaf: no tree %s", tree);
	}
	size_t i = tree_find(t, k, kl);
	struct leaf *l = t->v[i];
	struct leaf_loc loc = l->loc;
	uint64_t lo = l->low_len >= 8 ? get_be64(l->low) : 0;
	uint64_t hi = i + 1 < t->n && t->v[i + 1]->low_len >= 8 ? get_be64(t->v[i + 1]->low)
								   : UINT64_MAX;
	if (loc.file == 0)
		die("the leaf was never written");
	char file[32];
	file_name(file, FILE_LOG, loc.file);
	lfs_unmount(fs);
	flip_at(store, file, loc.off + REC_HDR + (loc.len - REC_HDR) / 2);
	printf("range %" PRIu64 " %" PRIu64 "\n", lo, hi);
	return 0;
}

static struct blob_ref blob_of(lfs *fs, const char *path, uint64_t block)
{
	uint8_t k[16], v[64], flags;
	size_t vl;
	extent_key(k, ino_of(fs, path), block);
	ok(tree_get_raw(fs->t_extents, k, 16, &flags, v, sizeof(v), &vl), "get raw");
	struct blob_ref r;
	if (!(flags & ENT_BLOB) || blob_ref_decode(v, vl, &r))
		die("%s block %" PRIu64 " is not a blob", path, block);
	return r;
}

static int cmd_flip_blob(const char *store, const char *path, uint64_t block)
{
	lfs *fs = mount_fs(store, true);
	struct blob_ref r = blob_of(fs, path, block);
	lfs_unmount(fs);
	char name[32];
	file_name(name, FILE_BLOB, r.seg);
	flip_at(store, name, r.off + r.len - 100);
	return 0;
}

static int cmd_cut_segment(const char *store, const char *path, uint64_t block)
{
	lfs *fs = mount_fs(store, true);
	struct blob_ref r = blob_of(fs, path, block);
	lfs_unmount(fs);
	char name[32], file[MAX_PATH];
	file_name(name, FILE_BLOB, r.seg);
	snprintf(file, sizeof(file), "%s/%s", store, name);
	if (truncate(file, (off_t)(r.off + r.len / 2)))
		die("%s: %s", file, strerror(errno));
	printf("cut %s at %" PRIu64 "\n", name, r.off + r.len / 2);
	return 0;
}

static int cmd_crash_write(const char *store)
{
	lfs *fs = mount_fs(store, false);
	for (int round = 0; round < 3; round++) {
		char name[32];
		snprintf(name, sizeof(name), "crash%d", round);
		ok(make_file(fs, LFS_ROOT_INO, name, 1000, (uint64_t)round, NULL), "create");
		ok(lfs_sync(fs), "sync");
	}
	fflush(stdout);
	_exit(0);       /* no unmount: the commits stay in the log, unsnapshotted */
}

/* Calls fn(arg, offset, header) for each record of a log or snapshot
 * file: the run of valid headers from offset 0 (what follows the last is
 * zeros or a torn tail). */
static void for_each_record(const char *path, void (*fn)(void *, uint64_t, const struct rec_hdr *),
			    void *arg)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	uint8_t h[REC_HDR];
	struct rec_hdr rh;
	for (uint64_t off = 0; pread(fd, h, REC_HDR, (off_t)off) == REC_HDR &&
			       !record_parse_header(h, &rh); off += REC_HDR + rh.stored_len)
		fn(arg, off, &rh);
	close(fd);
}

struct commits { uint64_t off[1024]; uint32_t len[1024]; size_t n; };

static void note_commit(void *arg, uint64_t off, const struct rec_hdr *h)
{
	struct commits *c = arg;
	if (h->type == REC_COMMIT && c->n < 1024) {
		c->off[c->n] = off;
		c->len[c->n++] = h->stored_len;
	}
}

/* Flips a byte in the last but one commit record of the newest log file. */
static int cmd_flip_commit(const char *store)
{
	DIR *d = opendir(store);
	struct dirent *e;
	char newest[64] = "";
	while (d && (e = readdir(d)))
		if (strlen(e->d_name) == 12 && !strcmp(e->d_name + 8, ".log") &&
		    strcmp(e->d_name, newest) > 0)
			snprintf(newest, sizeof(newest), "%s", e->d_name);
	if (d)
		closedir(d);
	if (!newest[0])
		die("no log file");
	char path[MAX_PATH];
	snprintf(path, sizeof(path), "%s/%s", store, newest);
	struct commits c = { .n = 0 };
	for_each_record(path, note_commit, &c);
	if (c.n < 2)
		die("%s: %zu commit records; need two", newest, c.n);
	flip_at(store, newest, c.off[c.n - 2] + REC_HDR + c.len[c.n - 2] / 2);
	return 0;
}

/* ---- records: where the damage sweep aims ---- */

struct live_leaves { struct leaf_loc *v; size_t n, cap; };

static void live_add(struct live_leaves *ll, struct leaf_loc loc)
{
	if (ll->n == ll->cap) {
		ll->cap = ll->cap ? 2 * ll->cap : 256;
		ll->v = realloc(ll->v, ll->cap * sizeof(*ll->v));
	}
	ll->v[ll->n++] = loc;
}

/* The locations of the records the trees' leaves are made of now: each
 * leaf's base image and the deltas of its chain. */
static void collect_live_leaves(lfs *fs, struct live_leaves *ll)
{
	lkv_tree *trees[] = { fs->t_super, fs->t_inodes, fs->t_dirents, fs->t_extents,
			      fs->t_xattrs, fs->t_orphans };
	for (size_t t = 0; t < sizeof(trees) / sizeof(trees[0]); t++)
		for (size_t i = 0; i < trees[t]->n; i++) {
			const struct leaf *l = trees[t]->v[i];
			if (!l->loc.file)
				continue;
			live_add(ll, l->loc);
			for (uint32_t j = 0; j < l->nchain; j++)
				live_add(ll, l->chain[j]);
		}
}

struct record_walk { const char *name; uint32_t log; const struct live_leaves *ll; };

static void print_record(void *arg, uint64_t off, const struct rec_hdr *h)
{
	static const char *kind[] = { [REC_LEAF] = "leaf", [REC_COMMIT] = "commit",
				      [REC_SNAPSHOT] = "snapshot", [REC_DELTA] = "delta",
				      [REC_SNAPDELTA] = "snapdelta" };
	const struct record_walk *w = arg;
	bool live = false;
	bool leafy = h->type == REC_LEAF || h->type == REC_DELTA;
	for (size_t i = 0; leafy && i < w->ll->n && !live; i++)
		live = w->ll->v[i].file == w->log && w->ll->v[i].off == off;
	const char *k = h->type < sizeof(kind) / sizeof(kind[0]) ? kind[h->type] : NULL;
	printf("%s %" PRIu64 " %s%s\n", w->name, off, k ? k : "unknown", live ? " live" : "");
}

/* Prints every record of the store's log and snapshot files. */
static void print_log_records(const char *store, const struct live_leaves *ll)
{
	DIR *d = opendir(store);
	struct dirent *e;
	if (!d)
		die("%s: %s", store, strerror(errno));
	while ((e = readdir(d))) {
		struct file_id id;
		bool tmp;
		if (!file_parse(e->d_name, &id, &tmp) || tmp ||
		    (id.kind != FILE_LOG && id.kind != FILE_SNAP))
			continue;
		char path[MAX_PATH];
		snprintf(path, sizeof(path), "%s/%s", store, e->d_name);
		struct record_walk w = { e->d_name, id.kind == FILE_LOG ? (uint32_t)id.no : 0, ll };
		for_each_record(path, print_record, &w);
	}
	closedir(d);
}

/* Prints the blob record of every blob block of the manifest's files. */
static void print_blob_records(lfs *fs, const char *manifest)
{
	FILE *in = fopen(manifest, "r");
	if (!in)
		die("%s: %s", manifest, strerror(errno));
	char line[65536];
	while (fgets(line, sizeof(line), in)) {
		size_t size, nb;
		uint64_t ino = 0;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "f %zu %zu", &size, &nb) != 2)
			continue;
		ok(resolve(fs, strrchr(line, ' ') + 1, NULL, NULL, &ino), line);
		for (uint64_t b = 0; b < nb; b++) {
			uint8_t k[16], v[64], flags;
			size_t vl;
			struct blob_ref r;
			char name[FILE_NAME_MAX];
			extent_key(k, ino, b);
			if (tree_get_raw(fs->t_extents, k, 16, &flags, v, sizeof(v), &vl) ||
			    !(flags & ENT_BLOB) || blob_ref_decode(v, vl, &r))
				continue;
			file_name(name, FILE_BLOB, r.seg);
			printf("%s %" PRIu64 " blob live\n", name, r.off);
		}
	}
	fclose(in);
}

static int cmd_records(const char *store, const char *manifest)
{
	lfs *fs = mount_fs(store, true);
	struct live_leaves ll = { 0 };
	collect_live_leaves(fs, &ll);
	print_log_records(store, &ll);
	print_blob_records(fs, manifest);
	free(ll.v);
	lfs_unmount(fs);
	return 0;
}

static int cmd_scribble(const char *store, const char *file, uint64_t off, size_t len,
			uint64_t seed)
{
	char path[MAX_PATH];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", store, file);
	int fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", path, strerror(errno));
	size_t n = off >= (uint64_t)st.st_size ? 0 : (uint64_t)st.st_size - off < len
						   ? (size_t)((uint64_t)st.st_size - off) : len;
	uint8_t *p = malloc(n + 1);
	fill(p, n, seed);
	if (pwrite(fd, p, n, (off_t)off) != (ssize_t)n || fsync(fd))
		die("%s: cannot write", path);
	close(fd);
	free(p);
	printf("scribbled %s bytes %" PRIu64 "..%" PRIu64 "\n", file, off, off + n);
	return 0;
}

/* ---- structural damage through the core ---- */

static lkv_batch *batch(lfs *fs)
{
	lkv_batch *b = lkv_batch_new(fs->s);
	if (!b)
		die("no memory");
	return b;
}

static void commit(lfs *fs, lkv_batch *b)
{
	ok(lkv_batch_commit(b, NULL), "commit");
	lkv_batch_free(b);
	ok(lfs_unmount(fs), "unmount");
}

static int cmd_drop_inode(const char *store, const char *path)
{
	lfs *fs = mount_fs(store, false);
	uint8_t k[8];
	uint64_t ino = ino_of(fs, path);
	be64_put(k, ino);
	lkv_batch *b = batch(fs);
	ok(lkv_batch_delete(b, fs->t_inodes, k, 8), "delete");
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_set_field(const char *store, const char *path, bool nlink, uint64_t v)
{
	lfs *fs = mount_fs(store, false);
	struct inode in;
	uint64_t ino = ino_of(fs, path);
	ok(inode_get(fs, ino, &in), "inode_get");
	if (nlink)
		in.nlink = (uint32_t)v;
	else
		in.size = v;
	lkv_batch *b = batch(fs);
	ok(inode_put(fs, b, &in), "inode_put");
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_unlink_entry(const char *store, const char *path)
{
	lfs *fs = mount_fs(store, false);
	uint64_t parent, ino;
	char name[LFS_NAME_MAX + 1];
	ok(resolve(fs, path, &parent, name, &ino), path);
	struct inode dir, in;
	ok(inode_get(fs, parent, &dir), "parent");
	ok(inode_get(fs, ino, &in), "inode");
	lkv_batch *b = batch(fs);
	ok(dirent_del(fs, b, parent, name), "dirent_del");
	dir.size--;
	dir.nlink -= S_ISDIR(in.mode) ? 1 : 0;
	ok(inode_put(fs, b, &dir), "inode_put");
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_cycle(const char *store, const char *a, const char *bname)
{
	lfs *fs = mount_fs(store, false);
	char pa[MAX_PATH], pb[MAX_PATH];
	snprintf(pa, sizeof(pa), "/%s", a);
	snprintf(pb, sizeof(pb), "/%s/%s", a, bname);
	uint64_t ia = ino_of(fs, pa), ib = ino_of(fs, pb);
	struct inode root, A, B;
	ok(inode_get(fs, LFS_ROOT_INO, &root), "root");
	ok(inode_get(fs, ia, &A), "A");
	ok(inode_get(fs, ib, &B), "B");
	lkv_batch *b = batch(fs);
	struct dirent_val d = { .ino = ia, .type = DT_DIR };
	ok(dirent_del(fs, b, LFS_ROOT_INO, a), "del");
	ok(dirent_put(fs, b, ib, a, &d), "put");
	root.size--;
	root.nlink--;
	B.size++;
	B.nlink++;
	A.parent = ib;
	ok(inode_put(fs, b, &root), "put root");
	ok(inode_put(fs, b, &A), "put A");
	ok(inode_put(fs, b, &B), "put B");
	printf("ino %" PRIu64 " %" PRIu64 "\n", ia, ib);
	commit(fs, b);
	return 0;
}

static int cmd_orphan_open(const char *store, const char *path)
{
	lfs *fs = mount_fs(store, false);
	uint64_t parent, ino;
	char name[LFS_NAME_MAX + 1];
	ok(resolve(fs, path, &parent, name, &ino), path);
	lfs_ref(fs, ino, 1);             /* "open" */
	ok(lfs_unlink(fs, parent, name), "unlink");
	ok(lfs_sync(fs), "sync");
	printf("ino %" PRIu64 "\n", ino);
	fflush(stdout);
	_exit(0);
}

static int cmd_add_orphan(const char *store, const char *path)
{
	lfs *fs = mount_fs(store, false);
	uint64_t ino = ino_of(fs, path);
	lkv_batch *b = batch(fs);
	ok(orphan_add(fs, b, ino), "orphan_add");
	printf("ino %" PRIu64 "\n", ino);
	ok(lkv_batch_commit(b, NULL), "commit");
	lkv_batch_free(b);
	ok(lfs_sync(fs), "sync");
	/* one more flush (the same superblock again), so that the orphan's
	 * is not the last: damage to the last flush reads as a torn one */
	struct lfs_info info;
	lfs_get_info(fs, &info);
	ok(sb_put(fs->t_super, &info), "superblock");
	ok(lfs_sync(fs), "sync");
	fflush(stdout);
	_exit(0);       /* an unmount would reclaim it */
}

static int cmd_mkdir(const char *store, const char *path)
{
	lfs *fs = mount_fs(store, false);
	char dir[MAX_PATH];
	uint64_t parent;
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	ok(resolve(fs, dir, NULL, NULL, &parent), dir);
	struct stat st;
	ok(lfs_mkdir(fs, &root_cred, parent, strrchr(path, '/') + 1, 0755, &st), "mkdir");
	lfs_forget(fs, st.st_ino, 1);
	printf("ino %" PRIu64 "\n", (uint64_t)st.st_ino);
	ok(lfs_unmount(fs), "unmount");
	return 0;
}

static int cmd_manifest(const char *store, const char *manifest)
{
	lfs *fs = mount_fs(store, true);
	FILE *out = fopen(manifest, "w");
	if (!out)
		die("%s: %s", manifest, strerror(errno));
	manifest_dir(fs, LFS_ROOT_INO, "", out);
	fclose(out);
	lfs_unmount(fs);
	return 0;
}

static int cmd_bad_record(const char *store, const char *path)
{
	lfs *fs = mount_fs(store, false);
	uint64_t ino = ino_of(fs, path);
	uint8_t k[8], junk[50];
	be64_put(k, ino);
	memset(junk, 0xab, sizeof(junk));
	lkv_batch *b = batch(fs);
	ok(lkv_batch_put(b, fs->t_inodes, k, 8, junk, sizeof(junk)), "put");
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_put_block(const char *store, const char *path, uint64_t block, size_t len)
{
	lfs *fs = mount_fs(store, false);
	uint64_t ino = ino_of(fs, path);
	uint8_t k[16], *v = malloc(len);
	extent_key(k, ino, block);
	fill(v, len, block);
	lkv_batch *b = batch(fs);
	ok(lkv_batch_put(b, fs->t_extents, k, 16, v, len), "put");
	free(v);
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_bad_patch(const char *store, const char *path, uint64_t block)
{
	lfs *fs = mount_fs(store, false);
	uint64_t ino = ino_of(fs, path);
	uint8_t k[PATCH_KEY_LEN], v[PATCH_HDR + 100];
	patch_key(k, ino, block);
	le32_put(v, fs->info.block_size - 10);
	le32_put(v + 4, 100);
	fill(v + PATCH_HDR, 100, block);
	lkv_batch *b = batch(fs);
	ok(lkv_batch_put(b, fs->t_extents, k, sizeof(k), v, sizeof(v)), "put");
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_bad_entry(const char *store, const char *path, bool hash)
{
	lfs *fs = mount_fs(store, false);
	uint64_t parent, ino;
	char name[LFS_NAME_MAX + 1];
	ok(resolve(fs, path, &parent, name, &ino), path);
	struct dirent_val d;
	ok(dirent_get(fs, parent, name, &d), "dirent_get");
	lkv_batch *b = batch(fs);
	if (hash) {
		uint8_t k[16 + LFS_NAME_MAX], v[9];
		size_t n = strlen(name);
		be64_put(k, parent);
		be64_put(k + 8, 12345);
		memcpy(k + 16, name, n);
		le64_put(v, d.ino);
		v[8] = (uint8_t)d.type;
		ok(dirent_del(fs, b, parent, name), "del");
		ok(lkv_batch_put(b, fs->t_dirents, k, 16 + n, v, 9), "put");
	} else {
		d.type = d.type == DT_REG ? DT_FIFO : DT_REG;
		ok(dirent_put(fs, b, parent, name, &d), "put");
	}
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_raw_xattr(const char *store, const char *path, const char *name,
			 const char *value)
{
	lfs *fs = mount_fs(store, false);
	uint64_t ino = ino_of(fs, path);
	lkv_batch *b = batch(fs);
	ok(xattr_put_raw(fs, b, ino, name, value, strlen(value)), "put");
	printf("ino %" PRIu64 "\n", ino);
	commit(fs, b);
	return 0;
}

static int cmd_low_next_ino(const char *store)
{
	lfs *fs = mount_fs(store, false);
	fs->next_ino = fs->reserved_to = 16;
	uint64_t spent;
	ok(ino_alloc(fs, &spent), "ino_alloc");    /* writes next_ino 16 + 1024 */
	ok(lfs_unmount(fs), "unmount");
	return 0;
}

static int cmd_hold(const char *store, unsigned secs)
{
	lfs *fs = mount_fs(store, false);
	printf("ready\n");
	fflush(stdout);
	sleep(secs);
	lfs_unmount(fs);
	return 0;
}

static int cmd_write(const char *store, const char *path, size_t size, uint64_t seed)
{
	lfs *fs = mount_fs(store, false);
	uint64_t parent, ino;
	char name[LFS_NAME_MAX + 1];
	int err = resolve(fs, path, &parent, name, &ino);
	if (err == -ENOENT) {
		char dir[MAX_PATH];
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = 0;
		ok(resolve(fs, dir, NULL, NULL, &parent), dir);
		ok(make_file(fs, parent, strrchr(path, '/') + 1, size, seed, &ino), "create");
	} else {
		ok(err, path);
		write_file(fs, ino, size, seed, 0);
	}
	printf("ino %" PRIu64 "\n", ino);
	ok(lfs_unmount(fs), "unmount");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	const char *cmd = argv[1], *store = argv[2];
	if (!strcmp(cmd, "populate") && argc == 6)
		return cmd_populate(store, strtoull(argv[3], NULL, 0),
				    (unsigned)strtoul(argv[4], NULL, 0), argv[5]);
	if (!strcmp(cmd, "verify") && argc >= 4)
		return cmd_verify(store, argv[3], argc - 4, argv + 4);
	if (!strcmp(cmd, "many") && (argc == 4 || argc == 5))
		return cmd_many(store, strtoul(argv[3], NULL, 0),
				argc == 5 ? strtoul(argv[4], NULL, 0) : 0);
	if (!strcmp(cmd, "write") && argc == 6)
		return cmd_write(store, argv[3], strtoull(argv[4], NULL, 0),
				 strtoull(argv[5], NULL, 0));
	if (!strcmp(cmd, "ino") && argc == 4) {
		lfs *fs = mount_fs(store, true);
		printf("%" PRIu64 "\n", ino_of(fs, argv[3]));
		lfs_unmount(fs);
		return 0;
	}
	if (!strcmp(cmd, "flip-leaf") && (argc == 4 || argc == 5))
		return cmd_flip_leaf(store, argv[3], argc == 5 ? argv[4] : "extents");
	if (!strcmp(cmd, "flip-blob") && argc == 5)
		return cmd_flip_blob(store, argv[3], strtoull(argv[4], NULL, 0));
	if (!strcmp(cmd, "cut-segment") && argc == 5)
		return cmd_cut_segment(store, argv[3], strtoull(argv[4], NULL, 0));
	if (!strcmp(cmd, "crash-write") && argc == 3)
		return cmd_crash_write(store);
	if (!strcmp(cmd, "flip-commit") && argc == 3)
		return cmd_flip_commit(store);
	if (!strcmp(cmd, "drop-inode") && argc == 4)
		return cmd_drop_inode(store, argv[3]);
	if (!strcmp(cmd, "set-nlink") && argc == 5)
		return cmd_set_field(store, argv[3], true, strtoull(argv[4], NULL, 0));
	if (!strcmp(cmd, "set-size") && argc == 5)
		return cmd_set_field(store, argv[3], false, strtoull(argv[4], NULL, 0));
	if (!strcmp(cmd, "unlink-entry") && argc == 4)
		return cmd_unlink_entry(store, argv[3]);
	if (!strcmp(cmd, "cycle") && argc == 5)
		return cmd_cycle(store, argv[3], argv[4]);
	if (!strcmp(cmd, "orphan-open") && argc == 4)
		return cmd_orphan_open(store, argv[3]);
	if (!strcmp(cmd, "add-orphan") && argc == 4)
		return cmd_add_orphan(store, argv[3]);
	if (!strcmp(cmd, "mkdir") && argc == 4)
		return cmd_mkdir(store, argv[3]);
	if (!strcmp(cmd, "manifest") && argc == 4)
		return cmd_manifest(store, argv[3]);
	if (!strcmp(cmd, "bad-record") && argc == 4)
		return cmd_bad_record(store, argv[3]);
	if (!strcmp(cmd, "put-block") && argc == 6)
		return cmd_put_block(store, argv[3], strtoull(argv[4], NULL, 0),
				     strtoull(argv[5], NULL, 0));
	if (!strcmp(cmd, "bad-patch") && argc == 5)
		return cmd_bad_patch(store, argv[3], strtoull(argv[4], NULL, 0));
	if (!strcmp(cmd, "bad-type") && argc == 4)
		return cmd_bad_entry(store, argv[3], false);
	if (!strcmp(cmd, "bad-hash") && argc == 4)
		return cmd_bad_entry(store, argv[3], true);
	if (!strcmp(cmd, "raw-xattr") && argc == 6)
		return cmd_raw_xattr(store, argv[3], argv[4], argv[5]);
	if (!strcmp(cmd, "low-next-ino") && argc == 3)
		return cmd_low_next_ino(store);
	if (!strcmp(cmd, "records") && argc == 4)
		return cmd_records(store, argv[3]);
	if (!strcmp(cmd, "scribble") && argc == 7)
		return cmd_scribble(store, argv[3], strtoull(argv[4], NULL, 0),
				    strtoull(argv[5], NULL, 0), strtoull(argv[6], NULL, 0));
	if (!strcmp(cmd, "hold") && argc == 4)
		return cmd_hold(store, (unsigned)strtoul(argv[3], NULL, 0));
usage:
	fprintf(stderr, "usage: fsck_damage COMMAND STORE ... (see the head of fsck_damage.c)\n");
	return 2;
}
