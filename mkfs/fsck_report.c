/* SPDX-License-Identifier: MIT */
/*
 * How fsck.larchfs talks: problems and the answer given to each (e2fsck's
 * "Fix? yes" with -y, "Fix? no" with -n, "STORE: ... FIXED." with -p),
 * notes, operational failures, progress (a bar on a terminal, or e2fsck's
 * completion lines on a descriptor), and the paths problems are reported
 * by.
 *
 * Paths: a directory's path is found by walking its parent fields up to
 * the root and, for each step, scanning the parent's entries for the one
 * naming the child; a non-directory has no parent field, so its entry is
 * remembered when pass 2 sees it (for inodes marked F_PATH).  All of this
 * runs only for problems, never per inode.  What was lost (blocks, values,
 * inode records) is remembered as the passes meet it and reported by path
 * at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsck.h"

#define PATH_DEPTH_MAX 256     /* components shown before giving up */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- problems ---- */

static void clear_bar(struct fsck *c)
{
	if (c->progress_fd == -2) {
		printf("\r%*s\r", 79, "");
		c->last_progress = 0;
	}
}

bool problem(struct fsck *c, enum fix_class cls, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->found++;
	if (cls == UNSAFE)
		c->unsafe_seen = true;
	bool fix = c->fix == FIX_ALL || (c->fix == FIX_SAFE && cls == SAFE);
	clear_bar(c);
	if (c->quiet_probe) {
		/* -p, looking before it fixes: only what stops it is shown */
		if (cls == UNSAFE)
			printf("%s: %s.\n", c->store, msg);
		c->left++;
		return false;
	}
	if (c->preen)
		printf("%s: %s.%s\n", c->store, msg, fix ? "  FIXED." : "");
	else
		printf("%s.  Fix? %s\n", msg, fix ? "yes" : "no");
	if (!fix)
		c->left++;
	return fix;
}

void unfixable(struct fsck *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->found++;
	c->left++;
	c->unsafe_seen = true;
	clear_bar(c);
	if (c->preen || c->quiet_probe)
		printf("%s: %s.\n", c->store, msg);
	else
		printf("%s.  (fsck.larchfs cannot fix this yet)\n", msg);
}

void fix_done(struct fsck *c, int err)
{
	if (!err) {
		c->fixed++;
		return;
	}
	printf("    (the fix failed: %s)\n", strerror(-err));
	c->left++;
	c->op_error = true;
}

void fix_commit(struct fsck *c)
{
	fix_done(c, lkv_batch_commit(c->b, NULL));
}

void note(struct fsck *c, const char *fmt, ...)
{
	va_list ap;
	clear_bar(c);
	if (c->quiet_probe)
		return;
	if (c->preen)
		printf("%s: ", c->store);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	c->notes++;
}

void op_fail(struct fsck *c, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clear_bar(c);
	fflush(stdout);
	fprintf(stderr, "fsck.larchfs: %s: %s: %s\n", c->store, msg, strerror(-err));
	c->op_error = true;
}

/* ---- progress ---- */

void pass_start(struct fsck *c, int pass, const char *title)
{
	c->pass = pass;
	c->pass_t0 = now_s();
	c->last_progress = 0;
	free(c->path_cache);      /* parents may have changed since */
	c->path_cache = NULL;
	if (!c->preen && !c->quiet_probe) {
		clear_bar(c);
		printf("Pass %d: %s\n", pass, title);
		fflush(stdout);
	}
	progress(c, 0, 1);
}

/* The bar, and the pass's rate: cur of its items (keys, entries) in the
 * time since it began. */
static void draw_bar(struct fsck *c, double frac, uint64_t cur, double t)
{
	/* five passes after pass 0; each is a fifth of the bar */
	double all = ((c->pass > 0 ? c->pass - 1 : 0) + frac) / 5.0;
	int width = 40, fill = (int)(all * width);
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '=' : ' ';
	bar[width] = 0;
	size_t n = strlen(c->store);
	printf("\r%s%s: |%s| %5.1f%%", n > 24 ? "..." : "", c->store + (n > 24 ? n - 21 : 0),
	       bar, all * 100.0);
	if (frac < 1.0 && t > c->pass_t0)     /* the pass's rate while it runs */
		printf(" %8.0f/s", (double)cur / (t - c->pass_t0));
	else
		printf("           ");
	fflush(stdout);
}

void progress(struct fsck *c, uint64_t cur, uint64_t max)
{
	if (c->progress_fd == -1 || c->pass < 1)
		return;
	double t = now_s();
	if (cur && cur < max && t - c->last_progress < 0.1)
		return;
	c->last_progress = t;
	if (cur > max)
		cur = max;
	if (c->progress_fd == -2)
		draw_bar(c, max ? (double)cur / (double)max : 1.0, cur, t);
	else
		dprintf(c->progress_fd, "%d %llu %llu %s\n", c->pass, (unsigned long long)cur,
			(unsigned long long)max, c->store);
}

void progress_done(struct fsck *c)
{
	clear_bar(c);
}

void pass_end(struct fsck *c)
{
	c->last_progress = 0;
	progress(c, 1, 1);
}

/* ---- names and paths ---- */

const char *name_printable(const uint8_t *p, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", p[i]);
	}
	buf[o] = 0;
	return buf;
}

const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:  return "regular file";
	case S_IFDIR:  return "directory";
	case S_IFLNK:  return "symlink";
	case S_IFCHR:  return "character device";
	case S_IFBLK:  return "block device";
	case S_IFIFO:  return "fifo";
	case S_IFSOCK: return "socket";
	default:       return "file of no known type";
	}
}

int remember_entry(struct fsck *c, uint64_t ino, uint64_t parent, const char *name)
{
	/* once per inode: the caller clears F_PATH after this */
	if (c->nnamed == c->capnamed) {
		size_t cap = c->capnamed ? c->capnamed * 2 : 16;
		struct named *n = realloc(c->named, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->named = n;
		c->capnamed = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	c->named[c->nnamed++] = (struct named){ ino, parent, dup };
	c->named_sorted = false;
	return 0;
}

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static const struct named *named_find(struct fsck *c, uint64_t ino)
{
	if (!c->named_sorted) {
		qsort(c->named, c->nnamed, sizeof(*c->named), named_cmp);
		c->named_sorted = true;
	}
	struct named key = { .ino = ino };
	return c->nnamed ? bsearch(&key, c->named, c->nnamed, sizeof(key), named_cmp) : NULL;
}

/* The name under which directory `parent` lists `child`, printable, into
 * buf. */
static bool find_name(struct fsck *c, uint64_t parent, uint64_t child, char *buf,
		      size_t cap)
{
	char name[LFS_NAME_MAX + 1];
	size_t len = entry_name(c, parent, child, name);
	if (len)
		name_printable((const uint8_t *)name, len, buf, cap);
	return len > 0;
}

static const char *dir_path(struct fsck *c, uint64_t ino, char *buf, size_t cap)
{
	if (ino == LFS_ROOT_INO)
		return snprintf(buf, cap, "/"), buf;
	if (c->path_cache && c->path_cache_ino == ino)
		return snprintf(buf, cap, "%s", c->path_cache), buf;
	uint64_t chain[PATH_DEPTH_MAX];
	int n = 0;
	bool rooted = false;
	for (uint64_t d = ino; n < PATH_DEPTH_MAX;) {
		if (d == LFS_ROOT_INO) {
			rooted = true;
			break;
		}
		bool seen = false;
		for (int i = 0; i < n; i++)
			seen |= chain[i] == d;
		struct fact x;
		if (seen || facts_get(c->facts, d, &x) || !S_ISDIR(x.mode))
			break;
		chain[n++] = d;
		d = x.parent;
	}
	/* from the top down: "/a/b/c", or "?/b/c" when not rooted */
	size_t o = (size_t)snprintf(buf, cap, "%s", rooted ? "" : "?");
	char name[4 * LFS_NAME_MAX + 1];
	for (int i = n - 1; i >= 0 && o < cap; i--) {
		struct fact x;
		uint64_t up = facts_get(c->facts, chain[i], &x) ? 0 : x.parent;
		if (!find_name(c, up, chain[i], name, sizeof(name)))
			snprintf(name, sizeof(name), "#%llu", (unsigned long long)chain[i]);
		o += (size_t)snprintf(buf + o, cap - o, "/%s", name);
	}
	if (n == 0)
		snprintf(buf, cap, "directory %llu", (unsigned long long)ino);
	free(c->path_cache);
	c->path_cache = strdup(buf);
	c->path_cache_ino = ino;
	return buf;
}

const char *path_of(struct fsck *c, uint64_t ino, char *buf, size_t cap)
{
	struct fact x;
	if (ino == LFS_ROOT_INO || (!facts_get(c->facts, ino, &x) && S_ISDIR(x.mode)))
		return dir_path(c, ino, buf, cap);
	const struct named *n = named_find(c, ino);
	if (n)
		return entry_path(c, n->parent, n->name, buf, cap);
	snprintf(buf, cap, "inode %llu", (unsigned long long)ino);
	return buf;
}

const char *entry_path(struct fsck *c, uint64_t parent, const char *name, char *buf,
		       size_t cap)
{
	dir_path(c, parent, buf, cap);
	size_t o = strlen(buf);
	if (o == 1 && buf[0] == '/')
		o = 0;
	snprintf(buf + o, cap - o, "/%s", name);
	return buf;
}

/* ---- what was lost, by path ---- */

/* Remembers a block, value or record that was lost, for report_lost. */
void lost_note(struct fsck *c, uint64_t ino, uint64_t block, const char *what,
	       bool repaired)
{
	if (c->nlost == c->caplost) {
		size_t cap = c->caplost ? c->caplost * 2 : 16;
		struct lost *n = realloc(c->lost, cap * sizeof(*n));
		if (!n) {
			c->op_error = true;
			return;
		}
		c->lost = n;
		c->caplost = cap;
	}
	c->lost[c->nlost++] = (struct lost){ ino, block, strdup(what ? what : ""), repaired };
}

/* The end of the report: lost data by path (paths are known after pass 2). */
void report_lost(struct fsck *c)
{
	char path[4096];
	for (size_t i = 0; i < c->nlost; i++) {
		struct lost *l = &c->lost[i];
		path_of(c, l->ino, path, sizeof(path));
		if (l->block == LOST_XATTR)
			printf("File %s: extended attribute %s unreadable%s\n", path, l->what,
			       l->repaired ? " (removed)" : "");
		else if (l->block == LOST_ENTRIES)
			printf("Directory %s: entries lost with a damaged leaf (their files, where "
			       "they survived, are in /lost+found)\n", path);
		else if (l->block == LOST_XATTRS)
			printf("File %s: extended attributes lost with a damaged leaf (any it "
			       "had)\n", path);
		else if (l->block == LOST_INODE)
			printf("File %s: its inode was lost with a damaged leaf%s\n", path,
			       !l->repaired ? ""
			       : *l->what ? "; recreated from its data and its entry (a symlink "
					    "owned by root)"
			       : "; recreated from its data (a regular file of mode 0600 owned "
				 "by root, as long as its last block reaches)");
		else if (l->block == LOST_BYTES)
			printf("File %s: %s bytes of its data lost with a damaged leaf%s\n", path,
			       l->what, l->repaired ? " (now holes)" : "");
		else
			printf("File %s: block %" PRIu64 " unreadable%s\n", path, l->block,
			       l->repaired ? " (repaired: now a hole)" : "");
	}
}
